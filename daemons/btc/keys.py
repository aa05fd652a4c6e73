"""Receive-address derivation (BIP32 m/0/i, public derivation) for request creation.

Electrum's CKD_pub computes I_L*G + K with two Python-wrapped curve operations, and its bech32 encoder
decodes every address it encodes as a self-check. libsecp256k1's pubkey_tweak_add (on the library Electrum
already loaded) does the curve part in one C call. The fast path is checked against Electrum's own
derivation when a wallet loads, and Electrum's path is used if it is unavailable or disagrees.
"""

import ctypes
import hashlib
import hmac
import logging

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
