"""What the outside world is told about an invoice, built by the domain.

The owner's view (`invoice_snapshot`) is what webhook events freeze and what the API answers the
merchant with; the public view is what anyone holding the invoice id (the checkout page) sees. The
API serializers render these functions; nothing here knows about DRF serializers, so the services,
the webhook outbox and the e-mails can use them without importing the API layer.

Bitcart's field names throughout (integrations depend on them). Amounts are strings: fiat with
its currency's decimal places, coins in coin units with the coin's decimals (`divisibility`), and
base units (satoshis, wei, token units) as integer strings, never JSON numbers (a wei amount does
not fit a double).
"""

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db.models import Prefetch, prefetch_related_objects
from django.utils import timezone
from rest_framework.utils.encoders import JSONEncoder

from bitcart.money import decimals, format_units, quantize
from coins import registry
from invoices.models import Invoice, InvoiceProduct, InvoiceStatus, Payment, PaymentMethod


def format_amount(amount: Decimal, currency: str) -> str:
    """An amount with exactly its currency's decimal places ("10.50", "0.00100000")."""
    return f"{quantize(Decimal(amount), currency):.{decimals(currency)}f}"


def format_datetime(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a "Z" (what DRF's DateTimeField gives with TIME_ZONE = "UTC")."""
    if value is None:
        return None
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


_encoder = JSONEncoder()


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return str(key)
    return json.dumps(key)  # the spelling json gives a non-string key (1 -> "1", True -> "true")


def plain_json(value: Any) -> Any:
    """What `json.loads(json.dumps(value, cls=JSONEncoder))` gives (plain dicts, lists and
    scalars, a copy), without writing and parsing the text (a third of the time of a snapshot)."""
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


def invoice_snapshot_prefetch(invoice: Invoice) -> None:
    """Load the relations the payloads read that are not prefetched on `invoice` yet."""
    prefetch_related_objects(
        [invoice],
        "payment_methods__payments",
        Prefetch("invoice_products", queryset=InvoiceProduct.objects.select_related("product")),
        "store",
    )


def _methods(invoice: Invoice) -> list[PaymentMethod]:
    return sorted(invoice.payment_methods.all(), key=lambda m: (m.created, m.pk))


def _payments(method: PaymentMethod) -> list[Payment]:
    return sorted(method.payments.all(), key=lambda p: (p.created, p.pk or 0))


def payment_method_payload(method: PaymentMethod, *, invoice_currency: str) -> dict[str, Any]:
    """One way to pay (Bitcart's `payments[]` entry)."""
    rate = format_amount(method.rate, invoice_currency)
    coin = registry.registry().coins.get(method.currency)  # None: a coin this server no longer enables
    return {
        "id": method.pk,
        "wallet_id": method.wallet_id,
        "currency": method.currency,
        "symbol": method.currency.lower(),
        "name": coin.name if coin else method.currency,
        "chain": coin.chain if coin else "",
        "contract": coin.contract if coin else "",
        "lightning": False,
        "payment_address": method.address,
        "address": method.address,
        "amount": format_units(method.amount, method.decimals),
        "amount_units": str(method.amount),
        "divisibility": method.decimals,
        "rate": rate,
        "rate_str": f"{rate} {invoice_currency}",
        "payment_url": method.payment_url,
        "confirmations": method.confirmations,
        "is_used": method.is_used,
        "user_address": None,
        "label": "",
        "created": format_datetime(method.created),
    }


def payment_payload(payment: Payment, *, method: PaymentMethod) -> dict[str, Any]:
    """One received output of the ledger (dropped ones included, with their state)."""
    return {
        "payment_method": method.pk,
        "currency": method.currency,
        "address": method.address,
        "txid": payment.txid,
        "vout": payment.vout,
        "amount": format_units(payment.amount, method.decimals),
        "amount_units": str(payment.amount),
        "height": payment.height,
        "confirmations": payment.confirmations,
        "state": payment.state,
        "created": format_datetime(payment.created),
    }


def sent_amount_text(invoice: Invoice) -> str:
    """What was received, in `paid_currency` with that coin's decimals ("0" before any payment). One spelling
    for the API, webhooks, the checkout's live updates and the CSV export."""
    if not invoice.paid_currency:
        return "0"
    places = registry.coin_decimals(invoice.paid_currency)
    amount = Decimal(invoice.sent_amount)
    if places is None:  # a coin this server no longer enables: as exact as stored
        return f"{amount.normalize():f}"
    return f"{amount.quantize(Decimal(1).scaleb(-places)):f}"


def invoice_public_payload(invoice: Invoice, *, now: datetime | None = None) -> dict[str, Any]:
    """What anyone with the invoice id (the buyer's checkout page) may see."""
    methods = _methods(invoice)
    items = list(invoice.invoice_products.all())
    ledger = [payment_payload(p, method=m) for m in methods for p in _payments(m)]
    tx_hashes = list(dict.fromkeys(entry["txid"] for entry in ledger if entry["state"] != Payment.State.DROPPED))
    used = [m for m in methods if m.is_used]
    time_left = 0
    if invoice.status == InvoiceStatus.PENDING:
        time_left = max(0, int((invoice.expires_at - (now or timezone.now())).total_seconds()))
    return {
        "id": invoice.pk,
        "store_id": invoice.store_id,
        "price": format_amount(invoice.price, invoice.currency),
        "currency": invoice.currency,
        "paid_currency": invoice.paid_currency or None,
        "status": invoice.status,
        "exception_status": invoice.exception_status,
        "sent_amount": sent_amount_text(invoice),
        "expiration": invoice.expiration,
        "expiration_seconds": invoice.expiration * 60,
        "time_left": time_left,
        "expires_at": format_datetime(invoice.expires_at),
        "order_id": invoice.order_id,
        "redirect_url": invoice.redirect_url,
        "promocode": invoice.promocode,
        "discount": invoice.discount_id,
        "products": [item.product_id for item in items],
        "product_names": {item.product_id: item.product.name for item in items},
        "product_quantities": {item.product_id: item.count for item in items},
        "payments": [payment_method_payload(m, invoice_currency=invoice.currency) for m in methods],
        "payment_methods": [m.pk for m in methods],
        "tx_hashes": tx_hashes,
        "payment_id": used[0].pk if used else None,
        "refund_id": None,
        "paid_date": format_datetime(invoice.paid_date),
        "created": format_datetime(invoice.created),
        # Beyond Bitcart: every output received, one entry per txid:vout (`payments` above is
        # Bitcart's list of payment methods, kept under its name for existing integrations).
        "payments_received": ledger,
    }


def invoice_owner_payload(invoice: Invoice, *, now: datetime | None = None) -> dict[str, Any]:
    """The owner's view: everything, including buyer data and where notifications go."""
    return {
        **invoice_public_payload(invoice, now=now),
        "user_id": str(invoice.store.owner_id),
        "buyer_email": invoice.buyer_email,
        "shipping_address": invoice.shipping_address,
        "notes": invoice.notes,
        "notification_url": invoice.notification_url,
        "metadata": plain_json(invoice.metadata),
        "required_confirmations": invoice.required_confirmations,
        "underpaid_percentage": f"{Decimal(invoice.underpaid_percentage):.2f}",
        "updated": format_datetime(invoice.updated),
    }


def invoice_snapshot(invoice: Invoice) -> dict[str, Any]:
    """The owner's view as plain JSON data, loading what is not prefetched (webhook payloads
    are frozen copies of it)."""
    invoice_snapshot_prefetch(invoice)
    return invoice_owner_payload(invoice)
