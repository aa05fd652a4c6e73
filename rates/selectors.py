"""Reads for the rate service: history, health, current cached rates, currencies in use."""

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.core.cache import cache
from django.db.models import QuerySet
from django.utils import timezone

from bitcart.money import FIAT_CURRENCIES
from invoices.models import Invoice
from rates import conf
from rates.keys import DEMAND_TTL, demand_key, pair_key
from rates.models import ProviderHealth, RateObservation, StoreRateRules
from rates.providers import ALL_PROVIDERS
from stores.models import Store


def rate_history(
    *, pair: str, since: datetime, until: datetime | None = None, provider: str | None = None
) -> QuerySet[RateObservation]:
    """Observations of a pair, oldest first (served by the (pair, fetched_at) index)."""
    queryset = RateObservation.objects.filter(pair=pair.upper(), fetched_at__gte=since)
    if until is not None:
        queryset = queryset.filter(fetched_at__lt=until)
    if provider:
        queryset = queryset.filter(provider=provider)
    return queryset.order_by("fetched_at", "id")


def rate_pairs_recorded(*, since: datetime) -> list[str]:
    return sorted(RateObservation.objects.filter(fetched_at__gte=since).values_list("pair", flat=True).distinct())


def provider_health_list() -> QuerySet[ProviderHealth]:
    return ProviderHealth.objects.order_by("provider")


def rates_current(*, pair: str) -> dict[str, tuple[Decimal, datetime]]:
    """What each provider last reported for a pair, straight from the cache (stale ones included)."""
    found = cache.get(pair_key(pair.upper())) or {}
    return {
        name: (rate, datetime.fromtimestamp(observed, tz=UTC))
        for name, (rate, observed) in found.items()
        if name in ALL_PROVIDERS
    }


def store_rate_rules_get(*, store: Store) -> StoreRateRules:
    """The store's rules, or unsaved defaults: a store never needs a row to be priced."""
    return StoreRateRules.objects.filter(store=store).first() or StoreRateRules(store=store)


def store_get_owned(*, store_id: str, user) -> Store | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return Store.objects.filter(pk=store_id, owner=user).first()


def rates_currencies_in_use() -> list[str]:
    """Fiats to collect: configured, stores' defaults, recently invoiced, and recently asked for."""
    codes = set(conf.configured_currencies())
    codes |= set(Store.objects.values_list("default_currency", flat=True).distinct())
    recent = timezone.now() - timedelta(hours=conf.recent_invoice_hours())
    codes |= set(Invoice.objects.filter(created__gte=recent).values_list("currency", flat=True).distinct())
    codes |= set(rates_demanded())
    return sorted({code.upper() for code in codes if code and code.upper() in FIAT_CURRENCIES})


def rates_demanded() -> list[str]:
    """Currencies someone failed to price in lately (see services.rate_unavailable_notify)."""
    cutoff = time.time() - DEMAND_TTL
    return sorted(code for code, since in (cache.get(demand_key()) or {}).items() if since >= cutoff)
