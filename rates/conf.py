"""Configuration of the rate service.

Each value is read from Django settings first (so tests can override it with the `settings` fixture
and a later settings/base.py can own it) and otherwise from the environment through django-environ.
All variables are listed in .env.example under "Exchange rates".
"""

import functools
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import environ
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from coins import registry
from rates.cryptos import CRYPTOS

env = environ.Env()
logger = logging.getLogger(__name__)

_MISSING = object()
_T = TypeVar("_T")
_values: dict[str, Any] = {}


def setting(name: str, cast: str, default: Any) -> Any:
    value = getattr(settings, name, _MISSING)
    if value is not _MISSING:
        return value
    return getattr(env, cast)(name, default=default)


def cached(func: Callable[[], _T]) -> Callable[[], _T]:
    """Computed once per process: rate_get reads several of these per call and must stay cheap.
    Django's setting_changed (override_settings, pytest's `settings`) drops them all."""

    @functools.wraps(func)
    def wrapper() -> _T:
        try:
            return _values[func.__name__]
        except KeyError:
            value = _values[func.__name__] = func()
            return value

    return wrapper


@receiver(setting_changed)
def _forget(**kwargs: Any) -> None:
    _values.clear()


@cached
def max_age_seconds() -> int:
    """A crypto quote older than this is never used to price an invoice."""
    return int(setting("RATES_MAX_AGE_SECONDS", "int", 600))


@cached
def fiat_max_age_seconds() -> int:
    """Bound for ECB fiat-to-fiat rates, measured from the ECB reference time.

    The ECB publishes on TARGET working days only, so Friday's rates are normally still the newest
    on Monday afternoon: four days covers weekends and single holidays.
    """
    return int(setting("RATES_FIAT_MAX_AGE_SECONDS", "int", 4 * 24 * 3600))


@cached
def fetch_timeout_seconds() -> float:
    return float(setting("RATES_FETCH_TIMEOUT_SECONDS", "float", 5.0))


@cached
def deadline_seconds() -> float:
    """Total time one collector run may spend waiting on providers."""
    return float(setting("RATES_DEADLINE_SECONDS", "float", 15.0))


@cached
def retention_days() -> int:
    return int(setting("RATES_RETENTION_DAYS", "int", 30))


@cached
def recent_invoice_hours() -> int:
    """Currencies invoiced within this window keep being refreshed."""
    return int(setting("RATES_RECENT_INVOICE_HOURS", "int", 24))


@cached
def configured_currencies() -> tuple[str, ...]:
    value = setting("RATES_CURRENCIES", "list", ["USD", "EUR"])
    if isinstance(value, str):
        value = value.split(",")
    return tuple(code.strip().upper() for code in value if code.strip())


@cached
def cryptos() -> tuple[str, ...]:
    """Cryptos the collector polls and pricing accepts (RATES_CRYPTOS, a comma list of CRYPTOS keys).

    Unset, it is the enabled coins (BITCART_CRYPTOS). An unknown symbol is left out loudly rather than
    stopping every rate: the others still have to price invoices.
    """
    value = setting("RATES_CRYPTOS", "list", [])
    if not value:  # unset: every enabled coin (coins.registry) that the table knows how to quote
        return tuple(coin.symbol for coin in registry.coins() if coin.symbol in CRYPTOS)
    if isinstance(value, str):
        value = value.split(",")
    symbols = tuple(dict.fromkeys(code.strip().upper() for code in value if code.strip()))
    unknown = [code for code in symbols if code not in CRYPTOS]
    if unknown:
        logger.error("rates: RATES_CRYPTOS names unknown crypto(s) %s; known: %s", unknown, ", ".join(CRYPTOS))
    return tuple(code for code in symbols if code in CRYPTOS)


@cached
def ecb_enabled() -> bool:
    return bool(setting("RATES_ECB_ENABLED", "bool", True))


@cached
def default_max_deviation_percent() -> Decimal:
    return Decimal(str(setting("RATES_MAX_DEVIATION_PERCENT", "str", "5")))


def provider_url(name: str, default: str) -> str:
    return str(setting(f"RATES_{name.upper()}_URL", "str", default)).rstrip("/")


@cached
def cache_namespace() -> str:
    """Prefix of every cache key this app writes; tests give each test its own."""
    return str(setting("RATES_CACHE_NAMESPACE", "str", "rates:v1"))


@cached
def user_agent() -> str:
    return str(setting("RATES_USER_AGENT", "str", "bitcart-django rates (+https://bitcart.ai)"))
