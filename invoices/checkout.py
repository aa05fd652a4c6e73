"""Reads behind the checkout page: the invoice with what the buyer must see, in as few queries as
possible (the page is the hottest one the server has)."""

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from bitcart.money import format_units, is_crypto, quantize, to_units
from coins import evm, registry
from invoices.effects import invoice_public_state
from invoices.methods import payment_uri
from invoices.models import OPEN_STATUSES, Invoice, InvoiceProduct, InvoiceStatus, PaymentMethod

# Statuses after which nothing the payment pipeline does changes the page any more.
FINAL_STATUSES = (InvoiceStatus.COMPLETE, InvoiceStatus.INVALID, InvoiceStatus.REFUNDED)


@dataclass(frozen=True)
class MethodRow:
    id: str
    currency: str
    decimals: int
    amount: int
    rate: Decimal
    rate_source: str
    address: str
    payment_url: str
    chain: str  # the wallet's currency: its chain's symbol


@dataclass(frozen=True)
class ProductLine:
    name: str
    count: int
    price: Decimal


@dataclass(frozen=True)
class MethodView:
    id: str
    currency: str
    name: str
    family: str  # coins.registry.Family of its chain ("" for a chain no longer enabled)
    decimals: int
    address: str
    amount_units: int
    amount: str  # in coin units, the coin's decimals
    remaining_units: int
    remaining: str
    payment_url: str  # BIP21 / EIP-681 for the remaining amount
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
        .values_list(
            "id", "currency", "decimals", "amount", "rate", "rate_source", "address", "payment_url", "wallet__currency"
        )
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


def _remaining(invoice: Invoice, method: MethodRow, chain: registry.Chain | None) -> int:
    """What is still due on one method, in its smallest unit (never below zero: overpaid is nothing left).

    `sent_amount` is what the best-paid method received, in `paid_currency`: this method's when it is
    the one paid in. An Ethereum-family rest is rounded up to carry the request's payment tag again
    (daemons/eth/README.md), or the top-up would be attributed to nobody."""
    sent = to_units(invoice.sent_amount, method.decimals) if invoice.paid_currency == method.currency else 0
    remaining = max(method.amount - sent, 0)
    tag = registry.payment_tag(method.currency)
    if 0 < remaining < method.amount and tag is not None:
        unit, digits = tag
        remaining = evm.with_tag(remaining, evm.tag_of(method.amount, unit, digits), unit, digits)
    return remaining


def method_view(invoice: Invoice, method: MethodRow) -> MethodView:
    """The amount still due on one payment method, and the URI asking exactly that."""
    chain = registry.registry().chains.get(method.chain.lower())
    coin = registry.registry().coins.get(method.currency)
    remaining = _remaining(invoice, method, chain)
    if remaining == method.amount or chain is None:
        url = method.payment_url
    else:
        url = payment_uri(
            chain=chain,
            currency=method.currency,
            address=method.address,
            units=remaining,
            label=f"{invoice.store.name} {invoice.pk}",
        )
    return MethodView(
        id=method.id,
        currency=method.currency,
        name=coin.name if coin else method.currency,
        family=chain.family.value if chain else "",
        decimals=method.decimals,
        address=method.address,
        amount_units=method.amount,
        amount=format_units(method.amount, method.decimals),
        remaining_units=remaining,
        remaining=format_units(remaining, method.decimals),
        payment_url=url,
        rate=method.rate,
        rate_source=method.rate_source,
    )


def checkout_methods(invoice: Invoice) -> list[MethodView]:
    return [method_view(invoice, method) for method in _invoice_parts(invoice.pk)[0]]


def fiat_rate_display(invoice: Invoice, method: MethodView) -> str:
    """'1 ETH = 3,000.00 USD' for fiat-priced invoices; empty when the price is in a coin. A rate below 10 (a
    stablecoin's 1.0002) keeps up to 6 places: "1 USDT = 1.00 USD" would hide what the buyer is charged."""
    if is_crypto(invoice.currency):
        return ""
    rate = quantize(method.rate, invoice.currency)
    if rate != method.rate and method.rate < 10:
        precise = method.rate.quantize(Decimal("0.000001")).normalize()
        rate = precise if precise.as_tuple().exponent < rate.as_tuple().exponent else rate  # type: ignore[operator]
    return f"1 {method.currency} = {rate:,} {invoice.currency}"


def invoice_needs_details(invoice: Invoice) -> bool:
    """Whether the buyer must give an e-mail or shipping address before seeing where to pay."""
    if invoice.status != InvoiceStatus.PENDING:
        return False
    store = invoice.store
    return (store.email_required and not invoice.buyer_email) or (store.ask_address and not invoice.shipping_address)


def is_open(invoice: Invoice) -> bool:
    return invoice.status in OPEN_STATUSES


def sent_display(invoice: Invoice, methods: list[MethodView]) -> str:
    """What was received, in the paid currency's decimals ("0" before any payment)."""
    paid = next((m for m in methods if m.currency == invoice.paid_currency), None)
    if paid is None:
        return "0"
    return format_units(to_units(invoice.sent_amount, paid.decimals), paid.decimals)
