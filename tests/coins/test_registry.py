"""The coin registry, from settings as an operator writes them."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from coins import registry
from coins.registry import Family
from tests.chains import USDC, USDT, enable_eth, set_chain


def test_bitcoin_alone_by_default():
    assert [(c.key, c.family, c.network) for c in registry.chains()] == [("btc", Family.BITCOIN, "regtest")]
    assert [(c.symbol, c.name, c.decimals, c.chain, c.contract) for c in registry.coins()] == [
        ("BTC", "Bitcoin", 8, "btc", "")
    ]
    assert registry.coin_decimals("SATS") == 0 and registry.coin_decimals("ETH") is None


def test_ethereum_with_its_tokens(settings):
    enable_eth(settings)

    eth = registry.chain("ETH")
    assert (eth.key, eth.family, eth.network, eth.chain_id, eth.confirmations) == (
        "eth",
        Family.ETHEREUM,
        "local",
        1337,
        2,
    )
    assert [(c.symbol, c.decimals, c.contract) for c in eth.coins] == [
        ("ETH", 18, ""),
        ("USDC", 6, USDC),
        ("USDT", 6, USDT),
    ]
    assert registry.chain_of("USDT") is eth and registry.coin("usdc").is_token
    assert eth.explorer_link("0xab") == ""  # a local node has no explorer


def test_mainnet_ethereum_has_the_official_stablecoins_and_etherscan(settings):
    enable_eth(settings, network="mainnet", chain_id=0, tokens={})

    eth = registry.chain("eth")
    assert eth.chain_id == 1
    assert [(c.symbol, c.contract) for c in eth.coins[1:]] == [
        ("USDC", "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"),
        ("USDT", "0xdAC17F958D2ee523a2206206994597C13D831ec7"),
    ]
    assert eth.explorer_link("0xab") == "https://etherscan.io/tx/0xab"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"BITCART_CRYPTOS": ["btc", "doge"]}, "'doge' is not a coin this server supports"),
        ({"eth": {"network": "local", "chain_id": 0}}, "ETH_CHAIN_ID is required for network 'local'"),
        ({"eth": {"tokens": "{not json"}}, "ETH_TOKENS is not JSON"),
        ({"eth": {"tokens": '{"USDT": {"contract": "0x12", "decimals": 6}}'}}, "Not an Ethereum address"),
        ({"eth": {"tokens": '{"USDT": {"contract": "' + USDT + '", "decimals": 99}}'}}, "decimals must be"),
        (
            {"eth": {"tokens": '{"ETH": {"contract": "' + USDT + '", "decimals": 6}}'}},
            "Two coins are named ETH",
        ),
        ({"btc": {"network": "signet"}}, "BTC_NETWORK must be mainnet, testnet or regtest"),
    ],
)
def test_a_wrong_configuration_says_what_is_wrong(settings, change, message):
    enable_eth(settings)
    if "BITCART_CRYPTOS" in change:
        settings.BITCART_CRYPTOS = change["BITCART_CRYPTOS"]
    for key in ("btc", "eth"):
        if key in change:
            set_chain(settings, key, **change[key])

    with pytest.raises(ImproperlyConfigured, match=message):
        registry.registry()


def test_a_wrong_configuration_stops_manage_py_check(settings):
    settings.BITCART_CRYPTOS = ["btc", "ltc"]
    with pytest.raises(SystemCheckError, match=r"coins.E001.*'ltc' is not a coin this server supports"):
        call_command("check")
