"""Receive-address derivation (BIP32 m/0/i, public derivation) for request creation.

Electrum's CKD_pub computes I_L*G + K with two Python-wrapped curve operations, and its bech32 encoder
decodes every address it encodes as a self-check. libsecp256k1's pubkey_tweak_add (on the library Electrum
already loaded) does the curve part in one C call. The fast path is checked against Electrum's own
derivation when a wallet loads, and Electrum's path is used if it is unavailable or disagrees.
"""

import ctypes
import functools
import hashlib
import hmac
import logging
import operator

from electrum import bitcoin, constants, ecc_fast, segwit_addr
from electrum.bip32 import BIP32Node
from electrum.crypto import hash_160

logger = logging.getLogger("daemons.btc.keys")

_lib = getattr(ecc_fast, "_libsecp256k1", None)
if _lib is not None:
    _lib.secp256k1_ec_pubkey_tweak_add.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
    _lib.secp256k1_ec_pubkey_tweak_add.restype = ctypes.c_int


class DerivationError(Exception):
    pass


def _child_pubkey_fast(parent: bytes, chaincode: bytes, index: int) -> bytes:
    digest = hmac.digest(chaincode, parent + index.to_bytes(4, "big"), hashlib.sha512)
    point = ctypes.create_string_buffer(64)
    if not _lib.secp256k1_ec_pubkey_parse(_lib.ctx, point, parent, len(parent)):
        raise DerivationError("invalid parent public key")
    if not _lib.secp256k1_ec_pubkey_tweak_add(_lib.ctx, point, digest[:32]):
        raise DerivationError(f"index {index} derives an invalid key (BIP32: skip it)")
    out = ctypes.create_string_buffer(33)
    size = ctypes.c_size_t(33)
    _lib.secp256k1_ec_pubkey_serialize(_lib.ctx, out, ctypes.byref(size), point, ecc_fast.SECP256K1_EC_COMPRESSED)
    return out.raw[: size.value]


def txin_type(xtype: str) -> str:
    return "p2pkh" if xtype == "standard" else xtype


def _address(kind: str, pubkey: bytes) -> str:
    # Electrum's encode_segwit_address decodes every address it encodes as a self-check, doubling the
    # pure-Python bech32 cost; the slow path below is compared against this one at wallet load instead.
    if kind == "p2wpkh":
        data = [0] + segwit_addr.convertbits(hash_160(pubkey), 8, 5)
        return segwit_addr.bech32_encode(segwit_addr.Encoding.BECH32, constants.net.SEGWIT_HRP, data)
    if kind == "p2wpkh-p2sh":
        return bitcoin.hash160_to_p2sh(hash_160(b"\x00\x14" + hash_160(pubkey)))
    if kind == "p2pkh":
        return bitcoin.hash160_to_p2pkh(hash_160(pubkey))
    raise DerivationError(f"unsupported script type {kind}")


class ReceiveChain:
    """Addresses m/0/i of one account xpub."""

    def __init__(self, node: BIP32Node):
        self.kind = txin_type(node.xtype)
        self.branch = node.subkey_at_public_derivation([0])
        self._pubkey = self.branch.eckey.get_public_key_bytes(compressed=True)
        self._chaincode = self.branch.chaincode
        self.fast = _lib is not None and all(self._fast(i) == self._slow(i) for i in (0, 1, 2**31 - 1))
        if not self.fast:
            logger.warning("fast BIP32 derivation unavailable or inconsistent; using Electrum's")

    def _slow(self, index: int) -> str:
        child = self.branch.subkey_at_public_derivation([index])
        return bitcoin.pubkey_to_address(self.kind, child.eckey.get_public_key_hex(compressed=True))

    def _fast(self, index: int) -> str:
        return _address(self.kind, _child_pubkey_fast(self._pubkey, self._chaincode, index))

    def address(self, index: int) -> str:
        if not 0 <= index < 2**31:
            raise DerivationError("non-hardened index out of range")
        return self._fast(index) if self.fast else self._slow(index)


# --- address -> Electrum scripthash ---------------------------------------------------------------
# Electrum's address_to_scripthash decodes a bech32 address twice (is_address, then to the script), each
# decode running the checksum in pure Python bit by bit: ~60 µs per address, a quarter of the daemon's CPU
# while it re-subscribes 100k watched addresses after a restart (py-spy). The same checksum with a
# per-5-bit lookup table, one decode, and Electrum's own function for anything that is not a lower-case
# segwit v0 address of the active network.

_BECH32_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_BECH32_TABLE = tuple(
    functools.reduce(operator.xor, (g for i, g in enumerate(_BECH32_GENERATOR) if top >> i & 1), 0) for top in range(32)
)
_BECH32_VALUES = {c: i for i, c in enumerate(segwit_addr.CHARSET)}


def _segwit_v0_script(address: str) -> bytes | None:
    """The output script of a valid lower-case bech32 (v0) address of the active network, else None."""
    hrp = constants.net.SEGWIT_HRP
    if not (address.startswith(hrp + "1") and 14 <= len(address) <= 90 and address.islower()):
        return None
    try:
        data = [_BECH32_VALUES[c] for c in address[len(hrp) + 1 :]]
    except KeyError:
        return None
    chk = 1
    for value in [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + data:
        chk = ((chk & 0x1FFFFFF) << 5 ^ value) ^ _BECH32_TABLE[chk >> 25]
    if chk != segwit_addr.BECH32_CONST or not data or data[0] != 0:
        return None  # wrong checksum, bech32m, or not version 0: Electrum decides
    program = segwit_addr.convertbits(data[1:-6], 5, 8, False)
    if program is None or len(program) not in (20, 32):
        return None
    return bytes([0, len(program)]) + bytes(program)


def address_to_scripthash(address: str) -> str:
    """electrum.bitcoin.address_to_scripthash, same result and same errors, ~5x faster for segwit v0."""
    script = _segwit_v0_script(address)
    if script is None:
        return bitcoin.address_to_scripthash(address)
    return hashlib.sha256(script).digest()[::-1].hex()
