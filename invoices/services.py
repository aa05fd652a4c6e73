"""Writes of the invoices app: creation, the status machine, payments, expiry, manual actions.

The status of an invoice is *derived* from its Payment rows (amounts and confirmations), its
expiry and manual decisions; events only tell us when to re-derive. So applying the same
information twice, or in another order, gives the same invoice.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_UP, Decimal
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Prefetch, prefetch_related_objects
from django.utils import timezone

from bitcart.errors import TransitionNotAllowed, ValidationFailed
from bitcart.models import prefetched
from bitcart.money import decimals, from_units, normalize_currency, price_to_units, validate_price
from coins import registry
from coins.registry import Coin
from invoices import effects
from invoices.locks import invoice_lock, invoice_lock_by_method, store_lock
from invoices.methods import Ask, places_for
from invoices.models import (
    ExceptionStatus,
    Invoice,
    InvoiceEvent,
    InvoiceProduct,
    InvoiceStatus,
    Payment,
    PaymentMethod,
    StockState,
)
from invoices.payloads import invoice_snapshot, invoice_snapshot_prefetch
from rates.errors import RateUnavailable
from rates.services import rate_get
from stores.models import Product, Store
from stores.services import (
    OutOfStock,
    discount_apply,
    discount_find,
    products_check_stock,
    products_release_stock,
    products_reserve_stock,
)
from wallets.models import Wallet
from webhooks.services import webhook_event_record

S = InvoiceStatus
E = ExceptionStatus

# The allowed-transitions table. Anything not here is refused and changes nothing.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING: frozenset({S.PAID, S.CONFIRMED, S.COMPLETE, S.EXPIRED, S.INVALID}),
    # back to pending: its only payment left the mempool before expiry
    S.PAID: frozenset({S.CONFIRMED, S.COMPLETE, S.PENDING, S.EXPIRED, S.INVALID}),
    # back to paid: a reorg took its confirmation away
    S.CONFIRMED: frozenset({S.COMPLETE, S.PAID, S.PENDING, S.EXPIRED, S.INVALID}),
    S.COMPLETE: frozenset({S.REFUNDED}),
    # a late payment (paid_late) or a merchant's decision
    S.EXPIRED: frozenset({S.PAID, S.CONFIRMED, S.COMPLETE, S.INVALID}),
    S.INVALID: frozenset({S.COMPLETE}),
    S.REFUNDED: frozenset(),
}
# Statuses that only a merchant's action leaves; payments are still recorded in them.
MANUAL_FINAL = frozenset({S.INVALID, S.REFUNDED})
MAX_PRODUCTS = 100
MAX_METADATA_BYTES = 16_384


@dataclass(frozen=True)
class Output:
    """One on-chain output paying an address, as the coin daemon reports it."""

    txid: str
    vout: int
    amount: int  # in the coin's smallest unit
    height: int | None  # None or 0: in the mempool
    confirmations: int


# --- creation -------------------------------------------------------------------------------


def _resolve_products(*, store: Store, products: dict[str, int] | Iterable[str] | None) -> list[tuple[Product, int]]:
    if not products:
        return []
    counts = dict(products) if isinstance(products, dict) else {pid: 1 for pid in products}
    if len(counts) > MAX_PRODUCTS:
        raise ValidationFailed(f"At most {MAX_PRODUCTS} different products per invoice", code="too_many_products")
    found = Product.objects.in_bulk([str(pid) for pid in counts])
    resolved = []
    for product_id, count in counts.items():
        product = found.get(str(product_id))
        if product is None or product.store_id != store.pk or product.status != Product.Status.ACTIVE:
            raise ValidationFailed(f"Product {product_id} not found", code="product_not_found")
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 10_000:
            raise ValidationFailed(f"Invalid quantity for product {product_id}", code="invalid_quantity")
        resolved.append((product, count))
    # Refused here, before an address is taken, in the common case; a race for the last items is
    # decided by the reservation in the invoice's transaction.
    products_check_stock(items=resolved)
    return resolved


def _rate_for(*, store: Store, currency: str, coin: Coin) -> tuple[Decimal, str]:
    """Units of the invoice's currency per 1 `coin`, and where that came from (a fiat, or another coin:
    rate_get crosses them through a common fiat)."""
    if currency == coin.symbol:
        return Decimal(1), "identity"
    quote = rate_get(store=store, crypto=coin.symbol, fiat=currency)
    return quote.rate, quote.source


def _asks(*, store: Store, wallets: list[Wallet], price: Decimal, currency: str) -> list[Ask]:
    """One ask per (wallet × coin of its chain). A coin without a trustworthy rate is left out, unless no
    coin has one: then the first refusal is the answer (the merchant must see why nothing can be paid)."""
    asks: list[Ask] = []
    refused: list[RateUnavailable] = []  # coins without a rate: left out
    rates: dict[str, tuple[Decimal, str]] = {}
    for wallet in wallets:
        try:
            chain = registry.chain(wallet.currency)
        except KeyError:
            continue  # a wallet of a chain this server no longer enables
        for coin in chain.coins:
            if coin.symbol not in rates:
                try:
                    rates[coin.symbol] = _rate_for(store=store, currency=currency, coin=coin)
                except RateUnavailable as exc:
                    refused.append(exc)
                    continue
                except ValidationFailed as exc:
                    if exc.code != "unsupported_currency":  # the rate service quotes no such pair
                        raise
                    refused.append(RateUnavailable(exc.message, extra={"pair": f"{coin.symbol}/{currency}"}))
                    continue
            rate, source = rates[coin.symbol]
            amount = price_to_units(price=price, rate=rate, places=coin.decimals)
            if amount < 1:
                raise ValidationFailed(
                    f"The price is below the smallest unit of {coin.symbol}", code="amount_too_small"
                )
            asks.append(Ask(wallet, coin, rate, source, amount))
    if not asks and refused:
        raise refused[0]
    if not asks:
        raise ValidationFailed("None of the store's wallets is of a coin this server takes", code="no_wallets")
    return asks


def _validate_text(value: str, *, field: str, limit: int) -> str:
    value = (value or "").strip()
    if len(value) > limit:
        raise ValidationFailed(f"{field} is longer than {limit} characters", code="too_long")
    return value


def invoice_create(
    *,
    store: Store,
    price: object = None,
    currency: str | None = None,
    products: dict[str, int] | Iterable[str] | None = None,
    promocode: str = "",
    buyer_email: str = "",
    shipping_address: str = "",
    notes: str = "",
    order_id: str = "",
    notification_url: str = "",
    redirect_url: str = "",
    metadata: dict | None = None,
    expiration: int | None = None,
    wallet_ids: Iterable[str] | None = None,
) -> Invoice:
    """Price the order in every coin of the store's wallets, open a place to pay each, and save it all at once.

    Everything that can fail (products, amounts, rates, wallets) is checked before the first
    write, so a refused invoice leaves no row and consumes no address. Limited stock is taken in
    the invoice's transaction (given back if it expires or is invalidated); only an order that
    loses a race for the last items between the check and that transaction (OutOfStock) leaves
    unused address indexes behind.
    """
    currency = normalize_currency(currency or store.default_currency)
    items = _resolve_products(store=store, products=products)
    if items and currency != store.default_currency:
        raise ValidationFailed("Products are priced in the store's currency", code="currency_mismatch")
    if price is None or price == "":
        if not items:
            raise ValidationFailed("Give a price or products", code="price_required")
        price = sum((product.price * count for product, count in items), Decimal(0))
    else:
        price = validate_price(price, currency)
    discount = discount_find(store=store, promocode=promocode, currency=currency)
    if promocode and discount is None:
        raise ValidationFailed("This promocode is not valid", code="invalid_promocode")
    price = validate_price(
        discount_apply(price=Decimal(price), discount=discount).quantize(
            Decimal(1).scaleb(-decimals(currency)), rounding=ROUND_UP
        ),
        currency,
    )
    if metadata is not None and not isinstance(metadata, dict):
        raise ValidationFailed("metadata must be an object", code="invalid_metadata")
    if metadata and len(str(metadata).encode()) > MAX_METADATA_BYTES:
        raise ValidationFailed("metadata is too large", code="invalid_metadata")
    expiration = store.expiration if expiration is None else expiration
    if not isinstance(expiration, int) or not 1 <= expiration <= 60 * 24 * 30:
        raise ValidationFailed("expiration must be 1 to 43200 minutes", code="invalid_expiration")
    texts = {
        "buyer_email": _validate_text(buyer_email, field="buyer_email", limit=254),
        "shipping_address": _validate_text(shipping_address, field="shipping_address", limit=2000),
        "notes": _validate_text(notes, field="notes", limit=5000),
        "order_id": _validate_text(order_id, field="order_id", limit=255),
        "notification_url": _validate_text(notification_url, field="notification_url", limit=2000),
        "redirect_url": _validate_text(redirect_url or store.redirect_url, field="redirect_url", limit=2000),
    }
    wallets = list(store.wallets.all().order_by("created"))
    if wallet_ids is not None:
        wanted = set(wallet_ids)
        wallets = [w for w in wallets if w.pk in wanted]
    if not wallets:
        raise ValidationFailed("The store has no wallet to receive payments", code="no_wallets")
    asks = _asks(store=store, wallets=wallets, price=price, currency=currency)

    now = timezone.now()
    expires_at = now + timedelta(minutes=expiration)
    invoice = Invoice(
        store=store,
        price=price,
        currency=currency,
        expiration=expiration,
        expires_at=expires_at,
        monitor_until=expires_at + timedelta(minutes=store.monitoring_window),
        required_confirmations=_required_confirmations(store, wallets[0]),
        underpaid_percentage=store.underpaid_percentage,
        metadata=metadata or {},
        discount=discount,
        promocode=promocode if discount else "",
        **texts,
    )
    _full_clean(invoice)
    # Where to pay, per ask: Bitcoin addresses derived here, Ethereum requests opened with the daemon (a
    # chain whose daemon does not answer is left out, and the invoice is made with the others). Done before
    # the invoice's transaction, which then only writes: see invoices.methods.
    places = places_for(asks, label=f"{store.name} {invoice.pk}", expires_in=int((expires_at - now).total_seconds()))
    with transaction.atomic():
        limited = {product.pk: count for product, count in items if product.quantity != Product.UNLIMITED}
        if products_reserve_stock(counts=limited):
            invoice.stock = StockState.HELD
        invoice.save(force_insert=True)
        lines = InvoiceProduct.objects.bulk_create(
            InvoiceProduct(invoice=invoice, product=product, count=count, price=product.price)
            for product, count in items
        )
        created_methods = PaymentMethod.objects.bulk_create(
            PaymentMethod(
                invoice=invoice,
                wallet=ask.wallet,
                currency=ask.coin.symbol,
                decimals=ask.coin.decimals,
                amount=place.amount,
                rate=ask.rate,
                rate_source=ask.rate_source,
                address=place.address,
                lookup=place.lookup,
                derivation_index=place.index,
                payment_url=place.uri,
            )
            for ask, place in places
        )
        # Everything the invoice's snapshot reads is in hand: no query to read it back.
        prefetched(invoice, payment_methods=created_methods, invoice_products=lines)
        for method in created_methods:
            prefetched(method, payments=[])
        created = InvoiceEvent.objects.create(
            invoice=invoice,
            kind=InvoiceEvent.Kind.CREATED,
            new_status=invoice.status,
            new_exception_status=invoice.exception_status,
            cause="creation",
            data={"price": str(price), "currency": currency},
        )
        # invoice.created is durable like every other webhook event: written in this transaction.
        invoice.snapshot_at_creation = invoice_snapshot(invoice)
        webhook_event_record(invoice=invoice, event=created, snapshot=invoice.snapshot_at_creation, event_is_new=True)
        effects.on_invoice_changed(invoice, created.pk)  # the one after-commit fan-out of the event
        # The listener registers the new address with the daemon (watch_recent), no task needed.
    return invoice


def invoice_get_or_create_by_order_id(*, store: Store, order_id: str, **fields: Any) -> tuple[Invoice, bool]:
    """The store's newest unexpired invoice for this order_id, or a new one (Bitcart's rule for
    shop plugins that post the same order again). The store row is locked first, so two
    concurrent calls with one order_id make one invoice."""
    with transaction.atomic():
        store_lock(store.pk)
        existing = (
            Invoice.objects.filter(store=store, order_id=order_id)
            .exclude(status=InvoiceStatus.EXPIRED)
            .order_by("-created")
            .first()
        )
        if existing is not None:
            return existing, False
        return invoice_create(store=store, order_id=order_id, **fields), True


def _required_confirmations(store: Store, wallet: Wallet) -> int:
    if wallet.transaction_speed is not None:
        return wallet.transaction_speed
    return store.transaction_speed


def _full_clean(invoice: Invoice) -> None:
    try:
        invoice.full_clean(
            validate_unique=False,  # a fresh ULID primary key: nothing to look up
            exclude=[
                "store",
                "discount",
                "products",
                "price",
                "expiration",
                "expires_at",
                "monitor_until",
                "required_confirmations",
            ],
        )
    except DjangoValidationError as exc:
        raise ValidationFailed("Invalid invoice data", extra={"fields": exc.message_dict}) from None


# --- the status machine ---------------------------------------------------------------------


def _transition(
    invoice: Invoice,
    *,
    status: str,
    exception_status: str | None = None,
    cause: str,
    data: dict | None = None,
    save_fields: Sequence[str] = (),
    record_with: Sequence[InvoiceEvent] = (),
    always: bool = False,
) -> InvoiceEvent | None:
    """The one guarded change of status. The caller holds the row lock (invoice_lock).

    Returns the event row, or None when nothing changes (unless `always`: news the merchant must
    hear about although the status stays, such as a payment after completion). A forbidden
    transition raises and writes nothing. With a change, `save_fields` (already set on `invoice`)
    go into the same UPDATE and `record_with` (payment events) into the same INSERT as the status
    event; without one the caller writes them. Stock follows the status here (_stock_follow), so
    it moves exactly once per change.
    """
    new_exception = invoice.exception_status if exception_status is None else exception_status
    if status == invoice.status and new_exception == invoice.exception_status and not always:
        return None
    if status != invoice.status and status not in TRANSITIONS[invoice.status]:
        raise TransitionNotAllowed(
            f"An invoice cannot go from {invoice.status} to {status}", extra={"from": invoice.status, "to": status}
        )
    old_status, old_exception = invoice.status, invoice.exception_status
    data = dict(data or {})
    fields = [*save_fields, "status", "exception_status", "updated"]
    if status != old_status:
        fields += _stock_follow(invoice, status=status, data=data)
    invoice.status, invoice.exception_status = status, new_exception
    now = timezone.now()
    if status in (S.PAID, S.CONFIRMED, S.COMPLETE) and invoice.paid_date is None:
        invoice.paid_date = now
        fields.append("paid_date")
    if status == S.COMPLETE and old_status != S.COMPLETE:
        # The address stays watched for a window after completion too: a second payment to it
        # is recorded (paid_over), not lost (btcpayserver#1828). Never shortened.
        until = now + timedelta(minutes=invoice.store.monitoring_window)
        if until > invoice.monitor_until:
            invoice.monitor_until = until
            fields.append("monitor_until")
    invoice.save(update_fields=fields)
    event = InvoiceEvent(
        invoice=invoice,
        kind=InvoiceEvent.Kind.STATUS,
        old_status=old_status,
        new_status=status,
        old_exception_status=old_exception,
        new_exception_status=new_exception,
        cause=cause,
        data=data,
    )
    InvoiceEvent.objects.bulk_create([*record_with, event])  # in order: the status event comes last
    # WEBHOOKS-HOOK: durable outbox rows for this event are written here, in this transaction.
    webhook_event_record(invoice=invoice, event=event, event_is_new=True)
    effects.on_invoice_changed(invoice, event.pk)
    return event


HOLDS_STOCK = frozenset({S.PAID, S.CONFIRMED, S.COMPLETE})
GIVES_STOCK_BACK = frozenset({S.EXPIRED, S.INVALID})


def _stock_follow(invoice: Invoice, *, status: str, data: dict) -> list[str]:
    """Move the invoice's limited stock along with a change to `status`; returns the fields set.

    Stock is taken on creation and kept through completion (and a refund: the merchant restocks
    by hand). Expiry or invalidation gives it back, once: the invoice records that it did. A
    payment that brings a released invoice back (a late payment, a merchant completing an invalid
    one) takes it again; if it was sold meanwhile the order is flagged `short` and the status
    event says what is missing (`stock_short`), for the merchant to restock or refund."""
    if invoice.stock == StockState.NONE:
        return []
    if status in GIVES_STOCK_BACK and invoice.stock in (StockState.HELD, StockState.SHORT):
        if invoice.stock == StockState.HELD:
            products_release_stock(counts=_line_counts(invoice))
        invoice.stock = StockState.RELEASED
        return ["stock"]
    if status in HOLDS_STOCK and invoice.stock in (StockState.RELEASED, StockState.SHORT):
        was_short = invoice.stock == StockState.SHORT
        try:
            products_reserve_stock(counts=_line_counts(invoice))
        except OutOfStock as exc:
            invoice.stock = StockState.SHORT
            if not was_short:  # flagged once, not on every later step of the same payment
                data["stock_short"] = exc.extra["products"]
        else:
            invoice.stock = StockState.HELD
        return ["stock"]
    return []


def _line_counts(invoice: Invoice) -> dict[str, int]:
    # Loaded the way the webhook snapshot of this change reads them: once.
    invoice_snapshot_prefetch(invoice)
    return {line.product_id: line.count for line in invoice.invoice_products.all()}


@transaction.atomic
def invoice_set_status(
    *, invoice_id: str, status: str, exception_status: str | None = None, cause: str, data: dict | None = None
) -> Invoice:
    invoice = invoice_lock(invoice_id)
    _transition(invoice, status=status, exception_status=exception_status, cause=cause, data=data)
    return invoice


def invoice_mark_complete(*, invoice_id: str, actor: str = "merchant") -> Invoice:
    return invoice_set_status(invoice_id=invoice_id, status=S.COMPLETE, cause="manual", data={"by": actor})


def invoice_mark_invalid(*, invoice_id: str, actor: str = "merchant") -> Invoice:
    return invoice_set_status(invoice_id=invoice_id, status=S.INVALID, cause="manual", data={"by": actor})


def invoice_mark_refunded(*, invoice_id: str, actor: str = "merchant") -> Invoice:
    return invoice_set_status(invoice_id=invoice_id, status=S.REFUNDED, cause="manual", data={"by": actor})


@dataclass(frozen=True)
class _Derived:
    status: str
    exception_status: str
    sent_units: int
    confirmations: int
    method: PaymentMethod | None


def _derive(invoice: Invoice, methods: list[PaymentMethod], now: datetime) -> _Derived:
    """The status the payments call for (see DESIGN.md, invoice lifecycle).

    The best-paid payment method decides; dropped outputs do not count. Expiry itself is the
    sweep's job: here a due-but-unswept invoice simply keeps waiting.
    """
    best: tuple[Decimal, int, int, PaymentMethod] | None = None
    for candidate in methods:
        counted = [p for p in candidate.payments.all() if p.state != Payment.State.DROPPED]
        total = sum(p.amount for p in counted)
        confirmations = min((p.confirmations for p in counted), default=0)
        share = Decimal(total) / Decimal(candidate.amount)
        if best is None or share > best[0]:
            best = (share, total, confirmations, candidate)
    method: PaymentMethod | None = None
    total = confirmations = 0
    if best is not None:
        _, total, confirmations, method = best
    if invoice.status == S.COMPLETE:  # final for the payment pipeline; refunds are manual
        return _Derived(S.COMPLETE, invoice.exception_status, total, confirmations, method)
    waiting: str
    if invoice.status in (S.PAID, S.CONFIRMED):
        # Where it goes back to if what paid it was dropped.
        waiting = S.PENDING if now < invoice.expires_at else S.EXPIRED
    else:
        waiting = invoice.status  # pending or expired
    if method is None or total == 0:
        if invoice.status in (S.PAID, S.CONFIRMED) and waiting == S.EXPIRED:
            return _Derived(S.INVALID, E.FAILED_CONFIRM, 0, 0, None)
        exception = E.NONE if invoice.exception_status == E.PAID_PARTIAL else invoice.exception_status
        return _Derived(waiting, exception, 0, 0, None)
    threshold = method.amount * (Decimal(100) - invoice.underpaid_percentage) / Decimal(100)
    if total < threshold:
        return _Derived(waiting, E.PAID_PARTIAL, total, confirmations, method)
    if confirmations >= invoice.required_confirmations:
        status = S.COMPLETE
    elif confirmations >= 1:
        status = S.CONFIRMED
    else:
        status = S.PAID
    if invoice.exception_status == E.PAID_LATE or invoice.status == S.EXPIRED:
        exception = E.PAID_LATE
    elif total > method.amount + _tag_rounding(method):
        exception = E.PAID_OVER
    else:
        exception = E.NONE
    return _Derived(status, exception, total, confirmations, method)


def _tag_rounding(method: PaymentMethod) -> int:
    """How much more than `amount` a buyer may have been asked without overpaying: an Ethereum-family rest
    after a partial payment is rounded up (by less than 10^digits tag units) to carry the payment tag."""
    tag = registry.payment_tag(method.currency)
    if tag is None:
        return 0
    unit, digits = tag
    return (10**digits - 1) * unit


def _paid_share(methods: list[PaymentMethod]) -> Decimal:
    """How many times over the invoice has been paid, adding up every payment method (each as a
    share of what it asks): more than 1 is more money than the invoice asked for."""
    return sum(
        (
            Decimal(sum(p.amount for p in m.payments.all() if p.state != Payment.State.DROPPED)) / Decimal(m.amount)
            for m in methods
        ),
        Decimal(0),
    )


def _methods_with_payments(invoice: Invoice) -> list[PaymentMethod]:
    """The invoice's payment methods and their payments, prefetched on it (two queries, once):
    the status and then the webhook snapshot are derived from the same objects."""
    prefetch_related_objects(
        [invoice],
        Prefetch("payment_methods", queryset=PaymentMethod.objects.order_by("created", "pk")),
        "payment_methods__payments",
    )
    return list(invoice.payment_methods.all())


def invoice_recompute(
    invoice: Invoice, *, cause: str, data: dict | None = None, payment_events: Sequence[InvoiceEvent] = ()
) -> InvoiceEvent | None:
    """Re-derive status and sent amount from the payments. The caller holds the row lock.

    Reads the payment methods and payments prefetched on `invoice` (a caller that wrote payments
    keeps them equal to the rows), or loads them. `payment_events` (what changed in the payments)
    are written with the status change, if any."""
    methods = _methods_with_payments(invoice)
    derived = _derive(invoice, methods, timezone.now())
    sent = from_units(derived.sent_units, derived.method.decimals) if derived.method is not None else Decimal(0)
    fields = []
    if invoice.sent_amount != sent:
        invoice.sent_amount = sent
        fields.append("sent_amount")
    if derived.method is not None and invoice.paid_currency != derived.method.currency:
        invoice.paid_currency = derived.method.currency
        fields.append("paid_currency")
    for method in methods:
        confirmations = min(
            (p.confirmations for p in method.payments.all() if p.state != Payment.State.DROPPED), default=0
        )
        is_used = any(p.state != Payment.State.DROPPED for p in method.payments.all())
        if (method.confirmations, method.is_used) != (confirmations, is_used):
            PaymentMethod.objects.filter(pk=method.pk).update(confirmations=confirmations, is_used=is_used)
            method.confirmations, method.is_used = confirmations, is_used  # the snapshot shows them
    event = None
    exception_status = derived.exception_status
    new_outputs = [e.data for e in payment_events if e.kind == InvoiceEvent.Kind.PAYMENT]
    after_complete = new_outputs if invoice.status == S.COMPLETE else []
    if after_complete:
        # Money after completion (btcpayserver#1828): the order stays complete, and the merchant
        # hears of it through a status event (webhook, notification) even when nothing else changes.
        data = {**(data or {}), "paid_after_complete": after_complete}
        if _paid_share(methods) > 1:
            exception_status = E.PAID_OVER
    if invoice.status not in MANUAL_FINAL:  # else payments are recorded, but only the merchant moves it on
        event = _transition(
            invoice,
            status=derived.status,
            exception_status=exception_status,
            cause=cause,
            data=data,
            save_fields=fields,
            record_with=payment_events,
            always=bool(after_complete),
        )
    if event is None:
        if fields:
            invoice.save(update_fields=[*fields, "updated"])
        InvoiceEvent.objects.bulk_create(payment_events)
        if fields:
            effects.on_invoice_changed(invoice, None)  # the page shows the running total
    return event


# --- payments -------------------------------------------------------------------------------


def _upsert_output(payment_method_id: str, payments: list[Payment], output: Output, events: list[dict]) -> bool:
    """Insert or update one output's Payment row; True if anything changed. Only new outputs and
    state changes are events worth recording; a confirmation count moving is not.

    `payments` are the method's rows, read under the invoice lock, and kept current here. Every
    writer of Payment rows holds that lock, so they are the whole truth and an insert needs no
    savepoint; the unique constraint still stops (loudly) a writer that would skip the lock."""
    height = output.height or None
    state = Payment.State.CONFIRMED if output.confirmations > 0 else Payment.State.UNCONFIRMED
    existing = next((p for p in payments if (p.txid, p.vout) == (output.txid, output.vout)), None)
    if existing is None:
        payments.append(
            Payment.objects.create(
                payment_method_id=payment_method_id,
                txid=output.txid,
                vout=output.vout,
                amount=output.amount,
                height=height,
                confirmations=output.confirmations,
                state=state,
            )
        )
        events.append(
            {
                "kind": InvoiceEvent.Kind.PAYMENT,
                "txid": output.txid,
                "vout": output.vout,
                "amount": output.amount,
                "confirmations": output.confirmations,
            }
        )
        return True
    if height is not None and height == existing.height and output.confirmations == 0 < existing.confirmations:
        # Still in the same block, only not re-verified yet: Electrum undoes SPV verifications for a
        # moment when it switches chains. A real reorg changes the height (or drops the output).
        return False
    if (existing.height, existing.confirmations, existing.state) != (height, output.confirmations, state):
        previous_state = existing.state
        existing.height, existing.confirmations, existing.state = height, output.confirmations, state
        existing.updated = timezone.now()
        Payment.objects.filter(pk=existing.pk).update(
            height=height, confirmations=output.confirmations, state=state, updated=existing.updated
        )
        if previous_state != state:
            events.append(
                {
                    "kind": InvoiceEvent.Kind.PAYMENT_UPDATE,
                    "txid": output.txid,
                    "vout": output.vout,
                    "state": state,
                    "confirmations": output.confirmations,
                }
            )
        return True
    return False


def payment_method_sync(
    *, payment_method_id: str, outputs: Iterable[Output], complete: bool = False, cause: str = "daemon"
) -> Invoice:
    """Apply what the chain says about one payment method's address.

    `outputs` are outputs paying the address. With `complete=True` they are the whole truth (a
    reconciliation or address-history answer): a known unconfirmed output missing from them has
    left the mempool, and is marked dropped. Idempotent: the same view twice changes nothing.
    """
    outputs = list(outputs)
    with transaction.atomic():
        invoice = invoice_lock_by_method(payment_method_id)
        # All the status and the webhook snapshot read, loaded once under the lock; the writes
        # below keep these objects equal to their rows.
        method = next(m for m in _methods_with_payments(invoice) if m.pk == payment_method_id)
        payments = list(method.payments.all())
        events: list[dict] = []
        changed = False
        for output in outputs:
            if output.amount <= 0 or output.vout < 0:
                continue
            changed |= _upsert_output(payment_method_id, payments, output, events)
        if complete:
            seen = {(o.txid, o.vout) for o in outputs}
            for payment in payments:
                if (payment.txid, payment.vout) not in seen and payment.state != Payment.State.DROPPED:
                    payment.state, payment.updated = Payment.State.DROPPED, timezone.now()
                    Payment.objects.filter(pk=payment.pk).update(state=payment.state, updated=payment.updated)
                    events.append(
                        {
                            "kind": InvoiceEvent.Kind.PAYMENT_UPDATE,
                            "txid": payment.txid,
                            "vout": payment.vout,
                            "state": Payment.State.DROPPED,
                        }
                    )
        if not changed and not events:
            return invoice
        payment_events = [
            InvoiceEvent(
                invoice=invoice,
                kind=e.pop("kind"),
                old_status=invoice.status,
                new_status=invoice.status,
                old_exception_status=invoice.exception_status,
                new_exception_status=invoice.exception_status,
                cause=cause,
                data=e,
            )
            for e in events
        ]
        prefetched(method, payments=payments)  # with the new rows
        invoice_recompute(invoice, cause=cause, data={"address": method.address}, payment_events=payment_events)
    return invoice


def payment_apply(
    *,
    payment_method_id: str,
    txid: str,
    vout: int,
    amount: int,
    height: int | None = None,
    confirmations: int = 0,
    cause: str = "daemon",
) -> Invoice:
    """Record one received output (idempotent on txid:vout)."""
    return payment_method_sync(
        payment_method_id=payment_method_id, outputs=[Output(txid, vout, amount, height, confirmations)], cause=cause
    )


# --- expiry ---------------------------------------------------------------------------------


def invoice_expire(*, invoice_id: str, now: datetime | None = None) -> Invoice:
    """Expire one pending invoice whose time is up; a payment that got in first wins."""
    now = now or timezone.now()
    with transaction.atomic():
        invoice = invoice_lock(invoice_id)
        if invoice.status != S.PENDING or invoice.expires_at > now:
            return invoice
        _transition(invoice, status=S.EXPIRED, cause="expiry")
    return invoice


def invoices_due(*, now: datetime, batch: int = 500) -> list[str]:
    """Pending invoices whose time is up at `now`, oldest first, at most `batch` (index on status, expires_at)."""
    return list(
        Invoice.objects.filter(status=S.PENDING, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("pk", flat=True)[:batch]
    )


def invoices_expire(*, now: datetime | None = None, batch: int = 500, ids: Iterable[str] | None = None) -> int:
    """The sweep: expire due pending invoices (`ids`, or up to `batch` found by invoices_due).

    An invoice paid meanwhile, or not due at `now`, is left as it is."""
    now = now or timezone.now()
    due = invoices_due(now=now, batch=batch) if ids is None else ids
    expired = 0
    for invoice_id in due:
        if invoice_expire(invoice_id=invoice_id, now=now).status == S.EXPIRED:
            expired += 1
    return expired
