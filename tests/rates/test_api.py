import json
import time
from decimal import Decimal

import pytest

from rates.services import rates_refresh
from tests.rates.conftest import consistent_bodies, sample

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.rates.urls")]


@pytest.fixture
def collected(rate_stub):
    consistent_bodies(
        rate_stub,
        usd={"kraken": "65000.12", "coinbase": "65000.12", "blockchain": "65000.12"},
        now=int(time.time()),
    )
    rates_refresh(currencies=["USD"])
    return rate_stub


def test_crypto_rate_answers_from_the_cache(client, collected):
    requests_before = len(collected.requests)
    response = client.get("/api/cryptos/rate?currency=btc&fiat_currency=usd")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    # A bare JSON number as in Bitcart, written from the Decimal's digits.
    assert response.content == b"65000.12"
    assert json.loads(response.content, parse_float=Decimal) == Decimal("65000.12")
    assert len(collected.requests) == requests_before  # no provider was asked


def test_crypto_rate_defaults_to_btc_usd(client, collected):
    assert client.get("/api/cryptos/rate").content == b"65000.12"


def test_crypto_rate_invalid_currency(client, collected):
    response = client.get("/api/cryptos/rate?fiat_currency=test")
    assert response.status_code == 422
    assert response.json() == {"detail": "Unsupported fiat currency: 'TEST'", "code": "unsupported_currency"}
    response = client.get("/api/cryptos/rate?currency=doge")
    assert response.status_code == 422
    assert response.json()["code"] == "unsupported_currency"


def test_crypto_rate_unavailable_is_422(client, rate_stub):
    response = client.get("/api/cryptos/rate?fiat_currency=EUR")
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "rate_unavailable"
    assert body["pair"] == "BTC/EUR"
    assert body["detail"].startswith("No trustworthy BTC/EUR rate: BTC/EUR: coingecko: no rate")


def test_store_rates_for_the_owner(client, merchant, store, collected):
    client.force_login(merchant)
    response = client.get(f"/api/stores/{store.pk}/rates?currencies=BTC_USD,btc_eur,BTCUSD,BTC_SATS")
    assert response.status_code == 200
    rates = response.json()["rates"]
    assert rates[0]["currency"] == "BTC_USD"
    assert rates[0]["rate"] == "65000.12"
    assert rates[0]["source"] == "median(kraken,coinbase,blockchain)"
    assert rates[0]["message"] == "BTC_USD: 65000.12 (resolved by median(kraken,coinbase,blockchain))"
    assert rates[1]["currency"] == "BTC_EUR"
    assert rates[1]["rate"] is None
    assert rates[1]["code"] == "rate_unavailable"
    assert rates[2] == {
        "currency": "BTCUSD",
        "rate": None,
        "code": "invalid_pair",
        "message": "BTCUSD: invalid currency pair",
    }
    assert rates[3]["rate"] == "100000000"


def test_store_rates_requires_currencies(client, merchant, store):
    client.force_login(merchant)
    response = client.get(f"/api/stores/{store.pk}/rates")
    assert response.status_code == 422
    assert response.json()["code"] == "missing_currencies"


def test_store_rates_owner_only(client, other_merchant, store, collected):
    url = f"/api/stores/{store.pk}/rates?currencies=BTC_USD"
    assert client.get(url).status_code == 401  # anonymous
    client.force_login(other_merchant)
    response = client.get(url)
    assert response.status_code == 404  # someone else's store looks like no store
    assert response.json()["code"] == "store_not_found"


def test_store_rates_with_a_token(client, merchant, other_merchant, store, collected):
    from accounts.services import token_create

    url = f"/api/stores/{store.pk}/rates?currencies=BTC_USD"
    _, secret = token_create(user=merchant, permissions=[f"store_management:{store.pk}"])
    response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200
    assert response.json()["rates"][0]["rate"] == "65000.12"

    _, secret = token_create(user=merchant, permissions=["store_management:01SOMEOTHERSTORE"])
    assert client.get(url, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 404
    _, secret = token_create(user=other_merchant, permissions=["full_control"])
    assert client.get(url, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 404


def test_trailing_slash_is_answered_too(client, collected):
    assert client.get("/api/cryptos/rate/").content == b"65000.12"


@pytest.fixture
def eth_collected(rate_stub, settings):
    settings.RATES_CRYPTOS = ["BTC", "ETH"]
    consistent_bodies(
        rate_stub,
        usd={"kraken": "65000.12", "coinbase": "65000.12", "blockchain": "65000.12"},
        now=int(time.time()),
    )
    rate_stub.serve("coingecko", sample("coingecko-simple-price-ethereum-usd.json"))
    rates_refresh(currencies=["USD"])
    return rate_stub


def test_crypto_rate_for_eth(client, eth_collected):
    response = client.get("/api/cryptos/rate?currency=eth&fiat_currency=usd")
    assert (response.status_code, response.content) == (200, b"2980.77")


def test_crypto_rate_for_a_coin_not_collected(client, collected):
    response = client.get("/api/cryptos/rate?currency=ETH")
    assert response.status_code == 422
    assert response.json() == {
        "detail": "ETH is not priced on this server (RATES_CRYPTOS: BTC)",
        "code": "unsupported_currency",
    }


def test_store_rates_of_other_coins(client, merchant, store, eth_collected):
    client.force_login(merchant)
    response = client.get(f"/api/stores/{store.pk}/rates?currencies=ETH_USD,ETH_BTC,USDT_USD")
    assert response.status_code == 200
    rates = response.json()["rates"]
    assert (rates[0]["currency"], rates[0]["rate"], rates[0]["source"]) == ("ETH_USD", "2980.77", "median(coingecko)")
    # BTC per 1 ETH: 2980.77 / 65000.12
    assert (rates[1]["currency"], rates[1]["rate"]) == ("ETH_BTC", "0.045857915339")
    assert rates[1]["source"] == "ETH/USD=median(coingecko); BTC/USD=median(kraken,coinbase,blockchain)"
    assert rates[2] == {
        "currency": "USDT_USD",
        "rate": None,
        "code": "unsupported_currency",
        "message": "USDT_USD: USDT is not priced on this server (RATES_CRYPTOS: BTC, ETH)",
    }
