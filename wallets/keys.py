"""Extended public keys: parsing and validation per network, and receive-address derivation.

Django derives invoice addresses itself (BIP32 non-hardened child m/0/i of the account xpub, the
same path Electrum uses for receiving addresses), so creating an invoice never waits on the coin
daemon and "never reuse an address" is enforced in one database. The daemon only watches them.
Elliptic-curve work is done by coincurve (libsecp256k1).
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from functools import lru_cache

import coincurve

from bitcart.errors import ValidationFailed
from coins.encoding import b58check_decode, b58check_encode, segwit_encode

MAX_XPUB_LENGTH = 120


@dataclass(frozen=True)
class KeyType:
    networks: tuple[str, ...]
    script: str  # p2pkh | p2wpkh-p2sh | p2wpkh


# Version bytes (SLIP-132 / Electrum's constants). Regtest uses testnet's headers.
_HEADERS: dict[int, KeyType] = {
    0x0488B21E: KeyType(("mainnet",), "p2pkh"),
    0x049D7CB2: KeyType(("mainnet",), "p2wpkh-p2sh"),
    0x04B24746: KeyType(("mainnet",), "p2wpkh"),
    0x043587CF: KeyType(("testnet", "regtest"), "p2pkh"),
    0x044A5262: KeyType(("testnet", "regtest"), "p2wpkh-p2sh"),
    0x045F1CF6: KeyType(("testnet", "regtest"), "p2wpkh"),
}
_MULTISIG_HEADERS = {0x0295B43F, 0x02AA7ED3, 0x024289EF, 0x02575483}  # Ypub Zpub Upub Vpub
_PRIVATE_HEADERS = {0x0488ADE4, 0x049D7878, 0x04B2430C, 0x04358394, 0x044A4E28, 0x045F18BC}

NETWORKS = ("mainnet", "testnet", "regtest")
_P2PKH = {"mainnet": 0x00, "testnet": 0x6F, "regtest": 0x6F}
_P2SH = {"mainnet": 0x05, "testnet": 0xC4, "regtest": 0xC4}
_HRP = {"mainnet": "bc", "testnet": "tb", "regtest": "bcrt"}


def hash160(data: bytes) -> bytes:
    return hashlib.new("ripemd160", hashlib.sha256(data).digest()).digest()


@dataclass(frozen=True)
class ExtendedPublicKey:
    text: str
    script: str
    networks: tuple[str, ...]
    depth: int
    chain_code: bytes
    public_key: bytes


def parse_xpub(text: str, network: str) -> ExtendedPublicKey:
    """Validate an account xpub for `network`; raises ValidationFailed with a clear reason."""
    text = (text or "").strip()
    if network not in NETWORKS:
        raise ValidationFailed(f"Unknown network {network!r}", code="invalid_network")
    if not text or len(text) > MAX_XPUB_LENGTH:
        raise ValidationFailed("Not an extended public key", code="invalid_xpub")
    try:
        payload = b58check_decode(text)
    except ValueError as exc:
        raise ValidationFailed(f"Not a valid extended public key ({exc})", code="invalid_xpub") from None
    if len(payload) != 78:
        raise ValidationFailed("Not a valid extended public key (wrong length)", code="invalid_xpub")
    header = int.from_bytes(payload[:4], "big")
    if header in _PRIVATE_HEADERS:
        raise ValidationFailed(
            "This is a private key. Connect a watch-only wallet: give the extended PUBLIC key.",
            code="private_key_given",
        )
    if header in _MULTISIG_HEADERS:
        raise ValidationFailed("Multisig wallets are not supported yet", code="unsupported_xpub")
    kind = _HEADERS.get(header)
    if kind is None:
        raise ValidationFailed("Unknown extended key version", code="invalid_xpub")
    if network not in kind.networks:
        raise ValidationFailed(f"This key is for {'/'.join(kind.networks)}, not {network}", code="wrong_network")
    public_key = payload[45:78]
    try:
        coincurve.PublicKey(public_key)
    except ValueError:
        raise ValidationFailed("Extended key holds an invalid public key", code="invalid_xpub") from None
    return ExtendedPublicKey(text, kind.script, kind.networks, payload[4], payload[13:45], public_key)


def _ckd_pub(public_key: bytes, chain_code: bytes, index: int) -> tuple[bytes, bytes]:
    if not 0 <= index < 2**31:
        raise ValueError("non-hardened index out of range")
    digest = hmac.new(chain_code, public_key + index.to_bytes(4, "big"), hashlib.sha512).digest()
    tweak, child_chain = digest[:32], digest[32:]
    child = coincurve.PublicKey(public_key).add(tweak)  # raises for the (2^-127) invalid case
    return child.format(compressed=True), child_chain


@lru_cache(maxsize=256)
def _receive_branch(xpub: str, network: str) -> tuple[bytes, bytes, str]:
    key = parse_xpub(xpub, network)
    public_key, chain_code = _ckd_pub(key.public_key, key.chain_code, 0)
    return public_key, chain_code, key.script


def address_from_pubkey(public_key: bytes, script: str, network: str) -> str:
    if script == "p2wpkh":
        return segwit_encode(_HRP[network], 0, hash160(public_key))
    if script == "p2wpkh-p2sh":
        redeem = b"\x00\x14" + hash160(public_key)
        return b58check_encode(bytes([_P2SH[network]]) + hash160(redeem))
    return b58check_encode(bytes([_P2PKH[network]]) + hash160(public_key))


def derive_receive_address(xpub: str, network: str, index: int) -> str:
    """Address m/0/index of an account xpub (Electrum's receiving chain)."""
    branch_key, branch_chain, script = _receive_branch(xpub, network)
    public_key, _ = _ckd_pub(branch_key, branch_chain, index)
    return address_from_pubkey(public_key, script, network)


_SCRIPT_HEADERS = {(net, kind.script): header for header, kind in _HEADERS.items() for net in kind.networks}


def generate_xpub(network: str = "regtest", script: str = "p2wpkh") -> str:
    """A fresh random account xpub (its private key is thrown away): for sandboxes and tests."""
    private = coincurve.PrivateKey(secrets.token_bytes(32))
    payload = (
        _SCRIPT_HEADERS[(network, script)].to_bytes(4, "big")
        + bytes([3])  # depth of an account key m/purpose'/coin'/account'
        + secrets.token_bytes(4)  # parent fingerprint
        + (0x80000000).to_bytes(4, "big")
        + secrets.token_bytes(32)  # chain code
        + private.public_key.format(compressed=True)
    )
    return b58check_encode(payload)
