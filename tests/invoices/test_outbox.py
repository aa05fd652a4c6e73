import pytest
from django.core import mail

from invoices import services
from invoices.models import InvoiceEvent
from invoices.tasks import invoice_event_task, invoice_events_dispatch_task

pytestmark = pytest.mark.django_db


def test_sweep_dispatches_undelivered_status_events_once(store):
    invoice = services.invoice_create(store=store, price="0.001", currency="BTC", buyer_email="buyer@example.com")
    # No on_commit ran (as if the broker was down when the transaction committed).
    services.invoice_mark_complete(invoice_id=invoice.pk)
    event = InvoiceEvent.objects.get(invoice=invoice, kind="status")
    assert event.dispatched_at is None
    assert invoice_events_dispatch_task(older_than_seconds=0) == 1
    event.refresh_from_db()
    assert event.dispatched_at is not None
    assert [m.to for m in mail.outbox] == [["buyer@example.com"]]
    # Nothing left to sweep, and running the event task again sends nothing twice.
    assert invoice_events_dispatch_task(older_than_seconds=0) == 0
    invoice_event_task(event.pk)
    assert len(mail.outbox) == 1


def test_sweep_leaves_recent_events_to_their_own_task(store):
    invoice = services.invoice_create(store=store, price="0.001", currency="BTC")
    services.invoice_mark_invalid(invoice_id=invoice.pk)
    assert invoice_events_dispatch_task(older_than_seconds=3600) == 0
    assert InvoiceEvent.objects.get(invoice=invoice, kind="status").dispatched_at is None
