"""Limited stock: taken when the invoice is created, given back once if it expires or is invalidated,
kept through completion; a late payment takes it again, or flags a paid order that exceeds stock."""

from datetime import timedelta

import pytest
from django.utils import timezone

from invoices import services
from invoices.models import ExceptionStatus, Invoice, InvoiceEvent, InvoiceStatus, StockState
from stores import notifications
from stores.models import NotificationProvider, Product
from stores.services import OutOfStock, product_create
from webhooks.models import WebhookMessage

pytestmark = pytest.mark.django_db
S = InvoiceStatus
E = ExceptionStatus
TXID = "ab" * 32


def quantity(product: Product) -> int:
    return Product.objects.get(pk=product.pk).quantity


def expire(invoice: Invoice) -> None:
    Invoice.objects.filter(pk=invoice.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert services.invoice_expire(invoice_id=invoice.pk).status == S.EXPIRED


def pay(invoice: Invoice, *, confirmations: int = 0, txid: str = TXID) -> Invoice:
    method = invoice.payment_methods.get()
    return services.payment_apply(
        payment_method_id=method.pk, txid=txid, vout=0, amount=method.amount, confirmations=confirmations
    )


@pytest.fixture
def hat(store) -> Product:
    return product_create(store=store, name="Hat", price="0.001", quantity=5)


def test_creation_takes_the_stock(store, hat):
    pin = product_create(store=store, name="Pin", price="0.0002")  # unlimited
    invoice = services.invoice_create(store=store, products={hat.pk: 2, pin.pk: 3})
    assert quantity(hat) == 3
    assert quantity(pin) == Product.UNLIMITED
    assert Invoice.objects.get(pk=invoice.pk).stock == StockState.HELD


def test_an_order_of_unlimited_products_holds_nothing(store):
    pin = product_create(store=store, name="Pin", price="0.0002")
    invoice = services.invoice_create(store=store, products={pin.pk: 3})
    assert Invoice.objects.get(pk=invoice.pk).stock == StockState.NONE
    expire(invoice)
    assert quantity(pin) == Product.UNLIMITED


def test_more_than_in_stock_is_refused_listing_every_short_product(store, wallet, hat):
    cap = product_create(store=store, name="Cap", price="0.001", quantity=0)
    pin = product_create(store=store, name="Pin", price="0.0002")
    with pytest.raises(OutOfStock) as info:
        services.invoice_create(store=store, products={hat.pk: 6, cap.pk: 1, pin.pk: 9})
    assert info.value.code == "out_of_stock"
    assert sorted(info.value.extra["products"], key=lambda p: p["name"]) == [
        {"id": cap.pk, "name": "Cap", "requested": 1, "in_stock": 0},
        {"id": hat.pk, "name": "Hat", "requested": 6, "in_stock": 5},
    ]
    assert (quantity(hat), quantity(cap), Invoice.objects.count()) == (5, 0, 0)
    wallet.refresh_from_db()
    assert wallet.next_index == 0  # refused before an address was taken


def test_exactly_the_stock_left_is_sold(store, hat):
    services.invoice_create(store=store, products={hat.pk: 5})
    assert quantity(hat) == 0
    with pytest.raises(OutOfStock):
        services.invoice_create(store=store, products={hat.pk: 1})
    assert (quantity(hat), Invoice.objects.count()) == (0, 1)


def test_expiry_gives_the_stock_back_once(store, hat):
    invoice = services.invoice_create(store=store, products={hat.pk: 2})
    expire(invoice)
    assert quantity(hat) == 5
    services.invoice_mark_invalid(invoice_id=invoice.pk)  # expired → invalid: nothing more to give back
    assert quantity(hat) == 5
    assert Invoice.objects.get(pk=invoice.pk).stock == StockState.RELEASED


def test_invalidation_gives_the_stock_back(store, hat):
    invoice = services.invoice_create(store=store, products={hat.pk: 2})
    pay(invoice)
    services.invoice_mark_invalid(invoice_id=invoice.pk)
    assert quantity(hat) == 5


def test_completion_and_refund_keep_the_stock_taken(store, hat):
    invoice = services.invoice_create(store=store, products={hat.pk: 2})
    pay(invoice, confirmations=1)
    assert Invoice.objects.get(pk=invoice.pk).status == S.COMPLETE
    assert quantity(hat) == 3
    services.invoice_mark_complete(invoice_id=invoice.pk)  # already complete: a no-op
    services.invoice_mark_refunded(invoice_id=invoice.pk)
    assert quantity(hat) == 3


def test_a_late_payment_takes_the_stock_again(store, hat):
    invoice = services.invoice_create(store=store, products={hat.pk: 2})
    expire(invoice)
    assert quantity(hat) == 5
    pay(invoice)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.exception_status, invoice.stock) == (S.PAID, E.PAID_LATE, StockState.HELD)
    assert quantity(hat) == 3
    pay(invoice, confirmations=1)  # completes: stock is not taken twice
    assert quantity(hat) == 3


def test_a_late_payment_for_stock_sold_meanwhile_is_flagged(
    store, hat, monkeypatch, django_capture_on_commit_callbacks
):
    late = services.invoice_create(store=store, products={hat.pk: 4})
    expire(late)
    services.invoice_create(store=store, products={hat.pk: 3})  # 2 left
    NotificationProvider.objects.create(store=store, name="Ops", url="json://127.0.0.1:9/hook", enabled=True)

    with django_capture_on_commit_callbacks(execute=True):  # the event's fan-out (Celery is eager here)
        pay(late)

    late.refresh_from_db()
    assert (late.status, late.exception_status, late.stock) == (S.PAID, E.PAID_LATE, StockState.SHORT)
    assert quantity(hat) == 2  # nothing taken: all or nothing, never below zero
    event = InvoiceEvent.objects.filter(invoice=late, kind=InvoiceEvent.Kind.STATUS).latest("id")
    assert (event.old_status, event.new_status) == (S.EXPIRED, S.PAID)
    assert event.data["stock_short"] == [{"id": hat.pk, "name": "Hat", "requested": 4, "in_stock": 2}]
    rows = WebhookMessage.objects.filter(event__invoice=late, kind=WebhookMessage.Kind.NOTIFICATION)
    assert list(rows.order_by("event__sequence", "topic").values_list("topic", flat=True)) == [
        "invoice_paid_late",
        "invoice_stock_short",
    ]

    # Confirming it does not flag it again; the merchant restocks, and nothing was taken meanwhile.
    pay(late, confirmations=1)
    late.refresh_from_db()
    assert (late.status, late.stock) == (S.COMPLETE, StockState.SHORT)
    complete = InvoiceEvent.objects.filter(invoice=late, kind=InvoiceEvent.Kind.STATUS).latest("id")
    assert "stock_short" not in complete.data
    assert quantity(hat) == 2


def test_the_stock_short_notification_text(store, hat):
    late = services.invoice_create(store=store, products={hat.pk: 4}, order_id="A-7")
    late.stock = StockState.SHORT
    title, body = notifications.invoice_notification_render(invoice=late, topic="invoice_stock_short")
    assert title == f"Paid order exceeds stock on invoice {late.pk}"
    assert "the paid order exceeds stock" in body
    assert "- 4 x Hat" in body
    assert "Order id: A-7" in body


def test_the_migration_lets_older_open_invoices_take_their_stock_when_paid(store, hat):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("invoices.migrations.0004_invoice_stock")
    pin = product_create(store=store, name="Pin", price="0.0002")  # unlimited
    open_ = services.invoice_create(store=store, products={hat.pk: 1})
    done = services.invoice_create(store=store, products={hat.pk: 1})
    Invoice.objects.filter(pk=done.pk).update(status=S.COMPLETE)
    unlimited = services.invoice_create(store=store, products={pin.pk: 1})
    plain = services.invoice_create(store=store, price="0.001", currency="BTC")
    Invoice.objects.update(stock=StockState.NONE)  # as the new column leaves every older invoice
    Product.objects.filter(pk=hat.pk).update(quantity=5)  # which took no stock on creation

    migration.existing_stock(apps, None)

    assert dict(Invoice.objects.values_list("pk", "stock")) == {
        open_.pk: StockState.RELEASED,
        done.pk: StockState.HELD,
        unlimited.pk: StockState.NONE,
        plain.pk: StockState.NONE,
    }
    pay(open_)  # paid: takes its stock now, as it would have on completion
    assert quantity(hat) == 4
