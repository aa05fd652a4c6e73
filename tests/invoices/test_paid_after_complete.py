"""A payment to a complete invoice's address (btcpayserver#1828): the address stays watched through
the monitoring window, the payment is recorded, the invoice stays complete and becomes paid_over, and
the merchant hears of it (a status event: webhook and notification)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from invoices import services
from invoices.models import ExceptionStatus, Invoice, InvoiceEvent, InvoiceStatus, Payment
from invoices.reconcile import waiting_for_confirmations
from invoices.selectors import invoices_watched, payment_methods_watched
from stores import notifications
from stores.models import NotificationProvider
from webhooks.models import WebhookEvent, WebhookMessage

pytestmark = pytest.mark.django_db
S = InvoiceStatus
E = ExceptionStatus
FIRST = "ab" * 32
SECOND = "cd" * 32
THIRD = "ef" * 32


def timeline(invoice: Invoice) -> list[tuple]:
    events = InvoiceEvent.objects.filter(invoice=invoice).order_by("id")
    return list(
        events.values_list("kind", "old_status", "new_status", "old_exception_status", "new_exception_status", "cause")
    )


def webhook_types(invoice: Invoice) -> list[str]:
    return list(WebhookEvent.objects.filter(invoice=invoice).order_by("sequence").values_list("type", flat=True))


def notified(invoice: Invoice) -> list[tuple[str, str]]:
    """The merchant notifications the invoice's events put in the outbox: (invoice, topic)."""
    rows = WebhookMessage.objects.filter(event__invoice=invoice, kind=WebhookMessage.Kind.NOTIFICATION)
    return [(invoice.pk, topic) for topic in rows.order_by("event__sequence", "topic").values_list("topic", flat=True)]


@pytest.fixture
def provider(store) -> NotificationProvider:
    return NotificationProvider.objects.create(store=store, name="Ops", url="json://127.0.0.1:9/hook", enabled=True)


def test_a_second_payment_after_complete_is_recorded_as_paid_over(store, provider, django_capture_on_commit_callbacks):
    invoice = services.invoice_create(store=store, price="0.001", currency="BTC")
    method = invoice.payment_methods.get()
    services.payment_apply(payment_method_id=method.pk, txid=FIRST, vout=0, amount=100_000, height=5, confirmations=1)
    assert Invoice.objects.get(pk=invoice.pk).status == S.COMPLETE

    with django_capture_on_commit_callbacks(execute=True):
        services.payment_apply(payment_method_id=method.pk, txid=SECOND, vout=1, amount=30_000, cause="daemon")

    invoice.refresh_from_db()
    assert (invoice.status, invoice.exception_status) == (S.COMPLETE, E.PAID_OVER)
    assert invoice.sent_amount == Decimal("0.0013")
    rows = Payment.objects.filter(payment_method=method).order_by("txid")
    assert list(rows.values_list("txid", "vout", "amount", "confirmations", "state")) == [
        (FIRST, 0, 100_000, 1, Payment.State.CONFIRMED),
        (SECOND, 1, 30_000, 0, Payment.State.UNCONFIRMED),
    ]
    assert timeline(invoice) == [
        ("created", "", S.PENDING, "", E.NONE, "creation"),
        ("payment", S.PENDING, S.PENDING, E.NONE, E.NONE, "daemon"),
        ("status", S.PENDING, S.COMPLETE, E.NONE, E.NONE, "daemon"),
        ("payment", S.COMPLETE, S.COMPLETE, E.NONE, E.NONE, "daemon"),
        ("status", S.COMPLETE, S.COMPLETE, E.NONE, E.PAID_OVER, "daemon"),
    ]
    last = InvoiceEvent.objects.filter(invoice=invoice).latest("id")
    assert last.data == {
        "address": method.address,
        "paid_after_complete": [{"txid": SECOND, "vout": 1, "amount": 30_000, "confirmations": 0}],
    }
    assert webhook_types(invoice) == ["invoice.created", "invoice.complete", "invoice.paid_over"]
    assert notified(invoice) == [(invoice.pk, "invoice_complete"), (invoice.pk, "invoice_paid_after_complete")]

    # The same output again changes nothing; a third payment is news again (already paid_over).
    services.payment_apply(payment_method_id=method.pk, txid=SECOND, vout=1, amount=30_000)
    assert InvoiceEvent.objects.filter(invoice=invoice).count() == 5
    services.payment_apply(payment_method_id=method.pk, txid=THIRD, vout=0, amount=1_000)
    assert timeline(invoice)[5:] == [
        ("payment", S.COMPLETE, S.COMPLETE, E.PAID_OVER, E.PAID_OVER, "daemon"),
        ("status", S.COMPLETE, S.COMPLETE, E.PAID_OVER, E.PAID_OVER, "daemon"),
    ]
    assert webhook_types(invoice)[3:] == ["invoice.paid_over"]
    assert Invoice.objects.get(pk=invoice.pk).sent_amount == Decimal("0.00131")


def test_the_first_payment_after_a_manual_completion_is_reported_but_not_paid_over(store, provider):
    invoice = services.invoice_create(store=store, price="0.001", currency="BTC")
    services.invoice_mark_complete(invoice_id=invoice.pk)
    method = invoice.payment_methods.get()

    services.payment_apply(payment_method_id=method.pk, txid=FIRST, vout=0, amount=100_000)

    invoice.refresh_from_db()
    assert (invoice.status, invoice.exception_status) == (S.COMPLETE, E.NONE)
    assert timeline(invoice)[-1] == ("status", S.COMPLETE, S.COMPLETE, E.NONE, E.NONE, "daemon")
    assert webhook_types(invoice) == ["invoice.created", "invoice.complete", "invoice.updated"]
    assert notified(invoice) == [(invoice.pk, "invoice_complete"), (invoice.pk, "invoice_paid_after_complete")]


def test_a_complete_invoice_stays_watched_through_the_monitoring_window(store):
    store.monitoring_window = 60
    store.save()
    invoice = services.invoice_create(store=store, price="0.001", currency="BTC")
    method = invoice.payment_methods.get()
    # Completed late (after expiry): the window starts at completion, not at expiry.
    Invoice.objects.filter(pk=invoice.pk).update(
        expires_at=timezone.now() - timedelta(hours=2), monitor_until=timezone.now() - timedelta(hours=1)
    )
    services.invoice_expire(invoice_id=invoice.pk)
    assert not invoices_watched().filter(pk=invoice.pk).exists()
    before = timezone.now()
    services.payment_apply(payment_method_id=method.pk, txid=FIRST, vout=0, amount=100_000, height=5, confirmations=1)
    after = timezone.now()

    invoice.refresh_from_db()
    assert (invoice.status, invoice.exception_status) == (S.COMPLETE, E.PAID_LATE)
    assert before + timedelta(minutes=60) <= invoice.monitor_until <= after + timedelta(minutes=60)
    assert list(invoices_watched().values_list("pk", flat=True)) == [invoice.pk]
    assert list(payment_methods_watched().values_list("pk", flat=True)) == [method.pk]
    assert not waiting_for_confirmations().exists()  # blocks no longer matter to it
    assert not invoices_watched(now=invoice.monitor_until).exists()


def test_completion_never_shortens_the_monitoring_window(store):
    invoice = services.invoice_create(store=store, price="0.001", currency="BTC")
    monitor_until = invoice.monitor_until  # expiry (15 min) + the window (24 h)
    services.payment_apply(
        payment_method_id=invoice.payment_methods.get().pk, txid=FIRST, vout=0, amount=100_000, confirmations=1
    )
    invoice.refresh_from_db()
    assert (invoice.status, invoice.monitor_until) == (S.COMPLETE, monitor_until)
    assert invoices_watched().filter(pk=invoice.pk).exists()


def test_the_paid_after_complete_notification_text(store):
    invoice = services.invoice_create(store=store, price="0.001", currency="BTC", order_id="A-7")
    invoice.sent_amount, invoice.paid_currency = Decimal("0.0013"), "BTC"
    title, body = notifications.invoice_notification_render(invoice=invoice, topic="invoice_paid_after_complete")
    assert title == f"Payment after completion on invoice {invoice.pk}"
    assert body.startswith(f"Invoice {invoice.pk} at Shop was already complete and received another payment")
    assert "(0.00130000 BTC received in all for 0.00100000 BTC)" in body  # in the paid coin's decimals
    assert "Order id: A-7" in body
