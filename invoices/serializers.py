"""Invoice representations in Bitcart's field names. Amounts are strings; nothing here writes."""

import json
from decimal import Decimal
from typing import Any

from django.db.models import Prefetch, prefetch_related_objects
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.utils.encoders import JSONEncoder

from bitcart.api import OutputSerializer
from bitcart.money import decimals, format_btc, quantize
from invoices.models import ExceptionStatus, Invoice, InvoiceProduct, InvoiceStatus, Payment, PaymentMethod


def format_amount(amount: Decimal, currency: str) -> str:
    """An amount with exactly its currency's decimal places ("10.50", "0.00100000")."""
    return f"{quantize(Decimal(amount), currency):.{decimals(currency)}f}"


class PriceField(serializers.Field):
    """Input price: a decimal string, or a JSON number (Bitcart's plugins send numbers).

    A JSON number reaches us as a float; its shortest repr ("19.99") is what the client wrote, and
    the service validates the decimal places of that text, so no binary-float value is ever used.
    """

    def to_internal_value(self, data: Any) -> str:
        if isinstance(data, bool) or not isinstance(data, str | int | float):
            raise serializers.ValidationError("A decimal string or number is required.")
        text = repr(data) if isinstance(data, float) else str(data)
        if len(text) > 40:
            raise serializers.ValidationError("Too long.")
        return text.strip()

    def to_representation(self, value: Any) -> str:
        return str(value)


extend_schema_field({"oneOf": [{"type": "string", "maxLength": 40}, {"type": "number"}]})(PriceField)


class PaymentMethodSerializer(OutputSerializer):
    """One way to pay (Bitcart's `payments[]` entry)."""

    id = serializers.CharField()
    wallet_id = serializers.CharField()
    currency = serializers.CharField()
    symbol = serializers.SerializerMethodField()
    name = serializers.CharField(source="currency")
    lightning = serializers.SerializerMethodField()
    payment_address = serializers.CharField(source="address")
    address = serializers.CharField()
    amount = serializers.SerializerMethodField()
    divisibility = serializers.SerializerMethodField()
    rate = serializers.SerializerMethodField()
    rate_str = serializers.SerializerMethodField()
    payment_url = serializers.CharField()
    confirmations = serializers.IntegerField()
    is_used = serializers.BooleanField()
    user_address = serializers.SerializerMethodField()
    label = serializers.SerializerMethodField()  # type: ignore[assignment]  # Bitcart's field name
    created = serializers.DateTimeField()

    def get_symbol(self, obj: PaymentMethod) -> str:
        return obj.currency.lower()

    def get_lightning(self, obj: PaymentMethod) -> bool:
        return False

    def get_amount(self, obj: PaymentMethod) -> str:
        return format_btc(obj.amount)

    def get_divisibility(self, obj: PaymentMethod) -> int:
        return 8

    def _invoice_currency(self, obj: PaymentMethod) -> str:
        return self.context.get("invoice_currency") or obj.invoice.currency

    def get_rate(self, obj: PaymentMethod) -> str:
        return format_amount(obj.rate, self._invoice_currency(obj))

    def get_rate_str(self, obj: PaymentMethod) -> str:
        currency = self._invoice_currency(obj)
        return f"{format_amount(obj.rate, currency)} {currency}"

    @extend_schema_field({"type": "string", "nullable": True})
    def get_user_address(self, obj: PaymentMethod) -> str | None:
        return None

    def get_label(self, obj: PaymentMethod) -> str:
        return ""


def _counted(payments) -> list[Payment]:
    return [p for p in payments if p.state != Payment.State.DROPPED]


class PublicInvoiceSerializer(OutputSerializer):
    """What anyone with the invoice id (the buyer's checkout page) may see."""

    id = serializers.CharField()
    store_id = serializers.CharField()
    price = serializers.SerializerMethodField()
    currency = serializers.CharField()
    paid_currency = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=InvoiceStatus.choices)
    exception_status = serializers.ChoiceField(choices=ExceptionStatus.choices)
    sent_amount = serializers.SerializerMethodField()
    expiration = serializers.IntegerField()
    expiration_seconds = serializers.SerializerMethodField()
    time_left = serializers.SerializerMethodField()
    expires_at = serializers.DateTimeField()
    order_id = serializers.CharField()
    redirect_url = serializers.CharField()
    promocode = serializers.CharField()
    discount = serializers.CharField(source="discount_id", allow_null=True)
    products = serializers.SerializerMethodField()
    product_names = serializers.SerializerMethodField()
    product_quantities = serializers.SerializerMethodField()
    payments = serializers.SerializerMethodField()
    payment_methods = serializers.SerializerMethodField()
    tx_hashes = serializers.SerializerMethodField()
    payment_id = serializers.SerializerMethodField()
    refund_id = serializers.SerializerMethodField()
    paid_date = serializers.DateTimeField(allow_null=True)
    created = serializers.DateTimeField()

    def get_price(self, obj: Invoice) -> str:
        return format_amount(obj.price, obj.currency)

    @extend_schema_field({"type": "string", "nullable": True})
    def get_paid_currency(self, obj: Invoice) -> str | None:
        return obj.paid_currency or None

    def get_sent_amount(self, obj: Invoice) -> str:
        return f"{Decimal(obj.sent_amount):.8f}"

    def get_expiration_seconds(self, obj: Invoice) -> int:
        return obj.expiration * 60

    def get_time_left(self, obj: Invoice) -> int:
        if obj.status != InvoiceStatus.PENDING:
            return 0
        return max(0, int((obj.expires_at - timezone.now()).total_seconds()))

    def _items(self, obj: Invoice):
        return list(obj.invoice_products.all())

    @extend_schema_field({"type": "array", "items": {"type": "string"}})
    def get_products(self, obj: Invoice) -> list[str]:
        return [item.product_id for item in self._items(obj)]

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "string"}})
    def get_product_names(self, obj: Invoice) -> dict[str, str]:
        return {item.product_id: item.product.name for item in self._items(obj)}

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "integer"}})
    def get_product_quantities(self, obj: Invoice) -> dict[str, int]:
        return {item.product_id: item.count for item in self._items(obj)}

    def _methods(self, obj: Invoice) -> list[PaymentMethod]:
        return sorted(obj.payment_methods.all(), key=lambda m: (m.created, m.pk))

    @extend_schema_field(PaymentMethodSerializer(many=True))
    def get_payments(self, obj: Invoice) -> Any:
        context = {**self.context, "invoice_currency": obj.currency}
        return PaymentMethodSerializer(self._methods(obj), many=True, context=context).data

    @extend_schema_field({"type": "array", "items": {"type": "string"}})
    def get_payment_methods(self, obj: Invoice) -> list[str]:
        return [m.pk for m in self._methods(obj)]

    @extend_schema_field({"type": "array", "items": {"type": "string"}})
    def get_tx_hashes(self, obj: Invoice) -> list[str]:
        hashes: list[str] = []
        for method in self._methods(obj):
            for payment in _counted(method.payments.all()):
                if payment.txid not in hashes:
                    hashes.append(payment.txid)
        return hashes

    @extend_schema_field({"type": "string", "nullable": True})
    def get_payment_id(self, obj: Invoice) -> str | None:
        used = [m for m in self._methods(obj) if m.is_used]
        return used[0].pk if used else None

    @extend_schema_field({"type": "string", "nullable": True})
    def get_refund_id(self, obj: Invoice) -> str | None:
        return None


class InvoiceSerializer(PublicInvoiceSerializer):
    """The owner's view: everything, including buyer data and where notifications go."""

    user_id = serializers.SerializerMethodField()
    buyer_email = serializers.CharField()
    shipping_address = serializers.CharField()
    notes = serializers.CharField()
    notification_url = serializers.CharField()
    metadata = serializers.JSONField()
    required_confirmations = serializers.IntegerField()
    underpaid_percentage = serializers.DecimalField(max_digits=5, decimal_places=2)
    updated = serializers.DateTimeField()

    @extend_schema_field(OpenApiTypes.STR)
    def get_user_id(self, obj: Invoice) -> str:
        return str(obj.store.owner_id)


class InvoiceCreateSerializer(serializers.Serializer):
    store_id = serializers.CharField(max_length=64)
    price = PriceField(required=False, allow_null=True)
    currency = serializers.CharField(max_length=10, required=False, allow_blank=True, default="")
    products = serializers.JSONField(required=False, default=dict)
    promocode = serializers.CharField(max_length=100, required=False, allow_blank=True, allow_null=True, default="")
    order_id = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    notification_url = serializers.URLField(
        max_length=2000, required=False, allow_blank=True, allow_null=True, default=""
    )
    redirect_url = serializers.URLField(max_length=2000, required=False, allow_blank=True, allow_null=True, default="")
    buyer_email = serializers.EmailField(required=False, allow_blank=True, allow_null=True, default="")
    shipping_address = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    notes = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    metadata = serializers.DictField(required=False, default=dict)
    expiration = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=43200)

    def validate_products(self, value: Any) -> Any:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        if isinstance(value, dict) and all(isinstance(v, int) and not isinstance(v, bool) for v in value.values()):
            return value
        raise serializers.ValidationError("A list of product ids or an object {product_id: quantity}.")

    def validate_metadata(self, value: dict) -> dict:
        if len(json.dumps(value, cls=JSONEncoder)) > 16_384:
            raise serializers.ValidationError("Too large.")
        return value

    def service_kwargs(self) -> dict[str, Any]:
        data = dict(self.validated_data)
        data.pop("store_id")
        for key in ("promocode", "notification_url", "redirect_url", "buyer_email"):
            data[key] = data.get(key) or ""
        return data


extend_schema_field(
    {
        "oneOf": [
            {"type": "array", "items": {"type": "string"}},
            {"type": "object", "additionalProperties": {"type": "integer"}},
        ]
    }
)(InvoiceCreateSerializer._declared_fields["products"])  # type: ignore[type-var]


class InvoiceUpdateSerializer(serializers.Serializer):
    order_id = serializers.CharField(max_length=255, required=False, allow_blank=True)
    notification_url = serializers.URLField(max_length=2000, required=False, allow_blank=True)
    redirect_url = serializers.URLField(max_length=2000, required=False, allow_blank=True)
    buyer_email = serializers.EmailField(required=False, allow_blank=True)
    shipping_address = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    notes = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    metadata = serializers.DictField(required=False)


class CustomerUpdateSerializer(serializers.Serializer):
    # No defaults: a field left out is left as it is (invoices.customer.invoice_details_update).
    buyer_email = serializers.EmailField(required=False, allow_blank=True)
    shipping_address = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    notes = serializers.CharField(max_length=5000, required=False, allow_blank=True)


def invoice_snapshot_prefetch(invoice: Invoice) -> None:
    """Load the relations invoice_snapshot reads that are not prefetched on `invoice` yet."""
    prefetch_related_objects(
        [invoice],
        "payment_methods__payments",
        Prefetch("invoice_products", queryset=InvoiceProduct.objects.select_related("product")),
        "store",
    )


_encoder = JSONEncoder()


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return str(key)
    return json.dumps(key)  # the spelling json gives a non-string key (1 -> "1", True -> "true")


def plain_json(value: Any) -> Any:
    """What `json.loads(json.dumps(value, cls=JSONEncoder))` gives (plain dicts, lists and
    scalars, a copy), without writing and parsing the text: that round trip was a third of the
    time of a snapshot, which every new invoice and every status change builds."""
    if isinstance(value, dict):
        return {_json_key(key): plain_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_json(item) for item in value]
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):  # and its subclasses (choices, safe strings): the text, as a str
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return plain_json(_encoder.default(value))


def invoice_snapshot(invoice: Invoice) -> dict[str, Any]:
    """The owner's full view as plain JSON data (webhook payloads are frozen copies of it)."""
    invoice_snapshot_prefetch(invoice)
    return plain_json(InvoiceSerializer(invoice).data)
