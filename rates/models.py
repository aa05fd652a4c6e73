from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from bitcart.money import FIAT_CURRENCIES
from rates.cryptos import CRYPTOS
from rates.providers import CRYPTO_PROVIDERS


class RateObservation(models.Model):
    """One rate one provider reported at one time: the history behind every cached rate."""

    provider = models.CharField(max_length=32)
    pair = models.CharField(max_length=16, help_text='Base/quote, e.g. "BTC/USD" or "EUR/PLN".')
    rate = models.DecimalField(max_digits=28, decimal_places=12, help_text="Quote units per 1 base unit.")
    fetched_at = models.DateTimeField(help_text="When the provider says the rate is from.")

    class Meta:
        ordering = ["-fetched_at"]
        indexes = [
            # History of a pair (admin chart, rate_history), optionally per provider.
            models.Index(fields=["pair", "fetched_at"], name="rate_obs_pair_time"),
            models.Index(fields=["provider", "pair", "fetched_at"], name="rate_obs_provider_pair_time"),
            # Retention pruning deletes by age alone.
            models.Index(fields=["fetched_at"], name="rate_obs_time"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.pair} {self.rate} @ {self.fetched_at:%Y-%m-%d %H:%M:%S}"


class ProviderHealth(models.Model):
    """How each provider has been answering; updated by every collector run."""

    provider = models.CharField(max_length=32, primary_key=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    total_failures = models.PositiveBigIntegerField(default=0)
    rejected_values = models.PositiveBigIntegerField(default=0, help_text="Garbage values ignored so far.")
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["provider"]
        verbose_name_plural = "provider health"

    def __str__(self) -> str:
        return self.provider


class CombineMethod(models.TextChoices):
    MEDIAN = "median", "Median of available providers"
    PREFERRED = "preferred", "First available provider, in the listed order"


def _validate_providers(value: str) -> None:
    unknown = [name for name in split_providers(value) if name not in CRYPTO_PROVIDERS]
    if unknown:
        raise ValidationError(f"Unknown provider(s): {', '.join(unknown)}. Known: {', '.join(CRYPTO_PROVIDERS)}.")


def split_providers(value: str) -> list[str]:
    return [name.strip().lower() for name in (value or "").split(",") if name.strip()]


def fixed_rate_pair(key: object) -> str | None:
    """The pair a fixed-rate key stands for: "ETH/USD" as written, a bare fiat "USD" for BTC (the
    original form, from before there was another coin). None if it names no crypto and fiat we know."""
    crypto, _, fiat = str(key).strip().upper().rpartition("/")
    crypto = crypto or "BTC"
    if crypto not in CRYPTOS or fiat not in FIAT_CURRENCIES:
        return None
    return f"{crypto}/{fiat}"


def _validate_fixed_rates(value: object) -> None:
    if not isinstance(value, dict):
        raise ValidationError('Fixed rates must be an object like {"USD": "50000"} or {"ETH/USD": "3000"}.')
    pairs: set[str] = set()
    for currency, rate in value.items():
        pair = fixed_rate_pair(currency)
        if pair is None:
            raise ValidationError(f"Unknown fiat currency or pair {currency!r}.")
        if pair in pairs:
            raise ValidationError(f"{pair} is given twice.")
        pairs.add(pair)
        if isinstance(rate, float | bool) or not isinstance(rate, str | int):
            raise ValidationError(f"The rate for {currency} must be a decimal string.")
        try:
            parsed = Decimal(str(rate))
        except ArithmeticError:
            raise ValidationError(f"The rate for {currency} is not a number.") from None
        if not parsed.is_finite() or parsed <= 0:
            raise ValidationError(f"The rate for {currency} must be positive.")


class StoreRateRules(models.Model):
    """How a store prices invoices, for every crypto. A store without a row uses the defaults."""

    store = models.OneToOneField("stores.Store", on_delete=models.CASCADE, related_name="rate_rules")
    providers = models.CharField(
        max_length=200,
        blank=True,
        validators=[_validate_providers],
        help_text="Comma-separated provider names in order of preference; empty for all enabled providers.",
    )
    combine = models.CharField(max_length=16, choices=CombineMethod.choices, default=CombineMethod.MEDIAN)
    spread_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("50"))],
        help_text="Lowers the rate by this percentage, so the buyer is asked for that much more crypto.",
    )
    max_deviation_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("5"),
        validators=[MinValueValidator(Decimal("0.1")), MaxValueValidator(Decimal("100"))],
        help_text="A source further than this from the median is ignored; if most sources disagree, no rate is given.",
    )
    fixed_rates = models.JSONField(
        default=dict,
        blank=True,
        validators=[_validate_fixed_rates],
        help_text='For testing: pair → fixed rate, e.g. {"ETH/USD": "3000"}; a bare fiat is BTC\'s ({"USD": "50000"}). '
        "Overrides the providers.",
    )
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "store rate rules"
        verbose_name_plural = "store rate rules"

    def __str__(self) -> str:
        return f"Rate rules of {self.store_id}"


class RateIncident(models.Model):
    """A time pricing was refused for lack of a trustworthy rate: the record merchants are notified from."""

    store = models.ForeignKey("stores.Store", on_delete=models.CASCADE, null=True, blank=True)
    pair = models.CharField(max_length=16)
    reason = models.CharField(max_length=1000)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["store", "-created"], name="rate_incident_store_created")]

    def __str__(self) -> str:
        return f"{self.pair}: {self.reason[:60]}"
