from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from bitcart.models import UlidField, money_field


class Store(models.Model):
    owner_path = "owner"  # the merchant who owns a row, for bitcart.ownership.owned
    id = UlidField()
    name = models.CharField(max_length=200)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="stores")
    default_currency = models.CharField(max_length=10, default="USD")
    email = models.EmailField(blank=True, help_text="Store contact address, used as the e-mail sender.")
    wallets = models.ManyToManyField("wallets.Wallet", related_name="stores", blank=True)
    # Checkout settings (Bitcart's checkout_settings).
    expiration = models.PositiveIntegerField(
        default=15, validators=[MinValueValidator(1), MaxValueValidator(60 * 24 * 30)], help_text="Minutes."
    )
    transaction_speed = models.PositiveSmallIntegerField(
        default=1,
        validators=[MaxValueValidator(6)],
        help_text="Confirmations required before an invoice is complete (0 = accept unconfirmed).",
    )
    underpaid_percentage = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("99.99"))],
    )
    monitoring_window = models.PositiveIntegerField(
        default=24 * 60,
        validators=[MaxValueValidator(60 * 24 * 30)],
        help_text="Minutes an expired invoice's address stays watched for late payments.",
    )
    email_required = models.BooleanField(default=False)
    ask_address = models.BooleanField(default=False)
    allow_anonymous_invoice_creation = models.BooleanField(default=False)
    redirect_url = models.URLField(max_length=1000, blank=True)
    custom_logo = models.URLField(max_length=1000, blank=True)
    use_dark_mode = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    owner_path = "store__owner"  # the merchant who owns a row, for bitcart.ownership.owned

    class Status(models.TextChoices):
        ACTIVE = "active"
        INACTIVE = "inactive"

    UNLIMITED = -1

    id = UlidField()
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="products")
    name = models.CharField(max_length=200)
    price = money_field()
    quantity = models.IntegerField(default=UNLIMITED, validators=[MinValueValidator(UNLIMITED)])
    description = models.TextField(blank=True, max_length=10_000)
    image = models.ImageField(upload_to="products/", blank=True)
    category = models.CharField(max_length=100, blank=True)
    download_url = models.URLField(max_length=1000, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["store", "status"])]

    def __str__(self) -> str:
        return self.name


class Discount(models.Model):
    owner_path = "store__owner"  # the merchant who owns a row, for bitcart.ownership.owned
    id = UlidField()
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="discounts")
    name = models.CharField(max_length=200)
    percent = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(100)])
    promocode = models.CharField(max_length=100, blank=True)
    description = models.TextField(blank=True, max_length=2000)
    end_date = models.DateTimeField()
    # Comma-separated currency codes the discount applies to; empty means all.
    currencies = models.CharField(max_length=200, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["store", "promocode"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.percent}%)"

    @property
    def currency_list(self) -> list[str]:
        return [c.strip().upper() for c in self.currencies.split(",") if c.strip()]


class NotificationProvider(models.Model):
    """Where a store's merchant is notified: an Apprise URL (e.g. json://host/path, mailto://...)."""

    owner_path = "store__owner"  # the merchant who owns a row, for bitcart.ownership.owned

    id = UlidField()
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="notification_providers")
    name = models.CharField(max_length=200)
    url = models.CharField(max_length=2000)
    enabled = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Template(models.Model):
    """Text for e-mails and notifications; a store's own overrides the owner's and the default."""

    owner_path = "owner"  # the merchant who owns a row, for bitcart.ownership.owned

    id = UlidField()
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="templates")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="templates", null=True, blank=True)
    name = models.CharField(max_length=100)
    text = models.TextField(max_length=100_000)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # One name per store, and one among the owner's store-less templates (a plain unique
            # over (owner, store, name) would let NULL stores repeat a name).
            models.UniqueConstraint(
                fields=["owner", "store", "name"], condition=models.Q(store__isnull=False), name="template_unique_name"
            ),
            models.UniqueConstraint(
                fields=["owner", "name"], condition=models.Q(store__isnull=True), name="template_unique_owner_name"
            ),
        ]

    def __str__(self) -> str:
        return self.name
