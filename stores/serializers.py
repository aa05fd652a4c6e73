"""Store-side resources in Bitcart's field names: stores, products, discounts, notifications, templates."""

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from invoices.payloads import format_amount
from invoices.serializers import PriceField
from stores.models import Product, Store

# checkout_settings key → Store field (Bitcart calls the logo "custom_logo_link").
CHECKOUT_FIELDS = {
    "expiration": "expiration",
    "transaction_speed": "transaction_speed",
    "underpaid_percentage": "underpaid_percentage",
    "monitoring_window": "monitoring_window",
    "email_required": "email_required",
    "ask_address": "ask_address",
    "allow_anonymous_invoice_creation": "allow_anonymous_invoice_creation",
    "redirect_url": "redirect_url",
    "custom_logo_link": "custom_logo",
    "use_dark_mode": "use_dark_mode",
}
PUBLIC_CHECKOUT_FIELDS = (
    "expiration",
    "transaction_speed",
    "underpaid_percentage",
    "email_required",
    "ask_address",
    "allow_anonymous_invoice_creation",
    "redirect_url",
    "custom_logo_link",
    "use_dark_mode",
)


class CheckoutSettingsSerializer(serializers.Serializer):
    expiration = serializers.IntegerField(min_value=1, max_value=43200, required=False)
    transaction_speed = serializers.IntegerField(min_value=0, max_value=6, required=False)
    underpaid_percentage = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=Decimal("0"), max_value=Decimal("99.99"), required=False
    )
    monitoring_window = serializers.IntegerField(min_value=0, max_value=43200, required=False)
    email_required = serializers.BooleanField(required=False)
    ask_address = serializers.BooleanField(required=False)
    allow_anonymous_invoice_creation = serializers.BooleanField(required=False)
    redirect_url = serializers.URLField(max_length=1000, required=False, allow_blank=True)
    custom_logo_link = serializers.URLField(max_length=1000, required=False, allow_blank=True)
    use_dark_mode = serializers.BooleanField(required=False)


def checkout_settings(store: Store, keys=tuple(CHECKOUT_FIELDS)) -> dict[str, Any]:
    values = {key: getattr(store, CHECKOUT_FIELDS[key]) for key in keys}
    if "underpaid_percentage" in values:
        values["underpaid_percentage"] = f"{values['underpaid_percentage']:.2f}"
    return values


class PublicStoreSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    default_currency = serializers.CharField()
    checkout_settings = serializers.SerializerMethodField()
    theme_settings = serializers.SerializerMethodField()
    created = serializers.DateTimeField()

    @extend_schema_field(CheckoutSettingsSerializer)
    def get_checkout_settings(self, obj: Store) -> dict:
        return checkout_settings(obj, PUBLIC_CHECKOUT_FIELDS)

    @extend_schema_field({"type": "object"})
    def get_theme_settings(self, obj: Store) -> dict:
        return {}


class StoreSerializer(PublicStoreSerializer):
    user_id = serializers.CharField(source="owner_id")
    email = serializers.CharField()
    wallets = serializers.SerializerMethodField()
    notifications = serializers.SerializerMethodField()
    metadata = serializers.SerializerMethodField()

    @extend_schema_field(CheckoutSettingsSerializer)
    def get_checkout_settings(self, obj: Store) -> dict:
        return checkout_settings(obj)

    @extend_schema_field({"type": "array", "items": {"type": "string"}})
    def get_wallets(self, obj: Store) -> list[str]:
        return [w.pk for w in obj.wallets.all()]

    @extend_schema_field({"type": "array", "items": {"type": "string"}})
    def get_notifications(self, obj: Store) -> list[str]:
        return [n.pk for n in obj.notification_providers.all()]

    @extend_schema_field({"type": "object"})
    def get_metadata(self, obj: Store) -> dict:
        return {}


class StoreWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    default_currency = serializers.CharField(max_length=10, required=False)
    email = serializers.EmailField(required=False, allow_blank=True)
    wallets = serializers.ListField(child=serializers.CharField(max_length=64), required=False, max_length=100)
    checkout_settings = CheckoutSettingsSerializer(required=False)

    def model_fields(self) -> dict[str, Any]:
        """validated data as Store field values (checkout_settings flattened)."""
        data = dict(self.validated_data)
        data.pop("wallets", None)
        for key, value in dict(data.pop("checkout_settings", {}) or {}).items():
            data[CHECKOUT_FIELDS[key]] = value
        return data


class ProductSerializer(serializers.Serializer):
    id = serializers.CharField(read_only=True)
    store_id = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=200)
    price = PriceField()
    quantity = serializers.IntegerField(min_value=-1, max_value=2**31 - 1, required=False, default=-1)
    description = serializers.CharField(max_length=10_000, required=False, allow_blank=True, default="")
    category = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    download_url = serializers.URLField(max_length=1000, required=False, allow_blank=True, default="")
    status = serializers.ChoiceField(choices=Product.Status.choices, required=False, default=Product.Status.ACTIVE)
    image = serializers.SerializerMethodField()
    created = serializers.DateTimeField(read_only=True)

    def to_representation(self, instance: Product) -> dict:
        data = super().to_representation(instance)
        data["price"] = format_amount(instance.price, instance.store.default_currency)
        return data

    @extend_schema_field({"type": "string", "nullable": True})
    def get_image(self, obj: Product) -> str | None:
        return obj.image.url if obj.image else None


class ProductUpdateSerializer(ProductSerializer):
    store_id = None  # type: ignore[assignment]  # a product stays in its store


class DiscountSerializer(serializers.Serializer):
    id = serializers.CharField(read_only=True)
    store_id = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=200)
    percent = serializers.IntegerField(min_value=1, max_value=100)
    promocode = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    end_date = serializers.DateTimeField()
    currencies = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    created = serializers.DateTimeField(read_only=True)


class DiscountUpdateSerializer(DiscountSerializer):
    store_id = None  # type: ignore[assignment]


class NotificationSerializer(serializers.Serializer):
    id = serializers.CharField(read_only=True)
    store_id = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=200)
    url = serializers.CharField(max_length=2000, help_text="An Apprise URL, e.g. json://host/path")
    enabled = serializers.BooleanField(required=False, default=True)
    created = serializers.DateTimeField(read_only=True)


class NotificationUpdateSerializer(NotificationSerializer):
    store_id = None  # type: ignore[assignment]


class TemplateSerializer(serializers.Serializer):
    id = serializers.CharField(read_only=True)
    user_id = serializers.CharField(source="owner_id", read_only=True)
    store_id = serializers.CharField(max_length=64, required=False, allow_null=True, default=None)
    name = serializers.CharField(max_length=100)
    text = serializers.CharField(max_length=100_000)
    created = serializers.DateTimeField(read_only=True)


class TemplateUpdateSerializer(TemplateSerializer):
    store_id = None  # type: ignore[assignment]
