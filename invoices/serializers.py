"""The invoice API's input serializers, and the output ones that document (for the OpenAPI schema)
what invoices.payloads renders. Amounts are strings; nothing here writes."""

import json
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.utils.encoders import JSONEncoder

from bitcart.api import OutputSerializer
from invoices.models import ExceptionStatus, Invoice, InvoiceStatus, Payment
from invoices.payloads import invoice_owner_payload, invoice_public_payload, invoice_snapshot_prefetch


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
    """One way to pay (Bitcart's `payments[]` entry); rendered by invoices.payloads."""

    id = serializers.CharField()
    wallet_id = serializers.CharField()
    currency = serializers.CharField()
    symbol = serializers.CharField()
    name = serializers.CharField()
    chain = serializers.CharField(help_text='The chain it is paid on ("btc", "eth"): GET /api/cryptos.')
    contract = serializers.CharField(help_text='The ERC-20 contract of a token; "" for a native coin.')
    lightning = serializers.BooleanField()
    payment_address = serializers.CharField()
    address = serializers.CharField()
    amount = serializers.CharField(help_text="To pay, in coin units with `divisibility` decimals.")
    amount_units = serializers.CharField(help_text="The same in the coin's smallest unit, an integer as a string.")
    divisibility = serializers.IntegerField(help_text="The coin's decimals.")
    rate = serializers.CharField()
    rate_str = serializers.CharField()
    payment_url = serializers.CharField()
    confirmations = serializers.IntegerField()
    is_used = serializers.BooleanField()
    user_address = serializers.CharField(allow_null=True)
    label = serializers.CharField()  # type: ignore[assignment]  # Bitcart's field name
    created = serializers.DateTimeField()


class PaymentSerializer(OutputSerializer):
    """One received output (txid:vout) of the invoice's ledger; rendered by invoices.payloads."""

    payment_method = serializers.CharField()
    currency = serializers.CharField()
    address = serializers.CharField()
    txid = serializers.CharField()
    vout = serializers.IntegerField()
    amount = serializers.CharField(help_text="In coin units, with the coin's decimals.")
    amount_units = serializers.CharField(
        help_text="In the coin's smallest unit (satoshis, wei, token units), an integer as a string."
    )
    height = serializers.IntegerField(allow_null=True)
    confirmations = serializers.IntegerField()
    state = serializers.ChoiceField(choices=Payment.State.choices)
    created = serializers.DateTimeField()


class PublicInvoiceSerializer(OutputSerializer):
    """What anyone with the invoice id (the buyer's checkout page) may see.

    The fields document the shape; invoices.payloads builds it (the same data webhooks carry)."""

    id = serializers.CharField()
    store_id = serializers.CharField()
    price = serializers.CharField()
    currency = serializers.CharField()
    paid_currency = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=InvoiceStatus.choices)
    exception_status = serializers.ChoiceField(choices=ExceptionStatus.choices)
    sent_amount = serializers.CharField(help_text='Received, in `paid_currency` ("0" before any payment).')
    expiration = serializers.IntegerField()
    expiration_seconds = serializers.IntegerField()
    time_left = serializers.IntegerField()
    expires_at = serializers.DateTimeField()
    order_id = serializers.CharField()
    redirect_url = serializers.CharField()
    promocode = serializers.CharField()
    discount = serializers.CharField(allow_null=True)
    products = serializers.ListField(child=serializers.CharField())
    product_names = serializers.DictField(child=serializers.CharField())
    product_quantities = serializers.DictField(child=serializers.IntegerField())
    payments = PaymentMethodSerializer(many=True)
    payment_methods = serializers.ListField(child=serializers.CharField())
    tx_hashes = serializers.ListField(child=serializers.CharField())
    payment_id = serializers.CharField(allow_null=True)
    refund_id = serializers.CharField(allow_null=True)
    paid_date = serializers.DateTimeField(allow_null=True)
    created = serializers.DateTimeField()
    payments_received = PaymentSerializer(many=True)

    def to_representation(self, instance: Invoice) -> dict[str, Any]:
        invoice_snapshot_prefetch(instance)
        return invoice_public_payload(instance)


class InvoiceSerializer(PublicInvoiceSerializer):
    """The owner's view: everything, including buyer data and where notifications go."""

    user_id = serializers.CharField()
    buyer_email = serializers.CharField()
    shipping_address = serializers.CharField()
    notes = serializers.CharField()
    notification_url = serializers.CharField()
    metadata = serializers.JSONField()
    required_confirmations = serializers.IntegerField()
    underpaid_percentage = serializers.DecimalField(max_digits=5, decimal_places=2)
    updated = serializers.DateTimeField()

    def to_representation(self, instance: Invoice) -> dict[str, Any]:
        invoice_snapshot_prefetch(instance)
        return invoice_owner_payload(instance)


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
