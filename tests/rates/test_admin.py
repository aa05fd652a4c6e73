import time
from decimal import Decimal

import pytest
from django.core.cache import cache

from rates.models import StoreRateRules
from rates.services import rate_get, rates_refresh, rules_key
from tests.rates.conftest import consistent_bodies

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.rates.urls")]


def test_history_chart_and_health(admin_client, rate_stub):
    rate_stub.down("coingecko", status=503)
    consistent_bodies(rate_stub, usd="65000", now=int(time.time()), skip=("coingecko",))
    rates_refresh(currencies=["USD"])
    consistent_bodies(rate_stub, usd="65100", now=int(time.time()), skip=("coingecko",))
    rates_refresh(currencies=["USD"])

    response = admin_client.get("/admin/rates/rateobservation/?pair=BTC/USD&chart_hours=6")
    assert response.status_code == 200
    page = response.content.decode()
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in page
    assert "BTC/USD, last 6 h" in page
    assert page.count("<polyline") == 4  # kraken, coinbase, bitstamp, blockchain
    assert "<title>kraken</title>" in page
    assert 'data-label="high">65100</text>' in page
    assert 'data-label="low">65000</text>' in page
    health = page[page.index('id="provider-health"') :]
    assert "<td>coingecko</td>" in health
    assert "HTTP 503" in health


def test_chart_without_data(admin_client):
    response = admin_client.get("/admin/rates/rateobservation/")
    assert response.status_code == 200
    assert "No observations in this period." in response.content.decode()


def test_observations_are_read_only(admin_client):
    assert admin_client.get("/admin/rates/rateobservation/add/").status_code == 403


def test_rules_saved_in_admin_take_effect_at_once(admin_client, store, rate_stub):
    consistent_bodies(rate_stub, usd="65000", now=int(time.time()))
    rates_refresh(currencies=["USD"])
    assert rate_get(store=store, crypto="BTC", fiat="USD").rate == Decimal("65000")
    assert cache.get(rules_key(store.pk)) is not None  # the defaults are cached now

    response = admin_client.post(
        "/admin/rates/storeraterules/add/",
        {
            "store": store.pk,
            "providers": "kraken",
            "combine": "median",
            "spread_percent": "2",
            "max_deviation_percent": "5",
            "fixed_rates": "{}",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert StoreRateRules.objects.get(store=store).spread_percent == Decimal("2")
    quote = rate_get(store=store, crypto="BTC", fiat="USD")
    assert (quote.rate, quote.source) == (Decimal("63700"), "median(kraken)-2.00%")


def test_rules_admin_rejects_unknown_provider(admin_client, store):
    response = admin_client.post(
        "/admin/rates/storeraterules/add/",
        {
            "store": store.pk,
            "providers": "kraken,mtgox",
            "combine": "median",
            "spread_percent": "0",
            "max_deviation_percent": "5",
            "fixed_rates": "{}",
        },
    )
    assert response.status_code == 200
    assert "Unknown provider(s): mtgox" in response.content.decode()
    assert not StoreRateRules.objects.exists()
