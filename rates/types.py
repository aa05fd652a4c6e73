from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class RateQuote:
    """The rate an invoice is priced at: units of its currency (a fiat, or a crypto) per 1 unit of the crypto paid."""

    rate: Decimal
    # e.g. "median(coingecko,kraken,bitstamp)", "fixed", "median(kraken,coinbase)*ecb(EUR/PLN)",
    # "ETH/USD=median(coingecko,kraken); BTC/USD=median(kraken,coinbase)" between two cryptos
    source: str
    fetched_at: datetime  # the oldest observation that went into `rate`


@dataclass(frozen=True)
class Observation:
    """One rate one provider reported: `rate` units of the pair's quote per 1 unit of its base."""

    provider: str
    pair: str  # "<CRYPTO>/<FIAT>" ("BTC/USD", "ETH/EUR"), or the ECB's "EUR/PLN"
    rate: Decimal
    observed_at: datetime  # when the provider says the value is from, never later than our fetch

    @property
    def base(self) -> str:
        return self.pair.split("/", 1)[0]

    @property
    def quote(self) -> str:
        return self.pair.split("/", 1)[1]


@dataclass(frozen=True)
class RulesSnapshot:
    """A store's rate rules as rate_get needs them; cached so pricing never reads the database."""

    providers: tuple[str, ...]  # empty: every enabled provider
    combine: str  # "median" or "preferred"
    spread_percent: Decimal = Decimal("0")
    max_deviation_percent: Decimal = Decimal("5")
    fixed_rates: dict[str, Decimal] = field(default_factory=dict)  # "ETH/USD", or a bare fiat for BTC
