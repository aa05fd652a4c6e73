"""Each adapter against its provider's recorded real response, served by the local stub."""

from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import parse_qs

import pytest

from rates.errors import ProviderError
from rates.providers import ALL_PROVIDERS
from tests.rates.conftest import fetch, sample

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def rates(result) -> dict[str, Decimal]:
    return {o.pair: o.rate for o in result.observations}


def test_coingecko_docs_example(rate_stub):
    rate_stub.serve("coingecko", sample("coingecko-simple-price-bitcoin-docs-example.json"))
    result = fetch("coingecko", ["USD", "EUR"], NOW)
    assert rates(result) == {"BTC/USD": Decimal("67187.3358936566")}  # every digit: no float on the way
    assert result.observations[0].observed_at == datetime(2024, 3, 25, 8, 45, tzinfo=UTC)  # last_updated_at
    assert result.rejected == []
    path, query = rate_stub.requests[-1]
    assert path == "/coingecko/api/v3/simple/price"
    assert parse_qs(query) == {"ids": ["bitcoin"], "vs_currencies": ["usd,eur"], "include_last_updated_at": ["true"]}


def test_coingecko_minimal_body_is_dated_at_fetch(rate_stub):
    rate_stub.serve("coingecko", sample("coingecko-simple-price-bitcoin-usd.json"))
    result = fetch("coingecko", ["USD"], NOW)
    assert rates(result) == {"BTC/USD": Decimal("7984.89")}
    assert result.observations[0].observed_at == NOW


def test_coingecko_rate_limited(rate_stub):
    rate_stub.serve("coingecko", sample("coingecko-error-429-rate-limit.json"), status=429)
    with pytest.raises(ProviderError, match="HTTP 429"):
        fetch("coingecko", ["USD"], NOW)


def test_coingecko_error_body_with_200_is_not_a_rate():
    with pytest.raises(ProviderError, match="exceeded the Rate Limit"):
        ALL_PROVIDERS["coingecko"].parse(
            sample("coingecko-error-429-rate-limit.json"), cryptos=["BTC"], fiats=["USD"], now=NOW
        )


def test_kraken_ticker(rate_stub):
    rate_stub.serve("kraken", sample("kraken-ticker-xbtusd.json"))
    result = fetch("kraken", ["USD", "PLN"], NOW)
    # Last trade price, found under Kraken's own pair name XXBTZUSD.
    assert rates(result) == {"BTC/USD": Decimal("30303.20000")}
    assert result.observations[0].observed_at == NOW  # the ticker has no timestamp
    # PLN is not a Kraken market: asking for it would fail the whole request.
    assert parse_qs(rate_stub.requests[-1][1]) == {"pair": ["XBTUSD"]}


def test_kraken_error(rate_stub):
    rate_stub.serve("kraken", sample("kraken-error-unknown-asset-pair.json"))
    with pytest.raises(ProviderError, match="EQuery:Unknown asset pair"):
        fetch("kraken", ["USD"], NOW)


def test_coinbase_exchange_rates(rate_stub):
    rate_stub.serve("coinbase", sample("coinbase-exchange-rates-btc.json"))
    result = fetch("coinbase", ["USD", "EUR", "JPY", "KWD", "BHD", "NGN"], NOW)
    assert rates(result) == {
        "BTC/USD": Decimal("4360.60"),
        "BTC/EUR": Decimal("3645.16"),
        "BTC/JPY": Decimal("472848"),
        "BTC/KWD": Decimal("1313.701"),
        "BTC/BHD": Decimal("1644.840"),
        "BTC/NGN": Decimal("1574896.10"),
    }
    assert parse_qs(rate_stub.requests[-1][1]) == {"currency": ["BTC"]}


def test_coinbase_error(rate_stub):
    rate_stub.serve("coinbase", sample("coinbase-exchange-rates-error-invalid-currency.json"))
    with pytest.raises(ProviderError, match="Invalid currency"):
        fetch("coinbase", ["USD"], NOW)


def test_coinbase_refuses_another_base():
    body = sample("coinbase-exchange-rates-btc.json").replace(b'"currency":"BTC"', b'"currency":"USD"')
    with pytest.raises(ProviderError, match="not BTC"):
        ALL_PROVIDERS["coinbase"].parse(body, cryptos=["BTC"], fiats=["USD"], now=NOW)


def test_bitstamp_ticker(rate_stub):
    rate_stub.serve("bitstamp", sample("bitstamp-ticker-btcusd.json"))
    result = fetch("bitstamp", ["USD", "JPY"], NOW)
    assert rates(result) == {"BTC/USD": Decimal("20800")}
    assert result.observations[0].observed_at == datetime(2022, 10, 26, 18, 27, 9, tzinfo=UTC)
    assert [path for path, _ in rate_stub.requests] == ["/bitstamp/api/v2/ticker/btcusd/"]


def test_bitstamp_tolerates_added_fields():
    # The 2024 field set adds "side"; the parser reads "last" and "timestamp" only.
    result = ALL_PROVIDERS["bitstamp"].parse(
        sample("bitstamp-ticker-btcusdt-with-side.json"), cryptos=["BTC"], fiats=["USD"], now=NOW
    )
    assert rates(result) == {"BTC/USD": Decimal("73285")}


def test_bitstamp_one_pair_down_keeps_the_others(rate_stub, caplog):
    rate_stub.serve("bitstamp", sample("bitstamp-ticker-btcusd.json"))
    rate_stub.down("bitstamp", path="/api/v2/ticker/btceur/")
    result = fetch("bitstamp", ["USD", "EUR"], NOW)
    assert rates(result) == {"BTC/USD": Decimal("20800")}
    assert result.rejected == ["BTC/EUR: HTTP 503"]
    assert "bitstamp BTC/EUR: HTTP 503" in caplog.text


def test_blockchain_ticker(rate_stub):
    rate_stub.serve("blockchain", sample("blockchain-info-ticker.json"))
    result = fetch("blockchain", ["USD", "EUR", "JPY", "KWD"], NOW)
    assert rates(result) == {
        "BTC/USD": Decimal("33438.82"),
        "BTC/EUR": Decimal("28193.8"),
        "BTC/JPY": Decimal("3715369.25"),
    }


def test_ecb_daily_reference_rates(rate_stub):
    rate_stub.serve("ecb", sample("ecb-eurofxref-daily.xml"), content_type="text/xml")
    result = fetch("ecb", ["PLN"], NOW)
    found = rates(result)
    assert found["EUR/USD"] == Decimal("1.1252")
    assert found["EUR/JPY"] == Decimal("163.36")
    assert found["EUR/GBP"] == Decimal("0.84770")
    assert found["EUR/PLN"] == Decimal("4.2393")
    assert found["EUR/IDR"] == Decimal("18606.59")
    assert len(found) == 30  # every currency in the file is one we know
    assert "EUR/RUB" not in found
    # Dated at publication (16:00 Frankfurt time = 14:00 UTC in May), not at our download.
    assert {o.observed_at for o in result.observations} == {datetime(2025, 5, 9, 14, 0, tzinfo=UTC)}


@pytest.mark.parametrize(
    "body",
    [
        b"<!DOCTYPE html><html><body>Maintenance</body></html>",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',
        b"<gesmes:Envelope",
    ],
)
def test_ecb_garbage(body):
    with pytest.raises(ProviderError):
        ALL_PROVIDERS["ecb"].parse(body, cryptos=["BTC"], fiats=["USD"], now=NOW)


def test_html_instead_of_json(rate_stub):
    rate_stub.serve("kraken", b"<html><body>Cloudflare</body></html>", content_type="text/html")
    with pytest.raises(ProviderError, match="not JSON"):
        fetch("kraken", ["USD"], NOW)


# ------------------------------------------------------------------------------- ETH, USDT and USDC

ALL_CRYPTOS = ("BTC", "ETH", "USDT", "USDC")


@pytest.mark.parametrize(
    ("name", "cryptos", "expected"),
    [
        ("coingecko-simple-price-ethereum-usd.json", ("ETH",), {"ETH/USD": Decimal("2980.77")}),
        ("coingecko-simple-price-ethereum-eur.json", ("ETH",), {"ETH/EUR": Decimal("2540.67")}),
        ("coingecko-simple-price-tether-usd.json", ("USDT",), {"USDT/USD": Decimal("0.998816")}),
        ("coingecko-simple-price-usd-coin-usd.json", ("USDC",), {"USDC/USD": Decimal("0.999846")}),
        # Asked for all four, answered for ethereum and an id nobody asked for ("status").
        ("coingecko-simple-price-status-ethereum-usd.json", ALL_CRYPTOS, {"ETH/USD": Decimal("2337.88")}),
    ],
)
def test_coingecko_other_coins(rate_stub, name, cryptos, expected):
    rate_stub.serve("coingecko", sample(name))
    result = fetch("coingecko", ["USD", "EUR"], NOW, cryptos=cryptos)
    assert rates(result) == expected
    assert result.rejected == []
    assert [o.observed_at for o in result.observations] == [NOW]  # no last_updated_at was asked of these
    ids = {"ETH": "ethereum", "USDT": "tether", "USDC": "usd-coin", "BTC": "bitcoin"}
    assert parse_qs(rate_stub.requests[-1][1])["ids"] == [",".join(ids[c] for c in cryptos)]


def test_coingecko_without_any_asked_coin():
    with pytest.raises(ProviderError, match="no 'tether' or 'usd-coin' object"):
        ALL_PROVIDERS["coingecko"].parse(
            sample("coingecko-simple-price-ethereum-usd.json"), cryptos=["USDT", "USDC"], fiats=["USD"], now=NOW
        )


def test_kraken_eth(rate_stub):
    rate_stub.serve("kraken", sample("kraken-ticker-daiusd-ethusd.json"))
    result = fetch("kraken", ["USD", "EUR", "PLN"], NOW, cryptos=("ETH",))
    # ETHUSD is answered as XETHZUSD; the DAIUSD ticker in the same body is nobody's business.
    assert rates(result) == {"ETH/USD": Decimal("257.81000")}
    assert parse_qs(rate_stub.requests[-1][1]) == {"pair": ["ETHUSD,ETHEUR"]}


def test_kraken_usdt(rate_stub):
    rate_stub.serve("kraken", sample("kraken-ticker-usdtusd.json"))
    result = fetch("kraken", ["USD"], NOW, cryptos=("USDT",))
    assert rates(result) == {"USDT/USD": Decimal("0.99967000")}  # USDTUSD comes back as USDTZUSD
    assert parse_qs(rate_stub.requests[-1][1]) == {"pair": ["USDTUSD"]}


def test_kraken_asks_once_per_crypto_and_one_failure_costs_that_crypto_only(rate_stub, caplog):
    rate_stub.serve("kraken", sample("kraken-ticker-xbtusd.json"), query={"pair": "XBTUSD"})
    rate_stub.serve("kraken", sample("kraken-ticker-daiusd-ethusd.json"), query={"pair": "ETHUSD"})
    rate_stub.serve("kraken", sample("kraken-ticker-usdtusd.json"), query={"pair": "USDTUSD"})
    rate_stub.serve("kraken", sample("kraken-error-unknown-asset-pair.json"), query={"pair": "USDCUSD"})
    result = fetch("kraken", ["USD"], NOW, cryptos=ALL_CRYPTOS)
    assert rates(result) == {
        "BTC/USD": Decimal("30303.20000"),
        "ETH/USD": Decimal("257.81000"),
        "USDT/USD": Decimal("0.99967000"),
    }
    assert result.rejected == ["USDC: error: ['EQuery:Unknown asset pair']"]
    assert "kraken USDC: error: ['EQuery:Unknown asset pair']" in caplog.text
    assert sorted(parse_qs(query)["pair"][0] for _, query in rate_stub.requests) == [
        "ETHUSD",
        "USDCUSD",
        "USDTUSD",
        "XBTUSD",
    ]


def test_bitstamp_usdc(rate_stub):
    rate_stub.serve("bitstamp", sample("bitstamp-ticker-usdcusd.json"), path="/api/v2/ticker/usdcusd/")
    result = fetch("bitstamp", ["USD"], NOW, cryptos=("USDC",))
    assert rates(result) == {"USDC/USD": Decimal("1.00031")}
    assert result.observations[0].observed_at == datetime(2023, 1, 13, 13, 47, 51, tzinfo=UTC)
    assert [path for path, _ in rate_stub.requests] == ["/bitstamp/api/v2/ticker/usdcusd/"]


def test_bitstamp_asks_only_its_markets(rate_stub):
    rate_stub.serve("bitstamp", sample("bitstamp-ticker-btcusd.json"))
    rate_stub.serve("bitstamp", sample("bitstamp-ticker-usdcusd.json"), path="/api/v2/ticker/usdcusd/")
    result = fetch("bitstamp", ["USD", "EUR"], NOW, cryptos=("BTC", "USDT", "USDC"))
    assert rates(result) == {"BTC/USD": Decimal("20800"), "USDC/USD": Decimal("1.00031")}
    # No usdteur market is asked for (rates/cryptos.py); those without a recorded body answer 404 here.
    assert sorted(path for path, _ in rate_stub.requests) == [
        "/bitstamp/api/v2/ticker/btceur/",
        "/bitstamp/api/v2/ticker/btcusd/",
        "/bitstamp/api/v2/ticker/usdceur/",
        "/bitstamp/api/v2/ticker/usdcusd/",
        "/bitstamp/api/v2/ticker/usdtusd/",
    ]
    assert sorted(result.rejected) == ["BTC/EUR: HTTP 404", "USDC/EUR: HTTP 404", "USDT/USD: HTTP 404"]


def test_coinbase_checks_the_base_of_each_answer(rate_stub):
    # Every currency=... request gets the recorded BTC answer: the one asked for ETH must not be read.
    rate_stub.serve("coinbase", sample("coinbase-exchange-rates-btc.json"))
    result = fetch("coinbase", ["USD"], NOW, cryptos=("BTC", "ETH"))
    assert rates(result) == {"BTC/USD": Decimal("4360.60")}
    assert result.rejected == ["ETH: base is 'BTC', not ETH"]
    assert sorted(parse_qs(query)["currency"][0] for _, query in rate_stub.requests) == ["BTC", "ETH"]


def test_coinbase_eth_constructed_body(rate_stub):
    # CONSTRUCTED body: no real Coinbase answer for currency=ETH with citable provenance was found
    # (samples/README.md). It has the documented shape, {"data": {"currency", "rates": {code: string}}}.
    body = b'{"data":{"currency":"ETH","rates":{"EUR":"2540.67","USD":"2980.77","BTC":"0.0339"}}}'
    rate_stub.serve("coinbase", body, query={"currency": "ETH"})
    result = fetch("coinbase", ["USD", "EUR"], NOW, cryptos=("ETH",))
    assert rates(result) == {"ETH/USD": Decimal("2980.77"), "ETH/EUR": Decimal("2540.67")}


def test_blockchain_quotes_btc_only(rate_stub):
    rate_stub.serve("blockchain", sample("blockchain-info-ticker.json"))
    assert fetch("blockchain", ["USD"], NOW, cryptos=("ETH", "USDT")).observations == []
    assert rate_stub.requests == []  # not even asked
    assert rates(fetch("blockchain", ["USD"], NOW, cryptos=ALL_CRYPTOS)) == {"BTC/USD": Decimal("33438.82")}
