"""Amounts, addresses and payment-tag arithmetic (no processes)."""

from decimal import Decimal

import pytest

from daemons.eth.config import ConfigError, load_settings
from daemons.eth.errors import RPCError
from daemons.eth.tokens import ETHER, Token, check_address, tag_of, with_tag

USDT = Token("USDT", "0xdAC17F958D2ee523a2206206994597C13D831ec7", 6)


def test_tag_units_sit_within_exchange_precision():
    assert ETHER.tag_unit == 10**10  # 1e-8 ETH: exchanges send ETH with 8 decimals
    assert USDT.tag_unit == 1
    assert Token("X", USDT.contract, 18).tag_unit == 10**12  # tokens: the 6th decimal
    assert Token("X", USDT.contract, 2).tag_unit == 1


@pytest.mark.parametrize("minimum", [0, 1, 12_500_000, 12_509_999, 12_510_000, 10**30 + 7])
@pytest.mark.parametrize("tag", [1, 42, 9999])
def test_with_tag_is_the_smallest_tagged_amount(minimum, tag):
    amount = with_tag(minimum, tag, USDT, 4)
    assert amount >= minimum
    assert tag_of(amount, USDT, 4) == tag
    assert amount - minimum < 10**4
    assert all(tag_of(v, USDT, 4) != tag for v in range(minimum, amount))


def test_flat_fees_keep_the_tag():
    amount = with_tag(Decimal("0.5").scaleb(18), 1234, ETHER, 4)
    assert ETHER.format(amount) == "0.500012340000000000"
    fee = ETHER.parse("0.0008")  # a typical exchange withdrawal fee: a multiple of 1e-4 ETH
    assert tag_of(amount - fee, ETHER, 4) == 1234
    assert tag_of(amount - fee, ETHER, 4) == tag_of(amount + ETHER.parse("1"), ETHER, 4)


def test_parse_and_format():
    assert USDT.parse("12.5") == 12_500_000
    assert USDT.parse(3) == 3_000_000
    assert USDT.format(12_500_001) == "12.500001"
    assert ETHER.format(0) == "0.000000000000000000"
    for bad, code in (("1.0000001", -32016), ("-1", -32602), ("Infinity", -32602), (True, -32602), ([], -32602)):
        with pytest.raises(RPCError) as info:
            USDT.parse(bad)
        assert info.value.code == code


def test_checksums():
    assert check_address("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed") == "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    for bad in (
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD",
        "0x5aaeb",
        5,
        None,
        "5aaeb6053f3e94c9b9a09f33669435e7ef1beaedzz",
    ):
        with pytest.raises(RPCError) as info:
            check_address(bad)
        assert info.value.code == -32004


def test_settings(tmp_path):
    base = {"ETH_SERVER": "http://127.0.0.1:8545", "ETH_DATA_PATH": str(tmp_path)}
    settings = load_settings(base)
    assert (settings.network, settings.chain_id, settings.host, settings.port) == ("mainnet", 1, "127.0.0.1", 5002)
    assert sorted(settings.tokens.by_symbol) == ["USDC", "USDT"]
    assert settings.tokens.resolve("usdt").contract == "0xdAC17F958D2ee523a2206206994597C13D831ec7"
    # a generated password, kept in the data dir (mode 0600) and reused
    password = (tmp_path / "password").read_text().strip()
    assert settings.password == password and len(password) >= 24
    assert (tmp_path / "password").stat().st_mode & 0o777 == 0o600
    assert load_settings(base).password == password
    assert load_settings({**base, "ETH_NETWORK": "sepolia"}).tokens.export() == [
        {"symbol": "USDC", "contract": "0x1c7D4B196Cb0C7B01d743Fbc6116a902379C7238", "decimals": 6}
    ]
    for bad in ({"ETH_SERVER": "ws://x"}, {"ETH_NETWORK": "local"}, {"ETH_TOKENS": "[1]"}, {"ETH_TOKENS": '{"A": {}}'}):
        with pytest.raises(ConfigError):
            load_settings({**base, **bad})


def test_node_url_is_redacted():
    from daemons.eth.chain import redact

    assert redact("https://user:secret@mainnet.example.com/v3/0123abcd") == "https://mainnet.example.com"
    assert redact("http://127.0.0.1:8545/") == "http://127.0.0.1:8545"
