"""GET /api/cryptos and its sub-resources: public, Bitcart's envelope, the registry's facts."""

import pytest

from tests.chains import USDC, USDT, enable_eth

pytestmark = pytest.mark.django_db


def test_cryptos_lists_the_enabled_chains_for_anyone(api, settings):
    assert api.get("/api/cryptos").json() == {"count": 1, "next": None, "previous": None, "result": ["btc"]}
    enable_eth(settings)
    assert api.get("/api/cryptos").json() == {"count": 2, "next": None, "previous": None, "result": ["btc", "eth"]}
    assert api.get("/api/cryptos/").json()["result"] == ["btc", "eth"]
    assert api.get("/api/cryptos/supported").json() == {"btc": "Bitcoin", "eth": "Ethereum"}


def test_tokens_and_explorer_per_chain(api, settings):
    enable_eth(settings)
    assert api.get("/api/cryptos/tokens/eth").json() == {
        "count": 2,
        "next": None,
        "previous": None,
        "result": ["USDC", "USDT"],
    }
    assert api.get("/api/cryptos/tokens/btc").json()["result"] == []
    assert api.get("/api/cryptos/explorer/btc").json() == ""  # regtest
    response = api.get("/api/cryptos/tokens/doge")
    assert (response.status_code, response.json()["code"]) == (404, "unknown_crypto")


def test_info_gives_each_coin_its_decimals_contract_and_scheme(api, settings):
    enable_eth(settings)
    body = api.get("/api/cryptos/info").json()
    assert body["count"] == 4
    assert [
        (c["symbol"], c["chain"], c["decimals"], c["contract"], c["uri_scheme"], c["chain_id"]) for c in body["result"]
    ] == [
        ("BTC", "btc", 8, "", "bitcoin", 0),
        ("ETH", "eth", 18, "", "ethereum", 1337),
        ("USDC", "eth", 6, USDC, "ethereum", 1337),
        ("USDT", "eth", 6, USDT, "ethereum", 1337),
    ]
    assert body["result"][0] == {
        "symbol": "BTC",
        "name": "Bitcoin",
        "chain": "btc",
        "family": "bitcoin",
        "network": "regtest",
        "chain_id": 0,
        "decimals": 8,
        "contract": "",
        "uri_scheme": "bitcoin",
        "confirmations": 1,
        "explorer": "",
    }
