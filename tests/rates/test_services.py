"""Collector and pricing: the stub speaks each provider's format; Redis and the database are real."""

import logging
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs

import pytest
from django.core.cache import cache
from django.utils import timezone

from bitcart.errors import ValidationFailed
from rates import services
from rates.models import ProviderHealth, RateIncident, RateObservation, StoreRateRules
from rates.selectors import rate_history, rates_currencies_in_use, rates_current
from rates.services import RateUnavailable, rate_get, rates_refresh
from tests.rates.conftest import consistent_bodies, sample

pytestmark = pytest.mark.django_db

BTC_PROVIDERS = ["bitstamp", "blockchain", "coinbase", "coingecko", "kraken"]


def now_ts() -> int:
    return int(time.time())


def health(name: str) -> ProviderHealth:
    return ProviderHealth.objects.get(provider=name)


def test_all_providers_median(rate_stub, store):
    consistent_bodies(
        rate_stub,
        usd={
            "coingecko": "65010.5",
            "kraken": "65000.10",
            "coinbase": "64990.00",
            "bitstamp": "65020",
            "blockchain": "65000.2",
        },
        now=now_ts(),
    )
    summary = rates_refresh(currencies=["USD"])
    assert {name for name, p in summary["providers"].items() if p["ok"]} == {*BTC_PROVIDERS, "ecb"}
    quote = rate_get(store=store, crypto="BTC", fiat="USD")
    assert quote.rate == Decimal("65000.2")
    assert quote.source == "median(coingecko,kraken,coinbase,bitstamp,blockchain)"
    assert timezone.now() - quote.fetched_at < timedelta(seconds=30)
    assert rate_history(pair="BTC/USD", since=timezone.now() - timedelta(minutes=1)).count() == 5
    assert all(health(name).consecutive_failures == 0 for name in BTC_PROVIDERS)


def test_one_provider_down_median_of_the_rest(rate_stub, store):
    consistent_bodies(
        rate_stub,
        usd={"coingecko": "65010", "kraken": "65000", "coinbase": "64990", "bitstamp": "65020", "blockchain": "65005"},
        now=now_ts(),
    )
    rate_stub.down("kraken", status=503)
    summary = rates_refresh(currencies=["USD"])
    assert summary["providers"]["kraken"] == {"ok": False, "observations": 0, "rejected": 0, "error": "HTTP 503"}
    quote = rate_get(store=store, crypto="BTC", fiat="USD")
    assert quote.rate == Decimal("65007.5")  # median of 64990, 65005, 65010, 65020
    assert quote.source == "median(coingecko,coinbase,bitstamp,blockchain)"
    kraken = health("kraken")
    assert (kraken.consecutive_failures, kraken.total_failures, kraken.last_error) == (1, 1, "HTTP 503")
    assert kraken.last_success_at is None
    assert not RateObservation.objects.filter(provider="kraken").exists()

    # It comes back: its failures reset.
    consistent_bodies(rate_stub, usd={"kraken": "65000"}, now=now_ts())
    rates_refresh(currencies=["USD"])
    assert health("kraken").consecutive_failures == 0
    assert health("kraken").total_failures == 1


def test_all_down_refuses_and_records_once(rate_stub, store, caplog):
    for name in BTC_PROVIDERS:
        rate_stub.down(name, status=502)
    rate_stub.down("ecb", status=500)
    summary = rates_refresh(currencies=["USD"])
    assert not any(p["ok"] for p in summary["providers"].values())
    assert summary["stored"] == 0
    with pytest.raises(RateUnavailable) as info:
        rate_get(store=store, crypto="BTC", fiat="USD")
    assert info.value.code == "rate_unavailable"
    assert info.value.message.startswith("No trustworthy BTC/USD rate: BTC/USD: coingecko: no rate")
    with pytest.raises(RateUnavailable):
        rate_get(store=store, crypto="BTC", fiat="USD")
    # The merchant hears about it once, not once per checkout attempt.
    incident = RateIncident.objects.get()
    assert (incident.store_id, incident.pair) == (store.pk, "BTC/USD")
    assert "kraken: no rate" in incident.reason
    assert "refused to price BTC/USD" in caplog.text
    assert RateObservation.objects.count() == 0


def test_stale_rates_are_refused(rate_stub, store, settings):
    consistent_bodies(rate_stub, usd="65000", now=now_ts())
    rates_refresh(currencies=["USD"])
    assert rate_get(store=store, crypto="BTC", fiat="USD").rate == Decimal("65000")
    settings.RATES_MAX_AGE_SECONDS = 0  # everything collected is now too old
    with pytest.raises(RateUnavailable, match=r"kraken: stale \(0 min old\)"):
        rate_get(store=store, crypto="BTC", fiat="USD")


def test_a_provider_serving_an_old_price_is_left_out(rate_stub, store):
    # Bitstamp and CoinGecko date their answers: 11 minutes old is past the 10 minute bound.
    old = now_ts() - 660
    consistent_bodies(rate_stub, usd={"coingecko": "60000", "bitstamp": "60000"}, now=old)
    consistent_bodies(rate_stub, usd={"kraken": "65000", "coinbase": "65010", "blockchain": "65020"}, now=now_ts())
    rates_refresh(currencies=["USD"])
    quote = rate_get(store=store, crypto="BTC", fiat="USD")
    assert (quote.rate, quote.source) == (Decimal("65010"), "median(kraken,coinbase,blockchain)")


GARBAGE_COUNTS = {
    "coingecko BTC/USD: rejected Decimal('0') (not positive)": {"ok": False, "observations": 0, "rejected": 1},
    "coingecko BTC/USD: rejected Decimal('Infinity') (not finite)": {"ok": False, "observations": 0, "rejected": 1},
    "kraken BTC/USD: rejected '-5' (not positive)": {"ok": False, "observations": 0, "rejected": 1},
    "coinbase BTC/USD: rejected 'NaN' (not finite)": {"ok": True, "observations": 1, "rejected": 1},
    "blockchain BTC/USD: rejected Decimal('NaN') (not finite)": {"ok": True, "observations": 1, "rejected": 1},
    "blockchain BTC/USD: rejected '1e400' (implausibly large)": {"ok": True, "observations": 1, "rejected": 1},
    "BTC/USD: not JSON: b'<!DOCTYPE html>": {"ok": False, "observations": 0, "rejected": 0},
    "coinbase failed: no 'data.rates' object": {"ok": False, "observations": 0, "rejected": 0},
    "kraken BTC/USD: rejected 'oops' (not a number)": {"ok": False, "observations": 0, "rejected": 1},
}


@pytest.mark.parametrize(
    ("provider", "body", "logged"),
    [
        (
            "coingecko",
            b'{"bitcoin": {"usd": 0, "last_updated_at": 1}}',
            "coingecko BTC/USD: rejected Decimal('0') (not positive)",
        ),
        (
            "coingecko",
            b'{"bitcoin": {"usd": Infinity}}',
            "coingecko BTC/USD: rejected Decimal('Infinity') (not finite)",
        ),
        (
            "kraken",
            sample("kraken-ticker-xbtusd.json").replace(b'"30303.20000"', b'"-5"'),
            "kraken BTC/USD: rejected '-5' (not positive)",
        ),
        (
            "coinbase",
            sample("coinbase-exchange-rates-btc.json").replace(b'"USD":"4360.60"', b'"USD":"NaN"'),
            "coinbase BTC/USD: rejected 'NaN' (not finite)",
        ),
        (
            "blockchain",
            sample("blockchain-info-ticker.json").replace(b'"last":33438.82', b'"last":NaN'),
            "blockchain BTC/USD: rejected Decimal('NaN') (not finite)",
        ),
        (
            "blockchain",
            sample("blockchain-info-ticker.json").replace(b'"last":33438.82', b'"last":"1e400"'),
            "blockchain BTC/USD: rejected '1e400' (implausibly large)",
        ),
        (
            "bitstamp",
            b"<!DOCTYPE html><html><title>Bitstamp | Maintenance</title></html>",
            "BTC/USD: not JSON: b'<!DOCTYPE html>",
        ),
        ("coinbase", b"[]", "coinbase failed: no 'data.rates' object"),
        (
            "kraken",
            b'{"error": [], "result": {"XXBTZUSD": {"c": "oops"}}}',
            "kraken BTC/USD: rejected 'oops' (not a number)",
        ),
    ],
)
def test_garbage_is_ignored_logged_and_counted(rate_stub, store, caplog, provider, body, logged):
    consistent_bodies(rate_stub, usd="65000", now=now_ts())
    rate_stub.serve(provider, body, content_type="text/html" if body.startswith(b"<") else "application/json")
    with caplog.at_level(logging.WARNING, logger="rates"):
        summary = rates_refresh(currencies=["USD"])
    assert logged in caplog.text
    counts = {key: summary["providers"][provider][key] for key in ("ok", "observations", "rejected")}
    # Where the provider also quoted another pair (EUR) that one is kept: ok, with one observation.
    assert counts == GARBAGE_COUNTS[logged]
    assert not RateObservation.objects.filter(provider=provider, pair="BTC/USD").exists()
    state = health(provider)
    assert state.last_error != ""
    # The others still price the invoice, at the right rate.
    quote = rate_get(store=store, crypto="BTC", fiat="USD")
    assert quote.rate == Decimal("65000")
    assert provider not in quote.source


def test_nothing_but_garbage_refuses(rate_stub, store):
    rate_stub.serve("coingecko", b'{"bitcoin": {"usd": 0}}')
    rate_stub.serve("kraken", sample("kraken-ticker-xbtusd.json").replace(b'"30303.20000"', b'"-1"'))
    rate_stub.serve("coinbase", sample("coinbase-exchange-rates-btc.json").replace(b'"USD":"4360.60"', b'"USD":"NaN"'))
    rate_stub.serve("blockchain", b"<html>oops</html>", content_type="text/html")
    rate_stub.down("bitstamp", status=429)
    rates_refresh(currencies=["USD"])
    with pytest.raises(RateUnavailable):
        rate_get(store=store, crypto="BTC", fiat="USD")
    assert health("coingecko").rejected_values == 1
    assert health("coingecko").consecutive_failures == 1
    assert "BTC/USD: HTTP 429" in health("bitstamp").last_error


def test_slow_provider_hits_the_timeout(rate_stub, settings, store):
    # A margin the healthy providers meet even on a loaded 2-core CI machine (bitstamp asks twice).
    settings.RATES_FETCH_TIMEOUT_SECONDS = 2.0
    consistent_bodies(rate_stub, usd="65000", now=now_ts())
    rate_stub.serve("kraken", sample("kraken-ticker-xbtusd.json"), delay=4)
    summary = rates_refresh(currencies=["USD"])
    assert summary["providers"]["kraken"]["error"] == "timeout (ReadTimeout)"
    assert rate_get(store=store, crypto="BTC", fiat="USD").source == "median(coingecko,coinbase,bitstamp,blockchain)"


def test_total_deadline_cuts_a_slow_provider(rate_stub, settings):
    settings.RATES_FETCH_TIMEOUT_SECONDS = 10
    settings.RATES_DEADLINE_SECONDS = 0.5
    consistent_bodies(rate_stub, usd="65000", now=now_ts())
    rate_stub.serve("coinbase", sample("coinbase-exchange-rates-btc.json"), delay=3)
    started = time.monotonic()
    summary = rates_refresh(currencies=["USD"])
    assert time.monotonic() - started < 2
    assert summary["providers"]["coinbase"]["error"] == "no answer within the 0.5s deadline"
    assert summary["providers"]["kraken"]["ok"] is True


def test_outlier_is_dropped(rate_stub, store, caplog):
    # Someone's unit error (a price in the wrong currency, or cents) must not move the median.
    consistent_bodies(rate_stub, usd={"kraken": "65000", "coinbase": "65100", "blockchain": "650.00"}, now=now_ts())
    summary = rates_refresh(currencies=["USD"])
    # (The samples' untouched BTC/EUR prices are from different years, so only BTC/USD is checked.)
    assert [m for m in summary["outliers"] if "BTC/USD" in m] == [
        "blockchain BTC/USD = 650.00 is 99.00% from the median 65000"
    ]
    assert "blockchain BTC/USD = 650.00 is 99.00% from the median 65000 (limit 5%)" in caplog.text
    quote = rate_get(store=store, crypto="BTC", fiat="USD")
    assert (quote.rate, quote.source) == (Decimal("65050"), "median(kraken,coinbase)")


def test_two_sources_that_disagree_give_no_rate(rate_stub, store):
    consistent_bodies(rate_stub, usd={"kraken": "65000", "coinbase": "130000"}, now=now_ts())
    rates_refresh(currencies=["USD"])
    with pytest.raises(RateUnavailable, match=r"providers disagree by more than 5% \(kraken=65000, coinbase=130000\)"):
        rate_get(store=store, crypto="BTC", fiat="USD")


def test_cross_rate_through_usd_and_ecb(rate_stub, store, settings):
    settings.RATES_PROVIDERS = ["kraken", "bitstamp"]  # neither quotes BTC/PLN
    settings.RATES_FIAT_MAX_AGE_SECONDS = 10 * 365 * 24 * 3600  # the recorded ECB file is from 2025-05-09
    consistent_bodies(rate_stub, usd={"kraken": "65000.50", "bitstamp": "65000.50"}, now=now_ts())
    rates_refresh(currencies=["PLN"])
    quote = rate_get(store=store, crypto="BTC", fiat="PLN")
    # 65000.50 USD/BTC × 4.2393 PLN/EUR ÷ 1.1252 USD/EUR
    assert quote.rate == Decimal("244895.68045681")
    assert quote.source == "median(kraken,bitstamp)*ecb(USD/PLN)"
    assert quote.fetched_at == datetime(2025, 5, 9, 14, 0, tzinfo=UTC)  # the oldest input: the ECB file


def test_cross_rate_needs_fresh_fiat_rates(rate_stub, store, settings):
    settings.RATES_PROVIDERS = ["kraken", "bitstamp"]
    consistent_bodies(rate_stub, usd={"kraken": "65000.50", "bitstamp": "65000.50"}, now=now_ts())
    rates_refresh(currencies=["PLN"])
    with pytest.raises(RateUnavailable) as info:
        rate_get(store=store, crypto="BTC", fiat="PLN")
    assert "via USD: EUR/PLN: ecb: stale" in info.value.message
    assert "BTC/PLN: kraken: no rate, bitstamp: no rate" in info.value.message


def test_direct_quote_preferred_over_cross(rate_stub, store, settings):
    settings.RATES_FIAT_MAX_AGE_SECONDS = 10 * 365 * 24 * 3600
    rate_stub.serve("coinbase", sample("coinbase-exchange-rates-btc.json"))
    rate_stub.serve("ecb", sample("ecb-eurofxref-daily.xml"))
    rates_refresh(currencies=["KWD"])
    quote = rate_get(store=store, crypto="BTC", fiat="KWD")
    assert (quote.rate, quote.source) == (Decimal("1313.701"), "median(coinbase)")


def test_store_rules_fixed_spread_preferred(rate_stub, store):
    consistent_bodies(rate_stub, usd={"kraken": "65000", "coinbase": "65100", "blockchain": "65200"}, now=now_ts())
    rates_refresh(currencies=["USD"])

    services.store_rate_rules_update(store=store, spread_percent=Decimal("1.5"))
    quote = rate_get(store=store, crypto="BTC", fiat="USD")
    assert (quote.rate, quote.source) == (Decimal("64123.5"), "median(kraken,coinbase,blockchain)-1.50%")

    services.store_rate_rules_update(
        store=store, spread_percent=Decimal("0"), combine="preferred", providers="blockchain,kraken"
    )
    quote = rate_get(store=store, crypto="BTC", fiat="USD")
    assert (quote.rate, quote.source) == (Decimal("65200"), "blockchain")

    services.store_rate_rules_update(store=store, fixed_rates={"USD": "50000"})
    quote = rate_get(store=store, crypto="BTC", fiat="USD")
    assert (quote.rate, quote.source) == (Decimal("50000"), "fixed")


def test_rules_validation(store):
    with pytest.raises(ValidationFailed) as info:
        services.store_rate_rules_update(store=store, providers="kraken,nosuch")
    assert info.value.code == "invalid_rate_rules"
    with pytest.raises(ValidationFailed):
        services.store_rate_rules_update(store=store, fixed_rates={"USD": 50000.5})
    assert not StoreRateRules.objects.filter(store=store).exists()  # nothing half-saved


def test_priced_in_crypto_needs_no_rate(store):
    quote = rate_get(store=store, crypto="btc", fiat="BTC")
    assert (quote.rate, quote.source) == (Decimal(1), "unit")
    assert rate_get(store=store, crypto="BTC", fiat="SATS").rate == Decimal(100_000_000)


def test_unknown_currencies(store):
    with pytest.raises(ValidationFailed) as info:
        rate_get(store=store, crypto="BTC", fiat="XYZ")
    assert info.value.code == "unsupported_currency"
    with pytest.raises(ValidationFailed):
        rate_get(store=store, crypto="LTC", fiat="USD")


def test_warm_rate_get_is_one_cache_read_and_no_query(rate_stub, store, django_assert_num_queries, monkeypatch):
    consistent_bodies(rate_stub, usd="65000", now=now_ts())
    rates_refresh(currencies=["USD"])
    rate_get(store=store, crypto="BTC", fiat="USD")  # warms the store's rules
    calls = []
    real_get_many = cache.get_many
    monkeypatch.setattr(cache, "get_many", lambda keys: calls.append(keys) or real_get_many(keys))
    monkeypatch.setattr(cache, "get", lambda *a, **k: pytest.fail("rate_get must not cache.get"))
    with django_assert_num_queries(0):
        assert rate_get(store=store, crypto="BTC", fiat="USD").rate == Decimal("65000")
    assert len(calls) == 1
    assert rate_stub.requests[-1][0] != ""  # the stub saw only the refresh, nothing during pricing
    requests_before = len(rate_stub.requests)
    rate_get(store=store, crypto="BTC", fiat="USD")
    assert len(rate_stub.requests) == requests_before


def test_currencies_in_use(store, merchant, settings):
    from invoices.models import Invoice
    from stores.models import Store

    settings.RATES_CURRENCIES = ["CHF"]
    Store.objects.create(name="Euro shop", owner=merchant, default_currency="EUR")
    now = timezone.now()
    Invoice.objects.create(
        store=store,
        price=Decimal("10"),
        currency="JPY",
        expiration=15,
        expires_at=now,
        monitor_until=now,
        required_confirmations=1,
    )
    assert rates_currencies_in_use() == ["CHF", "EUR", "JPY"]  # the BTC store default is no fiat


def test_a_refused_currency_is_collected_next_run(rate_stub, store):
    with pytest.raises(RateUnavailable):
        rate_get(store=store, crypto="BTC", fiat="NZD")
    assert "NZD" in rates_currencies_in_use()
    rate_stub.serve("blockchain", sample("blockchain-info-ticker.json"))
    summary = rates_refresh()
    assert "NZD" in summary["currencies"]
    assert rate_get(store=store, crypto="BTC", fiat="NZD").rate == Decimal("47535.46")  # blockchain.info's NZD


def test_old_observations_are_pruned(settings, rate_stub):
    settings.RATES_RETENTION_DAYS = 30
    settings.RATES_ECB_ENABLED = False  # the recorded ECB file is older than the retention
    old = RateObservation.objects.create(
        provider="kraken", pair="BTC/USD", rate=Decimal("1"), fetched_at=timezone.now() - timedelta(days=31)
    )
    kept = RateObservation.objects.create(
        provider="kraken", pair="BTC/USD", rate=Decimal("2"), fetched_at=timezone.now() - timedelta(days=29)
    )
    consistent_bodies(rate_stub, usd="65000", now=now_ts())
    summary = rates_refresh(currencies=["USD"])
    assert summary["pruned"] == 1
    assert not RateObservation.objects.filter(pk=old.pk).exists()
    assert RateObservation.objects.filter(pk=kept.pk).exists()


def test_ecb_is_fetched_at_most_every_15_minutes_and_not_duplicated(rate_stub, settings):
    settings.RATES_RETENTION_DAYS = 3650  # the recorded ECB file is from 2025
    consistent_bodies(rate_stub, usd="65000", now=now_ts())
    rates_refresh(currencies=["USD"])
    ecb_rows = RateObservation.objects.filter(provider="ecb").count()
    assert ecb_rows == 30
    summary = rates_refresh(currencies=["USD"])
    assert summary["skipped"] == ["ecb"]
    assert RateObservation.objects.filter(provider="ecb").count() == ecb_rows
    assert sum(1 for path, _ in rate_stub.requests if path.startswith("/ecb/")) == 1


def test_refresh_task_runs_the_collector(rate_stub):
    from rates.tasks import rates_refresh_task

    consistent_bodies(rate_stub, usd="65000", now=now_ts())
    result = rates_refresh_task.delay()
    assert result.get()["providers"]["kraken"]["ok"] is True


def test_cache_unreachable_refuses(store, monkeypatch):
    from redis.exceptions import ConnectionError as RedisConnectionError

    def down(keys):
        raise RedisConnectionError("Connection refused")

    monkeypatch.setattr(cache, "get_many", down)
    with pytest.raises(RateUnavailable, match="the rate cache is unreachable"):
        rate_get(store=store, crypto="BTC", fiat="USD")


def test_euro_priced_through_usd(rate_stub, store, settings):
    settings.RATES_PROVIDERS = ["kraken"]  # the recorded Kraken ticker has BTC/USD only
    settings.RATES_FIAT_MAX_AGE_SECONDS = 10 * 365 * 24 * 3600
    consistent_bodies(rate_stub, usd={"kraken": "65000.50"}, now=now_ts())
    rates_refresh(currencies=["EUR"])
    quote = rate_get(store=store, crypto="BTC", fiat="EUR")
    # 65000.50 USD/BTC ÷ 1.1252 USD/EUR
    assert (quote.rate, quote.source) == (Decimal("57767.95236402"), "median(kraken)*ecb(USD/EUR)")


# ------------------------------------------------------------------------------- ETH, USDT and USDC


def serve_other_coins(stub) -> None:
    """Every recorded ETH, USDT and USDC body, where the adapter asks for it (fiats EUR and USD)."""
    stub.serve("coingecko", sample("coingecko-simple-price-status-ethereum-usd.json"))
    stub.serve("kraken", sample("kraken-ticker-daiusd-ethusd.json"), query={"pair": "ETHEUR,ETHUSD"})
    stub.serve("kraken", sample("kraken-ticker-usdtusd.json"), query={"pair": "USDTEUR,USDTUSD"})
    stub.serve("bitstamp", sample("bitstamp-ticker-usdcusd.json"), path="/api/v2/ticker/usdcusd/")


def test_collector_collects_every_configured_crypto(rate_stub, settings):
    settings.RATES_CRYPTOS = "BTC, eth,USDT,USDC"
    settings.RATES_RETENTION_DAYS = 3650  # the Bitstamp USDC answer is dated 2023
    consistent_bodies(rate_stub, usd="65000", now=now_ts())
    serve_other_coins(rate_stub)
    rate_stub.serve("kraken", sample("kraken-error-unknown-asset-pair.json"), query={"pair": "USDCEUR,USDCUSD"})
    summary = rates_refresh(currencies=["USD"])
    assert summary["cryptos"] == ["BTC", "ETH", "USDT", "USDC"]
    assert {name for name, p in summary["providers"].items() if p["ok"]} == {*BTC_PROVIDERS, "ecb"}

    def current(pair: str) -> dict[str, Decimal]:
        return {name: rate for name, (rate, _) in rates_current(pair=pair).items()}

    assert current("ETH/USD") == {"coingecko": Decimal("2337.88"), "kraken": Decimal("257.81000")}
    assert current("USDT/USD") == {"kraken": Decimal("0.99967000")}
    assert current("USDC/USD") == {"bitstamp": Decimal("1.00031")}
    assert rates_current(pair="USDC/USD")["bitstamp"][1] == datetime(2023, 1, 13, 13, 47, 51, tzinfo=UTC)
    # CoinGecko's one answer is the recorded ETH one, so its BTC is missing this run.
    assert current("BTC/USD") == dict.fromkeys(["bitstamp", "blockchain", "coinbase", "kraken"], Decimal("65000"))
    assert sorted(RateObservation.objects.filter(pair="ETH/USD").values_list("provider", "rate")) == [
        ("coingecko", Decimal("2337.880000000000")),
        ("kraken", Decimal("257.810000000000")),
    ]
    # A failed request costs its own crypto only: Kraken refusing the USDC pairs, Coinbase answering
    # every currency=... with the recorded BTC rates (no ETH, USDT or USDC answer was found to record).
    assert summary["providers"]["kraken"]["error"] == "USDC: error: ['EQuery:Unknown asset pair']"
    assert summary["providers"]["coinbase"]["error"] == (
        "ETH: base is 'BTC', not ETH; USDT: base is 'BTC', not USDT; USDC: base is 'BTC', not USDC"
    )
    assert health("kraken").consecutive_failures == 0
    coingecko = [parse_qs(q) for path, q in rate_stub.requests if path == "/coingecko/api/v3/simple/price"]
    assert coingecko == [
        {"ids": ["bitcoin,ethereum,tether,usd-coin"], "vs_currencies": ["eur,usd"], "include_last_updated_at": ["true"]}
    ]
    # Two sources ten times apart (2020 and 2026 prices): the operator is told, per coin.
    assert [m for m in summary["outliers"] if m.startswith(("coingecko ETH", "kraken ETH"))] == [
        "coingecko ETH/USD = 2337.88 is 80.14% from the median 1297.84500",
        "kraken ETH/USD = 257.81000 is 80.14% from the median 1297.84500",
    ]


def test_a_provider_without_the_configured_cryptos_is_not_asked(rate_stub, settings):
    settings.RATES_CRYPTOS = ["USDT"]
    serve_other_coins(rate_stub)
    summary = rates_refresh(currencies=["USD"])
    # Blockchain.info quotes BTC only: not polled, and no failure is held against it.
    assert set(summary["providers"]) == {"coingecko", "kraken", "coinbase", "bitstamp", "ecb"}
    assert not ProviderHealth.objects.filter(provider="blockchain").exists()
    assert not any(path.startswith("/blockchain/") for path, _ in rate_stub.requests)


def test_eth_usd_is_the_median_of_its_sources(rate_stub, store, settings):
    settings.RATES_CRYPTOS = ["BTC", "ETH"]
    rate_stub.serve("coingecko", sample("coingecko-simple-price-ethereum-usd.json"))  # 2980.77, as recorded
    # The 2020 Kraken answer with its last price moved to 2026 (format untouched, as consistent_bodies does).
    kraken = sample("kraken-ticker-daiusd-ethusd.json").replace(b'"c":["257.81000"', b'"c":["2979.90000"')
    rate_stub.serve("kraken", kraken, query={"pair": "ETHEUR,ETHUSD"})
    rates_refresh(currencies=["USD"])
    quote = rate_get(store=store, crypto="ETH", fiat="USD")
    assert (quote.rate, quote.source) == (Decimal("2980.335"), "median(coingecko,kraken)")
    assert timezone.now() - quote.fetched_at < timedelta(seconds=30)


def test_usdt_eur_through_usd_and_the_ecb(rate_stub, store, settings):
    settings.RATES_CRYPTOS = ["USDT"]
    settings.RATES_FIAT_MAX_AGE_SECONDS = 10 * 365 * 24 * 3600  # the recorded ECB file is from 2025-05-09
    rate_stub.serve("coingecko", sample("coingecko-simple-price-tether-usd.json"))
    rate_stub.serve("kraken", sample("kraken-ticker-usdtusd.json"))
    rate_stub.serve("ecb", sample("ecb-eurofxref-daily.xml"), content_type="text/xml")
    rates_refresh(currencies=["EUR"])
    quote = rate_get(store=store, crypto="USDT", fiat="EUR")
    # median(0.998816, 0.99967000) = 0.999243 USD/USDT ÷ 1.1252 USD/EUR; both sources quote USD only.
    assert quote.rate == Decimal("0.88805812")
    assert quote.source == "median(coingecko,kraken)*ecb(USD/EUR)"
    assert quote.fetched_at == datetime(2025, 5, 9, 14, 0, tzinfo=UTC)


def test_stale_eth_is_refused(rate_stub, store, settings, caplog):
    settings.RATES_CRYPTOS = ["ETH"]
    rate_stub.serve("coingecko", sample("coingecko-simple-price-ethereum-usd.json"))
    rates_refresh(currencies=["USD"])
    assert rate_get(store=store, crypto="ETH", fiat="USD").rate == Decimal("2980.77")
    settings.RATES_MAX_AGE_SECONDS = 0  # what was collected is now too old
    with pytest.raises(RateUnavailable) as info:
        rate_get(store=store, crypto="ETH", fiat="USD")
    assert info.value.code == "rate_unavailable"
    assert info.value.extra == {"pair": "ETH/USD"}
    assert info.value.message.startswith(
        "No trustworthy ETH/USD rate: ETH/USD: coingecko: stale (0 min old), kraken: no rate, coinbase: no rate"
    )
    assert (RateIncident.objects.get().pair, RateIncident.objects.get().store_id) == ("ETH/USD", store.pk)
    assert "refused to price ETH/USD" in caplog.text


def test_unknown_crypto_is_refused(store):
    with pytest.raises(ValidationFailed) as info:
        rate_get(store=store, crypto="doge", fiat="USD")
    assert (info.value.code, info.value.message) == ("unsupported_currency", "Unsupported crypto currency: 'DOGE'")
    assert not RateIncident.objects.exists()  # a wrong request, not a missing rate: nobody is notified


def test_a_coin_this_server_does_not_collect_is_refused(store, settings):
    settings.RATES_CRYPTOS = ["BTC"]
    with pytest.raises(ValidationFailed) as info:
        rate_get(store=store, crypto="ETH", fiat="USD")
    assert info.value.code == "unsupported_currency"
    assert info.value.message == "ETH is not priced on this server (RATES_CRYPTOS: BTC)"
    with pytest.raises(ValidationFailed, match="ETH is not priced on this server"):
        rate_get(store=store, crypto="BTC", fiat="ETH")  # an ETH-priced invoice paid in BTC needs ETH rates too
    assert not RateIncident.objects.exists()


def test_btc_priced_invoice_paid_in_eth(rate_stub, store, settings):
    settings.RATES_CRYPTOS = ["BTC", "ETH"]
    consistent_bodies(rate_stub, usd="65000.2", now=now_ts())
    rate_stub.serve("kraken", sample("kraken-ticker-daiusd-ethusd.json"), query={"pair": "ETHEUR,ETHUSD"})
    rates_refresh(currencies=["USD"])
    btc_sources = "median(coingecko,kraken,coinbase,bitstamp,blockchain)"

    quote = rate_get(store=store, crypto="ETH", fiat="BTC")
    # BTC per 1 ETH = 257.81000 USD/ETH ÷ 65000.2 USD/BTC, kept to the 12 places the rate columns hold.
    assert quote.rate == Decimal("0.003966295488")
    assert quote.source == f"ETH/USD=median(kraken); BTC/USD={btc_sources}"
    assert rate_get(store=store, crypto="ETH", fiat="SATS").rate == Decimal("396629.548832157440")
    assert rate_get(store=store, crypto="BTC", fiat="ETH").rate == Decimal("252.124432721772")
    assert rate_get(store=store, crypto="ETH", fiat="ETH").rate == Decimal(1)  # no rate needed at all

    services.store_rate_rules_update(store=store, spread_percent=Decimal("1.5"))
    quote = rate_get(store=store, crypto="ETH", fiat="BTC")
    assert (quote.rate, quote.source) == (
        Decimal("0.003906801056"),
        f"ETH/USD=median(kraken); BTC/USD={btc_sources}-1.50%",
    )


def test_crypto_to_crypto_needs_both_legs(rate_stub, store, settings):
    settings.RATES_CRYPTOS = ["BTC", "ETH"]
    rate_stub.serve("kraken", sample("kraken-ticker-daiusd-ethusd.json"), query={"pair": "ETHEUR,ETHUSD"})
    rates_refresh(currencies=["USD"])
    with pytest.raises(RateUnavailable) as info:
        rate_get(store=store, crypto="ETH", fiat="BTC")
    assert info.value.extra == {"pair": "ETH/BTC"}
    assert info.value.message.startswith("No trustworthy ETH/BTC rate: via USD: BTC/USD: coingecko: no rate")
    assert "; via EUR: " in info.value.message


def test_fixed_rates_per_pair(rate_stub, store, settings):
    settings.RATES_CRYPTOS = ["BTC", "ETH"]
    services.store_rate_rules_update(
        store=store, fixed_rates={"USD": "50000", "eth/usd": "2500"}, spread_percent=Decimal("1.5")
    )
    assert (rate_get(store=store, crypto="BTC", fiat="USD").rate, "fixed") == (Decimal("50000"), "fixed")
    quote = rate_get(store=store, crypto="ETH", fiat="USD")
    assert (quote.rate, quote.source) == (Decimal("2500"), "fixed")
    # Both legs fixed: 2500 / 50000, and no spread (as for any fixed rate).
    quote = rate_get(store=store, crypto="ETH", fiat="BTC")
    assert (quote.rate, quote.source) == (Decimal("0.05"), "ETH/USD=fixed; BTC/USD=fixed")
    # A bare fiat is BTC's only: ETH in EUR is not fixed, and nothing was collected.
    with pytest.raises(RateUnavailable, match="No trustworthy ETH/EUR rate"):
        rate_get(store=store, crypto="ETH", fiat="EUR")


@pytest.mark.parametrize(
    ("fixed_rates", "error"),
    [
        ({"DOGE/USD": "1"}, "Unknown fiat currency or pair 'DOGE/USD'."),
        ({"ETH/XYZ": "1"}, "Unknown fiat currency or pair 'ETH/XYZ'."),
        ({"USD": "50000", "btc/usd": "50001"}, "BTC/USD is given twice."),
    ],
)
def test_fixed_rates_validation(store, fixed_rates, error):
    with pytest.raises(ValidationFailed) as info:
        services.store_rate_rules_update(store=store, fixed_rates=fixed_rates)
    assert (info.value.code, info.value.message) == ("invalid_rate_rules", error)
    assert not StoreRateRules.objects.filter(store=store).exists()
