"""Base58Check and bech32/bech32m (BIP173/BIP350) address encodings.

Stdlib only and free of Django: used by the regtest simulator (which also runs under Debian's python3
next to Electrum) and by wallets.keys (invoice address derivation).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


class DecodeError(ValueError):
    """Malformed address, transaction or header."""


def sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {char: i for i, char in enumerate(_B58_ALPHABET)}
_BECH32_ALPHABET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_INDEX = {char: i for i, char in enumerate(_BECH32_ALPHABET)}
_BECH32_CONST = 1
_BECH32M_CONST = 0x2BC830A3


MAX_BASE58_LENGTH = 120  # an extended key is 111 characters, an address at most 35: a bound on the bignum work


def b58check_decode(text: str) -> bytes:
    if not text or len(text) > MAX_BASE58_LENGTH:
        raise DecodeError("empty or too long")
    num = 0
    for char in text:
        if char not in _B58_INDEX:
            raise DecodeError("invalid base58 character")
        num = num * 58 + _B58_INDEX[char]
    body = num.to_bytes((num.bit_length() + 7) // 8, "big")
    raw = b"\x00" * (len(text) - len(text.lstrip("1"))) + body
    if len(raw) < 5:
        raise DecodeError("bad checksum")  # too short to hold one
    payload, checksum = raw[:-4], raw[-4:]
    if sha256d(payload)[:4] != checksum:
        raise DecodeError("bad checksum")
    return payload


def b58check_encode(payload: bytes) -> str:
    data = payload + sha256d(payload)[:4]
    num = int.from_bytes(data, "big")
    digits = []
    while num:
        num, rem = divmod(num, 58)
        digits.append(_B58_ALPHABET[rem])
    return "1" * (len(data) - len(data.lstrip(b"\x00"))) + "".join(reversed(digits))


def _bech32_polymod(values: Sequence[int]) -> int:
    generators = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i, gen in enumerate(generators):
            if (top >> i) & 1:
                chk ^= gen
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert_bits(data: Sequence[int], from_bits: int, to_bits: int, pad: bool) -> list[int]:
    acc = 0
    bits = 0
    out = []
    maxv = (1 << to_bits) - 1
    for value in data:
        acc = (acc << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((acc >> bits) & maxv)
    if pad:
        if bits:
            out.append((acc << (to_bits - bits)) & maxv)
    elif bits >= from_bits or ((acc << (to_bits - bits)) & maxv):
        raise DecodeError("invalid bech32 padding")
    return out


def segwit_decode(hrp: str, address: str) -> tuple[int, bytes]:
    """BIP173/BIP350 decoding -> (witness version, program)."""
    if len(address) > 90 or (address.lower() != address and address.upper() != address):
        raise DecodeError("bad bech32 string")
    address = address.lower()
    sep = address.rfind("1")
    if sep < 1 or sep + 7 > len(address) or address[:sep] != hrp:
        raise DecodeError("wrong bech32 prefix")
    try:
        data = [_BECH32_INDEX[c] for c in address[sep + 1 :]]
    except KeyError:
        raise DecodeError("invalid bech32 character")
    const = _bech32_polymod(_hrp_expand(hrp) + data)
    if not data or data[0] > 16:
        raise DecodeError("bad witness version")
    version = data[0]
    # v0 uses bech32, v1+ bech32m (BIP350); mixing them is invalid.
    if const != (_BECH32_CONST if version == 0 else _BECH32M_CONST):
        raise DecodeError("bad bech32 checksum")
    program = bytes(_convert_bits(data[1:-6], 5, 8, False))
    if not 2 <= len(program) <= 40 or (version == 0 and len(program) not in (20, 32)):
        raise DecodeError("bad witness program length")
    return version, program


def segwit_encode(hrp: str, version: int, program: bytes) -> str:
    data = [version] + _convert_bits(program, 8, 5, True)
    const = _BECH32_CONST if version == 0 else _BECH32M_CONST
    polymod = _bech32_polymod(_hrp_expand(hrp) + data + [0] * 6) ^ const
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH32_ALPHABET[d] for d in data + checksum)
