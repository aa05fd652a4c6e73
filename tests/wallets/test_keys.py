import pytest

from bitcart.errors import ValidationFailed
from coins.encoding import b58check_decode, b58check_encode
from wallets.keys import derive_receive_address, generate_xpub, parse_xpub

# BIP84 / BIP49 / BIP44 account keys of the "abandon ... about" mnemonic, with their first addresses.
ZPUB = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
XPUB = "xpub6BosfCnifzxcFwrSzQiqu2DBVTshkCXacvNsWGYJVVhhawA7d4R5WSWGFNbi8Aw6ZRc1brxMyWMzG3DSSSSoekkudhUd9yLb6qx39T9nMdj"
YPUB = "ypub6Ww3ibxVfGzLrAH1PNcjyAWenMTbbAosGNB6VvmSEgytSER9azLDWCxoJwW7Ke7icmizBMXrzBx9979FfaHxHcrArf3zbeJJJUZPf663zsP"
XPRV = "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi"


@pytest.mark.parametrize(
    ("key", "index", "address"),
    [
        (ZPUB, 0, "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"),
        (ZPUB, 1, "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g"),
        (XPUB, 0, "1LqBGSKuX5yYUonjxT5qGfpUsXKYYWeabA"),
        (YPUB, 0, "37VucYSaXLCAsxYyAPfbSi9eh4iEcbShgf"),
    ],
)
def test_derivation_matches_bip_vectors(key, index, address):
    assert derive_receive_address(key, "mainnet", index) == address


@pytest.mark.parametrize(
    ("key", "network", "code"),
    [
        (ZPUB, "testnet", "wrong_network"),
        (ZPUB, "regtest", "wrong_network"),
        (ZPUB[:-1] + ("t" if ZPUB[-1] != "t" else "u"), "mainnet", "invalid_xpub"),  # checksum
        (XPRV, "mainnet", "private_key_given"),
        ("", "mainnet", "invalid_xpub"),
        ("0OIl" * 20, "mainnet", "invalid_xpub"),
        ("x" * 500, "mainnet", "invalid_xpub"),
        (ZPUB, "signet", "invalid_network"),
    ],
)
def test_bad_keys_are_refused_with_a_reason(key, network, code):
    with pytest.raises(ValidationFailed) as info:
        parse_xpub(key, network)
    assert info.value.code == code


def test_generated_regtest_keys_give_regtest_addresses():
    key = generate_xpub("regtest")
    assert key.startswith("vpub")
    parsed = parse_xpub(key, "regtest")
    assert parsed.script == "p2wpkh" and parsed.depth == 3
    assert derive_receive_address(key, "regtest", 7).startswith("bcrt1q")
    assert derive_receive_address(key, "testnet", 7).startswith("tb1q")
    assert derive_receive_address(generate_xpub("regtest", "p2pkh"), "regtest", 0)[0] in "mn"


def test_base58_roundtrip_keeps_leading_zeros():
    payload = b"\x00\x00" + bytes(range(20))
    assert b58check_decode(b58check_encode(payload)) == payload
