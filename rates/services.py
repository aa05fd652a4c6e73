"""Exchange rates: collecting them (rates_refresh) and pricing with them (rate_get, price_to_units).

The split is deliberate: only the collector talks to providers; pricing reads the shared cache with
one get_many and never waits on the network. A rate is either fresh, agreed on by the sources and
derived from real observations, or pricing is refused with RateUnavailable — never a guess, never 1:1.

Cache layout (Django cache = Redis, shared by every process), under conf.cache_namespace():
    obs:<BASE>/<QUOTE>             → {provider: (rate: Decimal, observed_at: epoch seconds)}, BASE a
                                     crypto (BTC/USD, ETH/EUR) or EUR for the ECB's fiat rates
    rules:<store_id>               → RulesSnapshot
    demand                         → {fiat: epoch seconds}: currencies someone tried to price in
"""

import asyncio
import functools
import logging
import ssl
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

import certifi
import httpx
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError

from bitcart.celery import task_enqueue
from bitcart.errors import ValidationFailed
from bitcart.money import FIAT_CURRENCIES, price_to_units
from rates import conf
from rates.cryptos import CRYPTOS
from rates.errors import ProviderError, RateUnavailable
from rates.keys import DEMAND_TTL, demand_key, notified_key, pair_key, rules_key, throttle_key
from rates.models import (
    CombineMethod,
    ProviderHealth,
    RateIncident,
    RateObservation,
    StoreRateRules,
    fixed_rate_pair,
    split_providers,
)
from rates.providers import ALL_PROVIDERS, CRYPTO_PROVIDERS, FIAT_PROVIDERS, FetchResult, Provider, enabled_providers
from rates.selectors import rates_currencies_in_use
from rates.types import Observation, RateQuote, RulesSnapshot
from stores.models import Store

__all__ = [
    "RateQuote",
    "RateUnavailable",
    "price_to_units",
    "rate_get",
    "rate_incident_record",
    "rate_unavailable_notify",
    "rates_refresh",
    "store_rate_rules_save",
    "store_rate_rules_update",
]

logger = logging.getLogger(__name__)

OBSERVATION_TTL = 7 * 24 * 3600  # staleness is judged from observed_at; the TTL only collects garbage
RULES_TTL = 3600
NOTIFY_THROTTLE_SECONDS = 600  # one incident per store and pair per 10 minutes, not one per checkout
RATE_PLACES = Decimal("1e-8")
CROSS_BASES = ("EUR", "USD")  # ECB quotes every fiat against EUR, and USD is the deepest crypto market
# Crypto→crypto goes through a fiat both are quoted in: USD first, the deepest market for every coin.
COMMON_FIATS = ("USD", "EUR")
RATE_PLACES_CRYPTO = Decimal("1e-12")  # a rate in a crypto (BTC per USDT is ~1e-5) keeps what the columns hold
# Invoice currencies that are an amount of a crypto: (that crypto, units per 1 of it). Every crypto
# we price is its own unit; SATS are BTC's.
UNITS: dict[str, tuple[str, Decimal]] = {
    **{crypto: (crypto, Decimal(1)) for crypto in CRYPTOS},
    "SATS": ("BTC", Decimal(10**8)),  # satoshis per bitcoin
}


# ------------------------------------------------------------------------------------------ pricing


class _NoRate(Exception):
    """One way of pricing a pair failed; the reason ends up in RateUnavailable's message."""


@dataclass(frozen=True)
class _Rate:
    rate: Decimal
    source: str
    observed: float  # epoch seconds of the oldest input
    fixed: bool = False  # a store's fixed rate, not the providers': no spread


def _median(values: list[Decimal]) -> Decimal:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _fresh(
    pair: str, providers: Iterable[str], values: dict[str, Any], now: float, max_age: int
) -> tuple[list[tuple[str, Decimal, float]], list[str]]:
    fresh: list[tuple[str, Decimal, float]] = []
    reasons: list[str] = []
    for provider in providers:
        entry = values.get(pair, {}).get(provider)
        if entry is None:
            reasons.append(f"{provider}: no rate")
            continue
        rate, observed = entry
        age = now - observed
        if age > max_age:
            reasons.append(f"{provider}: stale ({int(age // 60)} min old)")
            continue
        fresh.append((provider, rate, observed))
    return fresh, reasons


def _combine(
    pair: str, providers: Sequence[str], values: dict[str, Any], rules: RulesSnapshot, now: float
) -> tuple[Decimal, str, float]:
    """Median (or preferred) of the fresh quotes that agree with each other."""
    if not providers:
        raise _NoRate(f"{pair}: no provider enabled")
    fresh, reasons = _fresh(pair, providers, values, now, conf.max_age_seconds())
    if not fresh:
        raise _NoRate(f"{pair}: {', '.join(reasons)}")
    center = _median([rate for _, rate, _ in fresh])
    limit = rules.max_deviation_percent
    # A source far from the others is more likely broken (a unit error, a frozen feed) than right.
    agreeing = [item for item in fresh if abs(item[1] - center) * 100 / center <= limit]
    if len(agreeing) * 2 <= len(fresh):
        quotes = ", ".join(f"{name}={rate}" for name, rate, _ in fresh)
        raise _NoRate(f"{pair}: providers disagree by more than {limit}% ({quotes})")
    if rules.combine == CombineMethod.PREFERRED:
        name, rate, observed = agreeing[0]
        return rate, name, observed
    rate = _median([rate for _, rate, _ in agreeing])
    names = ",".join(name for name, _, _ in agreeing)
    return rate, f"median({names})", min(observed for _, _, observed in agreeing)


def _ecb(pair: str, values: dict[str, Any], now: float) -> tuple[Decimal, float]:
    fresh, reasons = _fresh(pair, ["ecb"], values, now, conf.fiat_max_age_seconds())
    if not fresh:
        raise _NoRate(f"{pair}: {', '.join(reasons)}")
    _, rate, observed = fresh[0]
    return rate, observed


def _cross(
    crypto: str,
    fiat: str,
    via: str,
    providers: Sequence[str],
    values: dict[str, Any],
    rules: RulesSnapshot,
    now: float,
) -> tuple[Decimal, str, float]:
    """crypto/fiat = crypto/via × via/fiat, the fiat leg from the ECB (EUR-based)."""
    crypto_rate, source, crypto_observed = _combine(f"{crypto}/{via}", providers, values, rules, now)
    if fiat == "EUR":
        eur_fiat, fiat_observed = Decimal(1), now
    else:
        eur_fiat, fiat_observed = _ecb(f"EUR/{fiat}", values, now)
    with localcontext() as ctx:
        ctx.prec = 40
        if via == "EUR":
            rate = crypto_rate * eur_fiat
            observed = min(crypto_observed, fiat_observed)
        else:
            eur_via, via_observed = _ecb(f"EUR/{via}", values, now)
            rate = crypto_rate * eur_fiat / eur_via
            observed = min(crypto_observed, fiat_observed, via_observed)
    return rate, f"{source}*ecb({via}/{fiat})", observed


def _fixed_rate(rules: RulesSnapshot, crypto: str, fiat: str) -> Decimal | None:
    pair = f"{crypto}/{fiat}"
    return next((rate for key, rate in rules.fixed_rates.items() if fixed_rate_pair(key) == pair), None)


def _crypto_fiat(
    crypto: str, fiat: str, providers: Sequence[str], values: dict[str, Any], rules: RulesSnapshot, now: float
) -> _Rate:
    """A store's fixed rate, else the providers' own quote of the pair, else a cross rate."""
    if (fixed := _fixed_rate(rules, crypto, fiat)) is not None:
        return _Rate(fixed, "fixed", now, fixed=True)
    reasons = []
    try:
        return _Rate(*_combine(f"{crypto}/{fiat}", providers, values, rules, now))
    except _NoRate as exc:
        reasons.append(str(exc))
    for via in CROSS_BASES:
        if via == fiat:
            continue
        try:
            return _Rate(*_cross(crypto, fiat, via, providers, values, rules, now))
        except _NoRate as exc:
            reasons.append(f"via {via}: {exc}")
    raise _NoRate("; ".join(reasons))


def _crypto_crypto(
    paid: str, priced: str, providers: Sequence[str], values: dict[str, Any], rules: RulesSnapshot, now: float
) -> _Rate:
    """Units of `priced` per 1 `paid`: both against a fiat they share, paid/fiat ÷ priced/fiat."""
    reasons = []
    for common in COMMON_FIATS:
        try:
            leg = _crypto_fiat(paid, common, providers, values, rules, now)
            over = _crypto_fiat(priced, common, providers, values, rules, now)
        except _NoRate as exc:
            reasons.append(f"via {common}: {exc}")
            continue
        with localcontext() as ctx:
            ctx.prec = 40
            rate = leg.rate / over.rate
        source = f"{paid}/{common}={leg.source}; {priced}/{common}={over.source}"
        return _Rate(rate, source, min(leg.observed, over.observed), fixed=leg.fixed and over.fixed)
    raise _NoRate("; ".join(reasons))


def _rules_snapshot(rules: StoreRateRules | None) -> RulesSnapshot:
    if rules is None:
        return RulesSnapshot(
            providers=(), combine=CombineMethod.MEDIAN, max_deviation_percent=conf.default_max_deviation_percent()
        )
    return RulesSnapshot(
        providers=tuple(split_providers(rules.providers)),
        combine=rules.combine,
        spread_percent=rules.spread_percent,
        max_deviation_percent=rules.max_deviation_percent,
        fixed_rates={str(k).strip().upper(): Decimal(str(v)) for k, v in (rules.fixed_rates or {}).items()},
    )


def _rules_load(store_id: str) -> RulesSnapshot:
    """Cache miss: read the store's rules (or the defaults) once and cache them."""
    snapshot = _rules_snapshot(StoreRateRules.objects.filter(store_id=store_id).first())
    cache.set(rules_key(store_id), snapshot, timeout=RULES_TTL)
    return snapshot


def _collected(crypto: str) -> None:
    if crypto not in conf.cryptos():
        raise ValidationFailed(
            f"{crypto} is not priced on this server (RATES_CRYPTOS: {', '.join(conf.cryptos()) or 'none'})",
            code="unsupported_currency",
        )


def rate_get(*, store: Store | None, crypto: str, fiat: str) -> RateQuote:
    """The rate to price an invoice of `store` in `fiat`, paid in `crypto`: `fiat` units per 1 `crypto`.

    `crypto` is any coin of rates.cryptos.CRYPTOS that RATES_CRYPTOS collects. `fiat` is the invoice's
    currency: a fiat, or a crypto for invoices priced in crypto, so an invoice priced in BTC and paid
    in ETH asks rate_get(crypto="ETH", fiat="BTC") for BTC per 1 ETH (SATS work the same, ×10^8).
    Between two cryptos the rate goes through a fiat both are quoted in (USD, else EUR):
    ETH/USD ÷ BTC/USD, each leg resolved like any crypto/fiat rate (fixed, direct, cross), the store's
    spread applied once to the result. The same crypto on both sides needs no provider.

    Reads the cache only (one get_many): never a provider, and the database only on a cold rules
    cache. Raises RateUnavailable when no fresh, agreed-on rate exists, and notifies the merchant.
    """
    crypto = (crypto or "").strip().upper()
    fiat = (fiat or "").strip().upper()
    if crypto not in CRYPTOS:
        raise ValidationFailed(f"Unsupported crypto currency: {crypto!r}", code="unsupported_currency")
    priced, units = UNITS.get(fiat, (None, Decimal(1)))
    if priced == crypto:
        return RateQuote(rate=units, source="unit", fetched_at=timezone.now())
    if priced is None and fiat not in FIAT_CURRENCIES:
        raise ValidationFailed(f"Unsupported fiat currency: {fiat!r}", code="unsupported_currency")
    _collected(crypto)
    if priced is not None:
        _collected(priced)

    pair = f"{crypto}/{fiat}"
    enabled = enabled_providers()
    namespace = conf.cache_namespace()
    if priced is None:
        pairs = [f"{crypto}/{fiat}", *(f"{crypto}/{via}" for via in CROSS_BASES if via != fiat)]
        pairs += [f"EUR/{code}" for code in dict.fromkeys((fiat, "USD")) if code != "EUR"]
    else:
        pairs = [f"{code}/{common}" for code in (crypto, priced) for common in COMMON_FIATS] + ["EUR/USD"]
    keys = {pair_key(p, namespace): p for p in pairs}
    store_key = rules_key(store.pk) if store is not None else None
    try:
        found = cache.get_many([store_key, *keys] if store_key else list(keys))
    except RedisError as exc:
        # No cache, no rate: refusing is right, but say why (and don't try to notify through it).
        logger.error("rates: cache unreachable while pricing %s: %s", pair, exc)
        raise RateUnavailable(
            f"No trustworthy {pair} rate: the rate cache is unreachable", extra={"pair": pair}
        ) from exc
    values = {keys[key]: value for key, value in found.items() if key in keys}

    if store is None:
        rules = _rules_snapshot(None)
    elif (cached := found.get(store_key)) is not None:
        rules = cached
    else:
        rules = _rules_load(store.pk)
    if priced is None and (fixed := _fixed_rate(rules, crypto, fiat)) is not None:
        return RateQuote(rate=fixed, source="fixed", fetched_at=timezone.now())

    providers = [p for p in rules.providers if p in enabled] if rules.providers else enabled
    now = time.time()
    try:
        if priced is None:
            result = _crypto_fiat(crypto, fiat, providers, values, rules, now)
        else:
            result = _crypto_crypto(crypto, priced, providers, values, rules, now)
    except _NoRate as exc:
        reason = str(exc)
        rate_unavailable_notify(store_id=store.pk if store is not None else None, pair=pair, reason=reason)
        raise RateUnavailable(f"No trustworthy {pair} rate: {reason}", extra={"pair": pair}) from None

    rate, source = result.rate * units, result.source
    if rules.spread_percent and not result.fixed:
        with localcontext() as ctx:
            ctx.prec = 40
            rate = rate * (100 - rules.spread_percent) / 100
        source = f"{source}-{rules.spread_percent}%"
    places, smallest = (RATE_PLACES, -8) if priced is None else (RATE_PLACES_CRYPTO, -12)
    exponent = rate.as_tuple().exponent
    if isinstance(exponent, int) and exponent < smallest:
        rate = rate.quantize(places, rounding=ROUND_HALF_EVEN)
    return RateQuote(rate=rate, source=source, fetched_at=datetime.fromtimestamp(result.observed, tz=UTC))


# ------------------------------------------------------------------------- refusal and notification


def rate_unavailable_notify(*, store_id: str | None, pair: str, reason: str) -> None:
    """Called whenever pricing is refused. Logs, remembers the currency is wanted, and (at most once
    per store and pair per NOTIFY_THROTTLE_SECONDS) queues rate_incident_record_task.

    Queued directly rather than on commit: the invoice's transaction is about to roll back, and the
    merchant must hear about the refusal all the same. The notifications feature hooks in there.
    """
    logger.warning("rates: refused to price %s (store %s): %s", pair, store_id or "-", reason)
    _demand_add(pair.split("/", 1)[1])
    if not cache.add(notified_key(store_id or "-", pair), 1, timeout=NOTIFY_THROTTLE_SECONDS):
        return
    try:
        # By name: rates.tasks imports this module.
        task_enqueue("rates.tasks.rate_incident_record_task", store_id=store_id, pair=pair, reason=reason[:1000])
    except BrokerError:
        logger.error("rates: could not queue the incident for %s (store %s)", pair, store_id, exc_info=True)


def rate_incident_record(*, store_id: str | None, pair: str, reason: str) -> RateIncident:
    """Records a refused pricing. The notifications issue extends this (Apprise, e-mail)."""
    if store_id is not None and not Store.objects.filter(pk=store_id).exists():
        store_id = None  # the store is gone; keep the incident for the operator
    return RateIncident.objects.create(store_id=store_id, pair=pair, reason=reason[:1000])


def _demand_add(fiat: str) -> None:
    """A currency someone failed to price in gets collected from the next run on."""
    if fiat not in FIAT_CURRENCIES:
        return
    demand = cache.get(demand_key()) or {}
    if fiat not in demand:
        demand[fiat] = time.time()
        cache.set(demand_key(), demand, timeout=DEMAND_TTL)


# -------------------------------------------------------------------------------------------- rules


def store_rate_rules_update(*, store: Store, **fields: Any) -> StoreRateRules:
    """Create or change a store's rate rules (validated), and make pricing see them at once."""
    with transaction.atomic():
        rules, _ = StoreRateRules.objects.select_for_update().get_or_create(store=store)
        for name, value in fields.items():
            if name not in {"providers", "combine", "spread_percent", "max_deviation_percent", "fixed_rates"}:
                raise ValidationFailed(f"Unknown rate rule {name!r}", code="invalid_rate_rules")
            setattr(rules, name, value)
        try:
            rules.full_clean()
        except ValidationError as exc:
            raise ValidationFailed(
                "; ".join(exc.messages), code="invalid_rate_rules", extra={"errors": exc.message_dict}
            ) from exc
        rules.save()
        store_rate_rules_save(rules=rules, saved=True)
    return rules


def store_rate_rules_save(*, rules: StoreRateRules, saved: bool = False) -> StoreRateRules:
    """Save already-validated rules (the admin form validated them) and drop the cached snapshot."""
    if not saved:
        rules.save()
    key = rules_key(rules.store_id)
    cache.delete(key)
    # Again after commit: a price computed meanwhile may have re-cached the old rules.
    transaction.on_commit(lambda: cache.delete(key))
    return rules


# ---------------------------------------------------------------------------------------- collector


def _outcome_error(outcome: object) -> str:
    if isinstance(outcome, ProviderError):
        return str(outcome)
    if isinstance(outcome, httpx.TimeoutException):
        return f"timeout ({type(outcome).__name__})"
    if isinstance(outcome, httpx.HTTPError):
        return f"{type(outcome).__name__}: {outcome}"
    return repr(outcome)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~0.1 s; once per process is enough.
    return ssl.create_default_context(cafile=certifi.where())


async def _fetch_all(
    providers: list[Provider], cryptos: list[str], fiats: list[str], now: datetime
) -> dict[str, object]:
    """All providers at once, within one total deadline; a late provider is cancelled, not awaited."""
    deadline = conf.deadline_seconds()
    headers = {"User-Agent": conf.user_agent(), "Accept": "application/json, application/xml;q=0.9"}
    async with httpx.AsyncClient(
        headers=headers, timeout=conf.fetch_timeout_seconds(), verify=_ssl_context()
    ) as client:
        tasks = {asyncio.create_task(p.fetch(client, cryptos=cryptos, fiats=fiats, now=now)): p.name for p in providers}
        if not tasks:
            return {}
        _, pending = await asyncio.wait(tasks, timeout=deadline)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    outcomes: dict[str, object] = {}
    for task, name in tasks.items():
        if task in pending:
            outcomes[name] = ProviderError(f"no answer within the {deadline}s deadline")
        elif (exc := task.exception()) is not None:
            outcomes[name] = exc
        else:
            outcomes[name] = task.result()
    return outcomes


def _health_record(name: str, *, ok: bool, error: str, rejected: int, now: datetime) -> None:
    ProviderHealth.objects.get_or_create(provider=name)
    changes: dict[str, Any] = {"rejected_values": F("rejected_values") + rejected, "updated": now}
    if ok:
        changes.update(last_success_at=now, consecutive_failures=0)
    else:
        changes.update(consecutive_failures=F("consecutive_failures") + 1, total_failures=F("total_failures") + 1)
    if error:
        changes.update(last_error_at=now, last_error=error[:500])
    ProviderHealth.objects.filter(provider=name).update(**changes)


def _store_observations(observations: list[Observation]) -> int:
    """Current rates into the cache; history rows for those not already recorded. Returns rows written.

    Read-modify-write of each pair's entry: a provider that failed this run keeps its last value (so
    its staleness can be reported). Two overlapping runs could drop one update; the next run restores it.
    """
    if not observations:
        return 0
    keys = {o.pair: pair_key(o.pair) for o in observations}
    previous = cache.get_many(list(keys.values()))
    current: dict[str, dict[str, tuple[Decimal, float]]] = {
        pair: dict(previous.get(key) or {}) for pair, key in keys.items()
    }
    rows = []
    for o in observations:
        entry = (o.rate, o.observed_at.timestamp())
        # The ECB file changes once a day: the same (rate, time) fetched again is not a new observation.
        if current[o.pair].get(o.provider) != entry:
            rows.append(
                RateObservation(
                    provider=o.provider,
                    pair=o.pair,
                    rate=o.rate.quantize(Decimal("1e-12"), rounding=ROUND_HALF_EVEN),
                    fetched_at=o.observed_at,
                )
            )
        current[o.pair][o.provider] = entry
    cache.set_many({keys[pair]: entries for pair, entries in current.items()}, timeout=OBSERVATION_TTL)
    RateObservation.objects.bulk_create(rows)
    return len(rows)


def _outliers(observations: list[Observation]) -> list[str]:
    """Sources far from the others' median: pricing leaves them out, the operator should know why."""
    limit = conf.default_max_deviation_percent()
    by_pair: dict[str, list[Observation]] = {}
    for o in observations:
        if o.base in CRYPTOS:  # the ECB's EUR/... come from one source: nothing to compare
            by_pair.setdefault(o.pair, []).append(o)
    found = []
    for pair, group in sorted(by_pair.items()):
        if len(group) < 2:
            continue
        center = _median([o.rate for o in group])
        for o in group:
            deviation = abs(o.rate - center) * 100 / center
            if deviation > limit:
                message = f"{o.provider} {pair} = {o.rate} is {deviation:.2f}% from the median {center}"
                logger.warning("rates: %s (limit %s%%)", message, limit)
                found.append(message)
    return found


def rates_refresh(*, currencies: list[str] | None = None, cryptos: list[str] | None = None) -> dict:
    """Fetch every enabled provider concurrently and store what they report.

    `cryptos` defaults to RATES_CRYPTOS (conf.cryptos); a provider that quotes none of them is not
    asked. Run by rates_refresh_task every RATES_REFRESH_SECONDS. Idempotent and safe to overlap:
    each observation is written as it was reported, and health counters use F().
    """
    started = time.monotonic()
    now = timezone.now()
    if currencies is None:
        fiats = rates_currencies_in_use()
    else:
        fiats = sorted({c.strip().upper() for c in currencies if c.strip().upper() in FIAT_CURRENCIES})
    # The cross-rate legs are always needed.
    fiats = sorted(set(fiats) | set(CROSS_BASES))
    if cryptos is None:
        collected = list(conf.cryptos())
    else:
        collected = list(dict.fromkeys(c.strip().upper() for c in cryptos if c.strip().upper() in CRYPTOS))

    providers: list[Provider] = [
        CRYPTO_PROVIDERS[name] for name in enabled_providers() if CRYPTO_PROVIDERS[name].served(collected)
    ]
    skipped = []
    if conf.ecb_enabled():
        for provider in FIAT_PROVIDERS.values():
            if provider.min_interval_seconds and cache.get(throttle_key(provider.name)):
                skipped.append(provider.name)
            else:
                providers.append(provider)

    outcomes = asyncio.run(_fetch_all(providers, collected, fiats, now))

    summary: dict[str, Any] = {"cryptos": collected, "currencies": fiats, "providers": {}, "skipped": skipped}
    observations: list[Observation] = []
    for name, outcome in outcomes.items():
        rejected: list[str] = []
        if isinstance(outcome, FetchResult):
            rejected = outcome.rejected
            observations += outcome.observations
            ok = bool(outcome.observations)
            error = "; ".join(rejected) if ok else ("; ".join(rejected) or "no usable rate in the answer")
            if not ok:
                logger.warning("rates: %s gave no usable rate: %s", name, error)
        else:
            ok = False
            error = _outcome_error(outcome)
            if isinstance(outcome, ProviderError | httpx.HTTPError):
                logger.warning("rates: %s failed: %s", name, error)
            else:
                # A bug in one adapter must not stop the others: record it loudly and go on.
                logger.error("rates: %s failed unexpectedly", name, exc_info=outcome)  # type: ignore[arg-type]
        if ok and ALL_PROVIDERS[name].min_interval_seconds:
            cache.set(throttle_key(name), 1, timeout=ALL_PROVIDERS[name].min_interval_seconds)
        _health_record(name, ok=ok, error=error, rejected=len(rejected), now=now)
        summary["providers"][name] = {
            "ok": ok,
            "observations": len(outcome.observations) if isinstance(outcome, FetchResult) else 0,
            "rejected": len(rejected),
            "error": error,
        }

    summary["outliers"] = _outliers(observations)
    summary["stored"] = _store_observations(observations)
    cutoff = now - timedelta(days=conf.retention_days())
    summary["pruned"], _ = RateObservation.objects.filter(fetched_at__lt=cutoff).delete()
    summary["duration_ms"] = round((time.monotonic() - started) * 1000)
    logger.info(
        "rates: refreshed %d cryptos in %d currencies from %d providers in %d ms",
        len(collected),
        len(fiats),
        sum(1 for p in summary["providers"].values() if p["ok"]),
        summary["duration_ms"],
    )
    return summary
