"""Reads behind the checkout page: the invoice with what the buyer must see, in as few queries as
possible (the page is the hottest one the server has)."""

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from bitcart.money import btc_to_sat, format_btc, is_crypto, quantize
from invoices.effects import invoice_public_state
from invoices.models import OPEN_STATUSES, Invoice, InvoiceProduct, InvoiceStatus, PaymentMethod
from invoices.services import payment_url

# Statuses after which nothing the payment pipeline does changes the page any more.
FINAL_STATUSES = (InvoiceStatus.COMPLETE, InvoiceStatus.INVALID, InvoiceStatus.REFUNDED)


@dataclass(frozen=True)
class MethodRow:
    id: str
    currency: str
    amount: int
    rate: Decimal
    rate_source: str
    address: str
    payment_url: str


@dataclass(frozen=True)
class ProductLine:
    name: str
    count: int
    price: Decimal


@dataclass(frozen=True)
class MethodView:
    id: str
    currency: str
    address: str
    amount_sat: int
    amount: str  # BTC, 8 places
    remaining_sat: int
    remaining: str
    payment_url: str  # BIP21 for the remaining amount
    rate: Decimal
    rate_source: str


# Only the columns the page shows: the ORM's per-column work is most of this page's server time.
INVOICE_FIELDS = (
    "id",
    "price",
    "currency",
    "status",
    "exception_status",
    "sent_amount",
    "paid_currency",
    "expiration",
    "expires_at",
    "required_confirmations",
    "buyer_email",
    "shipping_address",
    "redirect_url",
    "promocode",
    "store__id",
    "store__name",
    "store__custom_logo",
    "store__use_dark_mode",
    "store__email_required",
    "store__ask_address",
)


def checkout_invoice_get(*, invoice_id: str) -> Invoice | None:
    return Invoice.objects.select_related("store").only(*INVOICE_FIELDS).filter(pk=invoice_id).first()


@lru_cache(maxsize=4096)
def _invoice_parts(invoice_id: str) -> tuple[tuple[MethodRow, ...], tuple[ProductLine, ...]]:
    """An invoice's payment methods and order lines, kept per process.

    They are written with the invoice in one transaction and never change afterwards (an address
    belongs to its invoice for good), so once the invoice is visible they are complete, and a page
    that is reloaded and polled needs one query instead of three.
    """
    methods = tuple(
        MethodRow(*row)
        for row in PaymentMethod.objects.filter(invoice_id=invoice_id)
        .order_by("created")
        .values_list("id", "currency", "amount", "rate", "rate_source", "address", "payment_url")
    )
    lines = tuple(
        ProductLine(*row)
        for row in InvoiceProduct.objects.filter(invoice_id=invoice_id)
        .order_by("id")
        .values_list("product__name", "count", "price")
    )
    return methods, lines


def checkout_products(invoice: Invoice) -> tuple[ProductLine, ...]:
    return _invoice_parts(invoice.pk)[1]


def checkout_state_get(*, invoice_id: str) -> dict | None:
    """The live-update message (same shape as the websocket push), for the polling fallback."""
    invoice = (
        Invoice.objects.only("id", "status", "exception_status", "sent_amount", "paid_currency")
        .filter(pk=invoice_id)
        .first()
    )
    return None if invoice is None else invoice_public_state(invoice)


def method_view(invoice: Invoice, method: MethodRow) -> MethodView:
    """The amount still due on one payment method, and the BIP21 URI asking exactly that.

    `sent_amount` is what the best-paid method received; with one wallet (the common case) it is
    this method's. Never below zero: overpayment shows as nothing left to pay.
    """
    sent_sat = btc_to_sat(invoice.sent_amount) if invoice.paid_currency in ("", method.currency) else 0
    remaining = max(method.amount - sent_sat, 0)
    if remaining == method.amount:
        url = method.payment_url
    else:
        url = payment_url(address=method.address, amount_sat=remaining, label=f"{invoice.store.name} {invoice.pk}")
    return MethodView(
        id=method.id,
        currency=method.currency,
        address=method.address,
        amount_sat=method.amount,
        amount=format_btc(method.amount),
        remaining_sat=remaining,
        remaining=format_btc(remaining),
        payment_url=url,
        rate=method.rate,
        rate_source=method.rate_source,
    )


def checkout_methods(invoice: Invoice) -> list[MethodView]:
    return [method_view(invoice, method) for method in _invoice_parts(invoice.pk)[0]]


def fiat_rate_display(invoice: Invoice, method: MethodView) -> str:
    """'1 BTC = 65,000.00 USD' for fiat-priced invoices; empty when the price is already in BTC."""
    if is_crypto(invoice.currency):
        return ""
    return f"1 {method.currency} = {quantize(method.rate, invoice.currency):,} {invoice.currency}"


def invoice_needs_details(invoice: Invoice) -> bool:
    """Whether the buyer must give an e-mail or shipping address before seeing where to pay."""
    if invoice.status != InvoiceStatus.PENDING:
        return False
    store = invoice.store
    return (store.email_required and not invoice.buyer_email) or (store.ask_address and not invoice.shipping_address)


def is_open(invoice: Invoice) -> bool:
    return invoice.status in OPEN_STATUSES
