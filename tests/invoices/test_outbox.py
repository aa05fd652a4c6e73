"""One outbox per invoice event: webhooks, the buyer's e-mail and merchant notifications are rows
written in the event's transaction, leave through one after-commit fan-out, and are re-sent by one
sweep when that fan-out was lost."""

import pytest
from django.core import mail
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from invoices import services
from invoices.models import InvoiceEvent
from invoices.tasks import invoice_event_task
from stores.models import NotificationProvider
from webhooks.models import WebhookEvent, WebhookMessage
from webhooks.services import webhook_endpoint_create, webhook_event_record, webhooks_dispatch_due

pytestmark = pytest.mark.django_db

K = WebhookMessage.Kind


def targets(invoice) -> list[tuple[str, str, str, str]]:
    rows = WebhookMessage.objects.filter(event__invoice=invoice).order_by("kind", "topic", "recipient")
    return [(m.event.type, m.kind, m.topic, m.recipient) for m in rows]


def test_completion_writes_its_email_and_notification_rows_in_the_transaction(store):
    provider = NotificationProvider.objects.create(store=store, name="hook", url="json://127.0.0.1:9/hook")
    NotificationProvider.objects.create(store=store, name="off", url="json://127.0.0.1:9/off", enabled=False)
    invoice = services.invoice_create(store=store, price="0.001", currency="BTC", buyer_email="buyer@example.com")

    # No on_commit runs in this test's transaction: as if the process died right after commit.
    services.invoice_mark_complete(invoice_id=invoice.pk)

    assert targets(invoice) == [
        ("invoice.complete", K.EMAIL, "invoice_complete", "buyer@example.com"),
        ("invoice.complete", K.NOTIFICATION, "invoice_complete", provider.pk),
    ]
    assert set(WebhookMessage.objects.values_list("status", flat=True)) == {WebhookMessage.Status.PENDING}
    assert mail.outbox == []


def test_a_rolled_back_change_leaves_no_message(store):
    NotificationProvider.objects.create(store=store, name="hook", url="json://127.0.0.1:9/hook")
    invoice = services.invoice_create(store=store, price="0.001", currency="BTC", buyer_email="buyer@example.com")
    with pytest.raises(RuntimeError), transaction.atomic():
        services.invoice_mark_complete(invoice_id=invoice.pk)
        raise RuntimeError("crash before commit")
    assert targets(invoice) == []


def test_the_sweep_sends_a_lost_fan_out_once(store):
    invoice = services.invoice_create(store=store, price="0.001", currency="BTC", buyer_email="buyer@example.com")
    services.invoice_mark_complete(invoice_id=invoice.pk)  # its fan-out never runs
    event = InvoiceEvent.objects.get(invoice=invoice, kind="status")

    assert webhooks_dispatch_due() == 1

    assert [m.to for m in mail.outbox] == [["buyer@example.com"]]
    message = WebhookMessage.objects.get(kind=K.EMAIL)
    assert (message.status, message.attempts) == (WebhookMessage.Status.DELIVERED, 1)
    # The fan-out running late, the sweep again, the event recorded again: nothing is sent twice.
    invoice_event_task(event.pk)
    assert webhooks_dispatch_due() == 0
    assert webhook_event_record(invoice=invoice, event=event) is None
    assert WebhookMessage.objects.count() == 1
    assert len(mail.outbox) == 1


def test_late_and_complete_at_once_notify_both_topics(store):
    provider = NotificationProvider.objects.create(store=store, name="hook", url="json://127.0.0.1:9/hook")
    invoice = services.invoice_create(store=store, price="0.001", currency="BTC")
    services.invoice_set_status(invoice_id=invoice.pk, status="expired", cause="expiry")
    method = invoice.payment_methods.get()

    services.payment_apply(payment_method_id=method.pk, txid="f" * 64, vout=0, amount=method.amount, confirmations=1)

    assert targets(invoice) == [
        ("invoice.paid_late", K.NOTIFICATION, "invoice_complete", provider.pk),
        ("invoice.paid_late", K.NOTIFICATION, "invoice_paid_late", provider.pk),
    ]


def test_one_after_commit_hook_per_event(store, django_capture_on_commit_callbacks):
    webhook_endpoint_create(store=store, url="http://127.0.0.1:9/hook")
    NotificationProvider.objects.create(store=store, name="hook", url="json://127.0.0.1:9/hook")
    invoice = services.invoice_create(store=store, price="0.001", currency="BTC", buyer_email="buyer@example.com")

    with django_capture_on_commit_callbacks() as callbacks:
        services.invoice_mark_complete(invoice_id=invoice.pk)

    # Live push, webhooks, e-mail and notifications all leave from one hook.
    assert len(callbacks) == 1
    assert WebhookMessage.objects.filter(event__type="invoice.complete").count() == 3


@pytest.mark.django_db(transaction=True)
def test_migration_gives_existing_messages_their_recipient(store):
    """Messages written before the outbox carried e-mails and notifications (no recipient column)."""
    invoice = services.invoice_create(
        store=store, price="0.001", currency="BTC", notification_url="https://shop.example/ipn"
    )
    created = WebhookEvent.objects.get(invoice=invoice)
    executor = MigrationExecutor(connection)
    executor.migrate([("webhooks", "0002_merchants_permissions")])
    try:
        old = executor.loader.project_state([("webhooks", "0002_merchants_permissions")]).apps
        endpoint = old.get_model("webhooks", "WebhookEndpoint").objects.create(
            store_id=store.pk, url="https://shop.example/hook", secret="whsec_x"
        )
        message = old.get_model("webhooks", "WebhookMessage")
        message.objects.create(
            event_id=created.pk, endpoint_id=endpoint.pk, kind="endpoint", url="https://shop.example/hook"
        )
        message.objects.create(event_id=created.pk, kind="notification_url", url="https://shop.example/ipn")
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    rows = WebhookMessage.objects.order_by("kind")
    assert [(m.kind, m.topic, m.recipient, m.url) for m in rows] == [
        (K.ENDPOINT, "", endpoint.pk, "https://shop.example/hook"),
        (K.NOTIFICATION_URL, "", "https://shop.example/ipn", "https://shop.example/ipn"),
    ]
    with pytest.raises(IntegrityError), transaction.atomic():  # the unique target now holds
        WebhookMessage.objects.create(event_id=created.pk, kind=K.ENDPOINT, recipient=endpoint.pk, url="https://x/")
