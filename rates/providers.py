"""Adapters for public, keyless rate sources: one small class per provider.

Each adapter knows its endpoint and its real response format, and turns a body into Observations.
Values that are not a positive finite number are rejected one by one (logged, reported back to the
collector for the provider's health); a body that cannot be read at all raises ProviderError.
JSON is parsed with parse_float=Decimal: a price never passes through a float.
"""

import asyncio
import functools
import json
import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import httpx

from bitcart.money import FIAT_CURRENCIES
from rates import conf
from rates.cryptos import Listing, listing
from rates.errors import ProviderError
from rates.types import Observation

logger = logging.getLogger(__name__)

# Above this a "rate" is a unit error or garbage (BTC in VND is ~2.5e9), and it would not fit the
# RateObservation column either.
MAX_RATE = Decimal("1e15")
# Bodies are small (Coinbase's, the largest, is ~4 kB); anything far bigger is not a rate answer.
MAX_BODY_BYTES = 1_000_000


@dataclass
class FetchResult:
    observations: list[Observation] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # one message per garbage value


def _reject(result: FetchResult, provider: str, pair: str, raw: object, why: str) -> None:
    message = f"{provider} {pair}: rejected {raw!r} ({why})"
    logger.warning("rates: %s", message)
    result.rejected.append(message)


def rate_value(raw: object, *, result: FetchResult, provider: str, pair: str) -> Decimal | None:
    """A provider's number as a Decimal, or None (logged) if it cannot be a rate."""
    if isinstance(raw, bool) or not isinstance(raw, Decimal | int | str):
        _reject(result, provider, pair, raw, "not a number")
        return None
    try:
        value = Decimal(raw.strip()) if isinstance(raw, str) else Decimal(raw)
    except InvalidOperation:
        _reject(result, provider, pair, raw, "not a number")
        return None
    if not value.is_finite():
        _reject(result, provider, pair, raw, "not finite")
        return None
    if value <= 0:
        _reject(result, provider, pair, raw, "not positive")
        return None
    if value >= MAX_RATE:
        _reject(result, provider, pair, raw, "implausibly large")
        return None
    return value


def load_json(body: bytes) -> Any:
    """Decimal for every number; NaN/Infinity literals become Decimal too, so rate_value rejects them."""
    try:
        return json.loads(body, parse_float=Decimal, parse_int=Decimal, parse_constant=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        # ValueError covers JSONDecodeError: HTML error pages, truncated bodies.
        raise ProviderError(f"not JSON: {body[:80]!r}") from exc


def _observed_at(provider_ts: object, now: datetime) -> datetime:
    """The provider's own timestamp when it gives one, but never later than our fetch."""
    if isinstance(provider_ts, str) and provider_ts.strip().isdigit():
        provider_ts = int(provider_ts.strip())
    if isinstance(provider_ts, Decimal | int) and not isinstance(provider_ts, bool):
        try:
            stamp = datetime.fromtimestamp(int(provider_ts), tz=UTC)
        except (OverflowError, OSError, ValueError):
            return now
        return min(stamp, now)
    return now


@dataclass(frozen=True)
class Request:
    """One HTTP request of a provider's run and how to read its answer."""

    label: str  # what it is for, in error messages: "ETH", "BTC/EUR"
    path: str
    params: dict[str, str] | None
    parse: Callable[[bytes], FetchResult]


def _describe(label: str, exc: ProviderError | httpx.HTTPError) -> str:
    if isinstance(exc, ProviderError):
        return f"{label}: {exc}"
    return f"{label}: {type(exc).__name__} {exc}".rstrip()


class Provider:
    name: ClassVar[str]
    default_url: ClassVar[str]
    # Fetch at most this often (the ECB publishes once a day).
    min_interval_seconds: ClassVar[int] = 0

    @property
    def base_url(self) -> str:
        return conf.provider_url(self.name, self.default_url)

    def listing(self, crypto: str) -> Listing | None:
        return listing(crypto, self.name)

    def served(self, cryptos: Iterable[str]) -> list[str]:
        """The cryptos of `cryptos` this provider quotes (rates.cryptos.CRYPTOS)."""
        return [crypto for crypto in cryptos if self.listing(crypto) is not None]

    def wanted(self, crypto: str, fiats: Iterable[str]) -> list[str]:
        found = self.listing(crypto)
        if found is None:
            return []
        return [f for f in fiats if found.fiats is None or f in found.fiats]

    async def get(self, client: httpx.AsyncClient, path: str, params: dict[str, str] | None = None) -> bytes:
        response = await client.get(f"{self.base_url}{path}", params=params, timeout=conf.fetch_timeout_seconds())
        if response.status_code != 200:
            # 429 (rate limited) and 5xx are retryable next run; either way nothing in the body is a rate.
            raise ProviderError(f"HTTP {response.status_code}")
        if len(response.content) > MAX_BODY_BYTES:
            raise ProviderError(f"body too large ({len(response.content)} bytes)")
        return response.content

    async def fetch(
        self, client: httpx.AsyncClient, *, cryptos: Sequence[str], fiats: Sequence[str], now: datetime
    ) -> FetchResult:
        return await self.fetch_each(client, self.requests(cryptos=cryptos, fiats=fiats, now=now))

    def requests(self, *, cryptos: Sequence[str], fiats: Sequence[str], now: datetime) -> list[Request]:
        raise NotImplementedError

    def parse(self, body: bytes, *, cryptos: Sequence[str], fiats: Sequence[str], now: datetime) -> FetchResult:
        raise NotImplementedError

    async def fetch_each(self, client: httpx.AsyncClient, requests: list[Request]) -> FetchResult:
        """The requests at once: one that fails (a delisted pair, a 503) does not lose the others'
        rates. A lone request's error goes up as it is; with several, each is labelled."""
        if not requests:
            return FetchResult()
        bodies = await asyncio.gather(*(self.get(client, r.path, r.params) for r in requests), return_exceptions=True)
        result = FetchResult()
        errors: list[tuple[str, ProviderError | httpx.HTTPError]] = []
        for request, body in zip(requests, bodies, strict=True):
            if isinstance(body, ProviderError | httpx.HTTPError):
                errors.append((request.label, body))
                continue
            if isinstance(body, BaseException):
                raise body
            try:
                one = request.parse(body)
            except ProviderError as exc:
                errors.append((request.label, exc))
                continue
            result.observations += one.observations
            result.rejected += one.rejected
        if errors and not result.observations:
            if len(requests) == 1:
                raise errors[0][1]
            raise ProviderError("; ".join(_describe(label, exc) for label, exc in errors))
        for label, error in errors:
            message = _describe(label, error)
            logger.warning("rates: %s %s", self.name, message)
            result.rejected.append(message)
        return result


class CoinGecko(Provider):
    """GET /api/v3/simple/price?ids=bitcoin,ethereum&vs_currencies=usd,eur → {"bitcoin": {"usd": 67187.33, ...}, ...}.

    One request for every crypto: the keyless API allows a few calls a minute.
    """

    name = "coingecko"
    default_url = "https://api.coingecko.com"

    def requests(self, *, cryptos: Sequence[str], fiats: Sequence[str], now: datetime) -> list[Request]:
        cryptos = self.served(cryptos)
        if not cryptos:
            return []
        vs = sorted({f for crypto in cryptos for f in self.wanted(crypto, fiats)}, key=list(fiats).index)
        params = {
            "ids": ",".join(self._id(crypto) for crypto in cryptos),
            "vs_currencies": ",".join(f.lower() for f in vs),
            "include_last_updated_at": "true",
        }
        parse = functools.partial(self.parse, cryptos=cryptos, fiats=fiats, now=now)
        return [Request(",".join(cryptos), "/api/v3/simple/price", params, parse)]

    def _id(self, crypto: str) -> str:
        found = self.listing(crypto)
        assert found is not None  # served() checked
        return found.id

    def parse(self, body: bytes, *, cryptos: Sequence[str], fiats: Sequence[str], now: datetime) -> FetchResult:
        data = load_json(body)
        status = data.get("status") if isinstance(data, dict) else None
        # "status" is also a coin's id (Status Network): an error envelope is told by its error fields.
        if isinstance(status, dict) and ("error_code" in status or "error_message" in status):
            raise ProviderError(f"error: {status.get('error_message')!r}")
        cryptos = self.served(cryptos)
        if not isinstance(data, dict) or not any(isinstance(data.get(self._id(c)), dict) for c in cryptos):
            raise ProviderError(f"no {' or '.join(repr(self._id(c)) for c in cryptos)} object")
        result = FetchResult()
        for crypto in cryptos:
            coin = data.get(self._id(crypto))
            if not isinstance(coin, dict):
                continue  # one coin missing is that coin's problem, not the others'
            observed_at = _observed_at(coin.get("last_updated_at"), now)
            for fiat in self.wanted(crypto, fiats):
                if fiat.lower() not in coin:
                    continue  # CoinGecko omits currencies it does not quote
                pair = f"{crypto}/{fiat}"
                if (rate := rate_value(coin[fiat.lower()], result=result, provider=self.name, pair=pair)) is not None:
                    result.observations.append(Observation(self.name, pair, rate, observed_at))
        return result


class Kraken(Provider):
    """GET /0/public/Ticker?pair=XBTUSD,XBTEUR → {"error": [], "result": {"XXBTZUSD": {"c": ["30303.2", ...]}}}.

    The result is keyed by Kraken's own pair names, not the requested ones: XXBTZUSD and XETHZUSD
    (legacy assets carry an X, legacy fiats a Z), USDTZUSD, but ETHCHF, USDTEUR or USDCUSD for newer
    markets. One unknown pair fails the whole request, so only pairs Kraken lists are asked for, and
    each crypto has its own request: a market Kraken drops costs that crypto only.
    """

    name = "kraken"
    default_url = "https://api.kraken.com"

    def requests(self, *, cryptos: Sequence[str], fiats: Sequence[str], now: datetime) -> list[Request]:
        requests = []
        for crypto in self.served(cryptos):
            wanted = self.wanted(crypto, fiats)
            if not wanted:
                continue
            asset = self._asset(crypto)
            params = {"pair": ",".join(f"{asset}{f}" for f in wanted)}
            parse = functools.partial(self.parse, cryptos=[crypto], fiats=fiats, now=now)
            requests.append(Request(crypto, "/0/public/Ticker", params, parse))
        return requests

    def _asset(self, crypto: str) -> str:
        found = self.listing(crypto)
        assert found is not None  # served() checked
        return found.id

    def parse(self, body: bytes, *, cryptos: Sequence[str], fiats: Sequence[str], now: datetime) -> FetchResult:
        data = load_json(body)
        if not isinstance(data, dict):
            raise ProviderError("not a JSON object")
        if data.get("error"):
            raise ProviderError(f"error: {data['error']!r}")
        tickers = data.get("result")
        if not isinstance(tickers, dict):
            raise ProviderError("no 'result' object")
        result = FetchResult()
        for crypto in self.served(cryptos):
            asset = self._asset(crypto)
            for fiat in self.wanted(crypto, fiats):
                names = (f"X{asset}Z{fiat}", f"{asset}{fiat}", f"{asset}Z{fiat}", f"X{asset}{fiat}")
                key = next((k for k in names if k in tickers), None)
                if key is None:
                    continue
                pair = f"{crypto}/{fiat}"
                ticker = tickers[key]
                last = ticker.get("c") if isinstance(ticker, dict) else None
                raw = last[0] if isinstance(last, list) and last else last
                if (rate := rate_value(raw, result=result, provider=self.name, pair=pair)) is not None:
                    # The ticker carries no timestamp: the fetch time is the best we know.
                    result.observations.append(Observation(self.name, pair, rate, now))
        return result


class Coinbase(Provider):
    """GET /v2/exchange-rates?currency=BTC → {"data": {"currency": "BTC", "rates": {"USD": "4360.60"}}}.

    The answer is for one base, so there is one request per crypto."""

    name = "coinbase"
    default_url = "https://api.coinbase.com"

    def requests(self, *, cryptos: Sequence[str], fiats: Sequence[str], now: datetime) -> list[Request]:
        return [
            Request(
                crypto,
                "/v2/exchange-rates",
                {"currency": self._currency(crypto)},
                functools.partial(self.parse, cryptos=[crypto], fiats=fiats, now=now),
            )
            for crypto in self.served(cryptos)
        ]

    def _currency(self, crypto: str) -> str:
        found = self.listing(crypto)
        assert found is not None  # served() checked
        return found.id

    def parse(self, body: bytes, *, cryptos: Sequence[str], fiats: Sequence[str], now: datetime) -> FetchResult:
        """The answer is for one base: the one crypto of `cryptos` it was asked for."""
        (crypto,) = self.served(cryptos)
        data = load_json(body)
        if isinstance(data, dict) and data.get("errors"):
            raise ProviderError(f"error: {data['errors']!r}")
        payload = data.get("data") if isinstance(data, dict) else None
        if not isinstance(payload, dict) or not isinstance(payload.get("rates"), dict):
            raise ProviderError("no 'data.rates' object")
        if payload.get("currency") != self._currency(crypto):
            # Rates of another base would price every invoice wrongly by a factor.
            raise ProviderError(f"base is {payload.get('currency')!r}, not {self._currency(crypto)}")
        rates = payload["rates"]
        result = FetchResult()
        for fiat in self.wanted(crypto, fiats):
            if fiat not in rates:
                continue
            pair = f"{crypto}/{fiat}"
            if (rate := rate_value(rates[fiat], result=result, provider=self.name, pair=pair)) is not None:
                result.observations.append(Observation(self.name, pair, rate, now))
        return result


class Bitstamp(Provider):
    """GET /api/v2/ticker/btcusd/ → {"timestamp": "1666808829", "last": "20800", ...}; one request per pair."""

    name = "bitstamp"
    default_url = "https://www.bitstamp.net"

    def requests(self, *, cryptos: Sequence[str], fiats: Sequence[str], now: datetime) -> list[Request]:
        requests = []
        for crypto in self.served(cryptos):
            found = self.listing(crypto)
            assert found is not None  # served() checked
            for fiat in self.wanted(crypto, fiats):
                parse = functools.partial(self.parse, cryptos=[crypto], fiats=[fiat], now=now)
                requests.append(Request(f"{crypto}/{fiat}", f"/api/v2/ticker/{found.id}{fiat.lower()}/", None, parse))
        return requests

    def parse(self, body: bytes, *, cryptos: Sequence[str], fiats: Sequence[str], now: datetime) -> FetchResult:
        """The body does not say its pair: it is the first crypto and fiat, the ones that were asked for."""
        data = load_json(body)
        if not isinstance(data, dict) or "last" not in data:
            raise ProviderError("no 'last' field")
        result = FetchResult()
        pair = f"{cryptos[0]}/{fiats[0]}"
        if (rate := rate_value(data["last"], result=result, provider=self.name, pair=pair)) is not None:
            result.observations.append(Observation(self.name, pair, rate, _observed_at(data.get("timestamp"), now)))
        return result


class Blockchain(Provider):
    """GET /ticker → {"USD": {"15m": 33438.82, "last": 33438.82, ...}, "EUR": {...}}: BTC only."""

    name = "blockchain"
    default_url = "https://blockchain.info"

    def requests(self, *, cryptos: Sequence[str], fiats: Sequence[str], now: datetime) -> list[Request]:
        cryptos = self.served(cryptos)
        if not cryptos:
            return []
        parse = functools.partial(self.parse, cryptos=cryptos, fiats=fiats, now=now)
        return [Request(",".join(cryptos), "/ticker", None, parse)]

    def parse(self, body: bytes, *, cryptos: Sequence[str], fiats: Sequence[str], now: datetime) -> FetchResult:
        data = load_json(body)
        if not isinstance(data, dict):
            raise ProviderError("not a JSON object")
        result = FetchResult()
        for crypto in self.served(cryptos):
            for fiat in self.wanted(crypto, fiats):
                entry = data.get(fiat)
                if entry is None:
                    continue
                pair = f"{crypto}/{fiat}"
                raw = entry.get("last") if isinstance(entry, dict) else entry
                if (rate := rate_value(raw, result=result, provider=self.name, pair=pair)) is not None:
                    result.observations.append(Observation(self.name, pair, rate, now))
        if not result.observations and not result.rejected and fiats:
            raise ProviderError("no requested currency in the ticker")
        return result


ECB_NAMESPACE = "{http://www.ecb.int/vocabulary/2002-08-01/eurofxref}"
# The ECB publishes its reference rates around 16:00 CET on working days.
ECB_PUBLICATION = time(16, 0, tzinfo=ZoneInfo("Europe/Berlin"))


class Ecb(Provider):
    """GET /stats/eurofxref/eurofxref-daily.xml: EUR-based fiat rates (1 EUR = rate units), no BTC.

    Observations are dated at the ECB reference time, not the fetch time, so their staleness is
    judged by how old the rates are, not by how recently we downloaded an old file.
    """

    name = "ecb"
    default_url = "https://www.ecb.europa.eu"
    min_interval_seconds = 15 * 60

    def requests(self, *, cryptos: Sequence[str], fiats: Sequence[str], now: datetime) -> list[Request]:
        parse = functools.partial(self.parse, cryptos=cryptos, fiats=fiats, now=now)
        return [Request("EUR", "/stats/eurofxref/eurofxref-daily.xml", None, parse)]

    def parse(self, body: bytes, *, cryptos: Sequence[str], fiats: Sequence[str], now: datetime) -> FetchResult:
        if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
            # The real file has neither; refusing them keeps entity expansion out of the parser.
            raise ProviderError("XML with a DTD")
        try:
            root = ET.fromstring(body)
        except ET.ParseError as exc:
            raise ProviderError(f"not XML: {body[:80]!r}") from exc
        day = root.find(f".//{ECB_NAMESPACE}Cube[@time]")
        if day is None:
            raise ProviderError("no Cube[@time] element")
        try:
            date = datetime.strptime(day.get("time", ""), "%Y-%m-%d").date()
        except ValueError as exc:
            raise ProviderError(f"bad reference date {day.get('time')!r}") from exc
        observed_at = min(datetime.combine(date, ECB_PUBLICATION).astimezone(UTC), now)
        result = FetchResult()
        # Every fiat we know, not only the requested ones: cross rates need USD and the target.
        for cube in day.findall(f"{ECB_NAMESPACE}Cube"):
            currency = (cube.get("currency") or "").upper()
            if currency not in FIAT_CURRENCIES:
                continue
            pair = f"EUR/{currency}"
            if (rate := rate_value(cube.get("rate"), result=result, provider=self.name, pair=pair)) is not None:
                result.observations.append(Observation(self.name, pair, rate, observed_at))
        if not result.observations and not result.rejected:
            raise ProviderError("no rates in the file")
        return result


CRYPTO_PROVIDERS: dict[str, Provider] = {
    p.name: p for p in (CoinGecko(), Kraken(), Coinbase(), Bitstamp(), Blockchain())
}
FIAT_PROVIDERS: dict[str, Provider] = {"ecb": Ecb()}
ALL_PROVIDERS: dict[str, Provider] = {**CRYPTO_PROVIDERS, **FIAT_PROVIDERS}


@conf.cached
def enabled_providers() -> tuple[str, ...]:
    """Crypto providers the collector polls (ECB, the fiat source, is controlled by RATES_ECB_ENABLED)."""
    value = conf.setting("RATES_PROVIDERS", "list", list(CRYPTO_PROVIDERS))
    if isinstance(value, str):
        value = value.split(",")
    return tuple(name.strip().lower() for name in value if name.strip().lower() in CRYPTO_PROVIDERS)
