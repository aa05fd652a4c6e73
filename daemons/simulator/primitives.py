"""Bitcoin encodings the simulator needs: hashes, varints, addresses, transactions, headers, merkle trees.

Stdlib only, because the simulator runs under both the project venv and Debian's python3 (next to
Electrum). Hashes are kept as raw bytes in internal byte order; `*_hex` helpers give the usual
reversed ("display") hex that Electrum and block explorers show.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from coins.encoding import (
    DecodeError,
    b58check_decode,
    segwit_decode,
    segwit_encode,
    sha256d,
)

COIN = 100_000_000
MAX_MONEY = 21_000_000 * COIN
HEADER_SIZE = 80
REGTEST_BITS = 0x207FFFFF
REGTEST_HALVING_INTERVAL = 150

# The regtest genesis block, exactly as Bitcoin Core builds it (chainparams.cpp, CRegTestParams).
GENESIS_COINBASE_HEX = (
    "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d04ffff001d01"
    "04455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f6620"
    "7365636f6e64206261696c6f757420666f722062616e6b73ffffffff0100f2052a01000000434104678afdb0fe554827"
    "1967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d57"
    "8a4c702b6bf11d5fac00000000"
)
GENESIS_TIME = 1296688602
GENESIS_NONCE = 2
GENESIS_HASH_HEX = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"

NETWORKS = ("mainnet", "testnet", "regtest")
_P2PKH_VERSION = {"mainnet": 0x00, "testnet": 0x6F, "regtest": 0x6F}
_P2SH_VERSION = {"mainnet": 0x05, "testnet": 0xC4, "regtest": 0xC4}
_SEGWIT_HRP = {"mainnet": "bc", "testnet": "tb", "regtest": "bcrt"}


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def hash_to_hex(digest: bytes) -> str:
    """Internal byte order -> the reversed hex used for txids, block hashes and scripthashes."""
    return digest[::-1].hex()


def hex_to_hash(text: str) -> bytes:
    raw = bytes.fromhex(text)
    if len(raw) != 32:
        raise DecodeError("a hash is 32 bytes")
    return raw[::-1]


def scripthash_of(script: bytes) -> str:
    """Electrum protocol scripthash: sha256 of the scriptPubKey, reversed, hex."""
    return hash_to_hex(sha256(script))


def history_status(history: Sequence[tuple[str, int]]) -> str | None:
    """Electrum protocol status of a scripthash: sha256 over "txid:height:" for each history item."""
    if not history:
        return None
    text = "".join(f"{txid}:{height:d}:" for txid, height in history)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


# --- varints and a bounded reader -------------------------------------------------------------


def varint(n: int) -> bytes:
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + struct.pack("<H", n)
    if n <= 0xFFFFFFFF:
        return b"\xfe" + struct.pack("<I", n)
    return b"\xff" + struct.pack("<Q", n)


def push_data(data: bytes) -> bytes:
    """Minimal script push of `data` (the only script building the simulator needs)."""
    size = len(data)
    if size < 0x4C:
        return bytes([size]) + data
    if size <= 0xFF:
        return b"\x4c" + bytes([size]) + data
    if size <= 0xFFFF:
        return b"\x4d" + struct.pack("<H", size) + data
    return b"\x4e" + struct.pack("<I", size) + data


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, size: int) -> bytes:
        if size < 0 or self.pos + size > len(self.data):
            raise DecodeError("unexpected end of data")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u32(self) -> int:
        return struct.unpack("<I", self.take(4))[0]

    def i32(self) -> int:
        return struct.unpack("<i", self.take(4))[0]

    def u64(self) -> int:
        return struct.unpack("<Q", self.take(8))[0]

    def varint(self) -> int:
        first = self.u8()
        if first < 0xFD:
            return first
        if first == 0xFD:
            return struct.unpack("<H", self.take(2))[0]
        if first == 0xFE:
            return self.u32()
        return self.u64()

    def count(self, unit_size: int) -> int:
        # A count can never exceed what the remaining bytes could hold; this bounds every loop
        # over attacker-supplied data (a broadcast tx claiming 2**64 inputs).
        n = self.varint()
        if n * unit_size > len(self.data) - self.pos:
            raise DecodeError("count larger than the data")
        return n

    def var_bytes(self) -> bytes:
        return self.take(self.count(1))

    def done(self) -> bool:
        return self.pos == len(self.data)


# --- addresses ----------------------------------------------------------------------------------


def address_to_script(address: str, network: str = "regtest") -> bytes:
    """scriptPubKey paid by `address` on `network` (p2pkh, p2sh, segwit v0 and v1+)."""
    if network not in NETWORKS:
        raise DecodeError(f"unknown network {network!r}")
    hrp = _SEGWIT_HRP[network]
    if address.lower().startswith(hrp + "1"):
        version, program = segwit_decode(hrp, address)
        opcode = 0 if version == 0 else 0x50 + version
        return bytes([opcode, len(program)]) + program
    payload = b58check_decode(address)
    if len(payload) != 21:
        raise DecodeError("bad base58 address length")
    if payload[0] == _P2PKH_VERSION[network]:
        return b"\x76\xa9\x14" + payload[1:] + b"\x88\xac"
    if payload[0] == _P2SH_VERSION[network]:
        return b"\xa9\x14" + payload[1:] + b"\x87"
    raise DecodeError(f"address is not a {network} address")


def p2wpkh_address(program: bytes, network: str = "regtest") -> str:
    return segwit_encode(_SEGWIT_HRP[network], 0, program)


# --- transactions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TxIn:
    prev_txid: str  # display hex
    prev_vout: int
    script_sig: bytes = b""
    sequence: int = 0xFFFFFFFD
    witness: tuple[bytes, ...] = ()

    @property
    def is_coinbase(self) -> bool:
        return self.prev_txid == "00" * 32 and self.prev_vout == 0xFFFFFFFF


@dataclass(frozen=True)
class TxOut:
    value: int
    script: bytes


@dataclass(frozen=True)
class Transaction:
    version: int
    inputs: tuple[TxIn, ...]
    outputs: tuple[TxOut, ...]
    locktime: int = 0

    @property
    def has_witness(self) -> bool:
        return any(txin.witness for txin in self.inputs)

    def serialize(self, *, with_witness: bool = True) -> bytes:
        segwit = with_witness and self.has_witness
        parts = [struct.pack("<i", self.version)]
        if segwit:
            parts.append(b"\x00\x01")
        parts.append(varint(len(self.inputs)))
        for txin in self.inputs:
            parts.append(hex_to_hash(txin.prev_txid) + struct.pack("<I", txin.prev_vout))
            parts.append(varint(len(txin.script_sig)) + txin.script_sig + struct.pack("<I", txin.sequence))
        parts.append(varint(len(self.outputs)))
        for txout in self.outputs:
            parts.append(struct.pack("<q", txout.value) + varint(len(txout.script)) + txout.script)
        if segwit:
            for txin in self.inputs:
                parts.append(varint(len(txin.witness)))
                parts.extend(varint(len(item)) + item for item in txin.witness)
        parts.append(struct.pack("<I", self.locktime))
        return b"".join(parts)

    @property
    def txid(self) -> str:
        # The txid commits to the transaction without witness data (BIP141).
        return hash_to_hex(sha256d(self.serialize(with_witness=False)))

    @property
    def is_coinbase(self) -> bool:
        return len(self.inputs) == 1 and self.inputs[0].is_coinbase


def parse_transaction(raw: bytes) -> Transaction:
    reader = _Reader(raw)
    version = reader.i32()
    segwit = False
    if reader.data[reader.pos : reader.pos + 1] == b"\x00":
        if reader.take(2) != b"\x00\x01":
            raise DecodeError("bad segwit marker")
        segwit = True
    inputs = []
    for _ in range(reader.count(41)):
        prev = reader.take(32)[::-1].hex()
        vout = reader.u32()
        script_sig = reader.var_bytes()
        inputs.append(TxIn(prev, vout, script_sig, reader.u32()))
    if not inputs:
        raise DecodeError("transaction has no inputs")
    outputs = []
    for _ in range(reader.count(9)):
        value = struct.unpack("<q", reader.take(8))[0]
        if not 0 <= value <= MAX_MONEY:
            raise DecodeError("output value out of range")
        outputs.append(TxOut(value, reader.var_bytes()))
    if segwit:
        with_witness = []
        for txin in inputs:
            items = tuple(reader.var_bytes() for _ in range(reader.count(1)))
            with_witness.append(TxIn(txin.prev_txid, txin.prev_vout, txin.script_sig, txin.sequence, items))
        inputs = with_witness
        if not any(txin.witness for txin in inputs):
            raise DecodeError("segwit marker without witness data")
    locktime = reader.u32()
    if not reader.done():
        raise DecodeError("trailing bytes after transaction")
    return Transaction(version, tuple(inputs), tuple(outputs), locktime)


# --- headers and merkle trees ---------------------------------------------------------------------


@dataclass(frozen=True)
class BlockHeader:
    version: int
    prev_hash: str  # display hex
    merkle_root: str  # display hex
    timestamp: int
    bits: int
    nonce: int

    def serialize(self) -> bytes:
        return (
            struct.pack("<i", self.version)
            + hex_to_hash(self.prev_hash)
            + hex_to_hash(self.merkle_root)
            + struct.pack("<III", self.timestamp, self.bits, self.nonce)
        )

    @property
    def hash(self) -> str:
        return hash_to_hex(sha256d(self.serialize()))


def parse_header(raw: bytes) -> BlockHeader:
    if len(raw) != HEADER_SIZE:
        raise DecodeError("a header is 80 bytes")
    version = struct.unpack("<i", raw[:4])[0]
    timestamp, bits, nonce = struct.unpack("<III", raw[68:80])
    return BlockHeader(version, hash_to_hex(raw[4:36]), hash_to_hex(raw[36:68]), timestamp, bits, nonce)


def bits_to_target(bits: int) -> int:
    exponent, mantissa = bits >> 24, bits & 0x7FFFFF
    return mantissa << (8 * (exponent - 3)) if exponent > 3 else mantissa >> (8 * (3 - exponent))


def _merkle_level(level: list[bytes]) -> list[bytes]:
    # Bitcoin pairs an odd last node with itself.
    if len(level) % 2:
        level = level + [level[-1]]
    return [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]


def merkle_root(hashes: Sequence[str]) -> str:
    """Merkle root (display hex) of txids or block hashes given in display hex."""
    if not hashes:
        raise ValueError("merkle root of nothing")
    level = [hex_to_hash(h) for h in hashes]
    while len(level) > 1:
        level = _merkle_level(level)
    return hash_to_hex(level[0])


def merkle_branch(hashes: Sequence[str], index: int) -> list[str]:
    """Sibling hashes (display hex, leaf to root) proving hashes[index], as Electrum's get_merkle returns."""
    if not 0 <= index < len(hashes):
        raise IndexError("leaf index out of range")
    level = [hex_to_hash(h) for h in hashes]
    branch = []
    while len(level) > 1:
        if len(level) % 2:
            level = level + [level[-1]]
        branch.append(hash_to_hex(level[index ^ 1]))
        level = _merkle_level(level)
        index >>= 1
    return branch


def merkle_root_from_branch(leaf: str, branch: Sequence[str], index: int) -> str:
    node = hex_to_hash(leaf)
    for sibling in branch:
        sibling_raw = hex_to_hash(sibling)
        node = sha256d(sibling_raw + node) if index & 1 else sha256d(node + sibling_raw)
        index >>= 1
    return hash_to_hex(node)


def block_subsidy(height: int) -> int:
    halvings = height // REGTEST_HALVING_INTERVAL
    return 0 if halvings >= 64 else (50 * COIN) >> halvings


def genesis_header() -> BlockHeader:
    genesis_txid = parse_transaction(bytes.fromhex(GENESIS_COINBASE_HEX)).txid
    return BlockHeader(1, "00" * 32, genesis_txid, GENESIS_TIME, REGTEST_BITS, GENESIS_NONCE)
