"""The cryptos we price, and what each rate provider calls them: adding a coin is one row of CRYPTOS.

Pure data, no Django: conf, providers, models and services all read it.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Listing:
    """How one provider names a crypto, and the fiats it quotes it in (None: whatever it answers)."""

    id: str
    fiats: frozenset[str] | None = None


# Kraken markets per crypto, from a full Ticker capture (GitHub rotki/test-caching,
# cassettes/external_apis/test_kraken/test_kraken_query_multiple_current_prices.yaml, 2026-06-24):
# one unknown pair fails a whole Ticker request, so only listed ones are asked for.
_KRAKEN_FIATS = frozenset({"USD", "EUR", "GBP", "JPY", "CAD", "CHF", "AUD"})

# Our symbol → provider name → how that provider lists it. A provider missing from a row does not
# quote that crypto. Kraken ids are its asset codes in pair names (XBT, not BTC; the legacy X/Z
# prefixes of XXBTZUSD are added when reading the answer); Bitstamp ids are the pair's first half
# (btcusd, ethusd, usdcusd); Coinbase and Blockchain.info take our symbols.
CRYPTOS: dict[str, dict[str, Listing]] = {
    "BTC": {
        "coingecko": Listing("bitcoin"),
        "kraken": Listing("XBT", _KRAKEN_FIATS),
        "coinbase": Listing("BTC"),
        "bitstamp": Listing("btc", frozenset({"USD", "EUR", "GBP"})),
        "blockchain": Listing("BTC"),
    },
    "ETH": {
        "coingecko": Listing("ethereum"),
        "kraken": Listing("ETH", _KRAKEN_FIATS),
        "coinbase": Listing("ETH"),
        "bitstamp": Listing("eth", frozenset({"USD", "EUR", "GBP"})),
    },
    "USDT": {
        "coingecko": Listing("tether"),
        "kraken": Listing("USDT", _KRAKEN_FIATS),
        "coinbase": Listing("USDT"),
        # usdtusd only: no usdteur market was found to confirm, and each unknown pair is a failed request a minute.
        "bitstamp": Listing("usdt", frozenset({"USD"})),
    },
    "USDC": {
        "coingecko": Listing("usd-coin"),
        "kraken": Listing("USDC", _KRAKEN_FIATS - {"JPY"}),
        "coinbase": Listing("USDC"),
        "bitstamp": Listing("usdc", frozenset({"USD", "EUR"})),
    },
}


def listing(crypto: str, provider: str) -> Listing | None:
    return CRYPTOS.get(crypto, {}).get(provider)
