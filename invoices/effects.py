"""Side effects of invoice changes, run only after the transaction commits.

The InvoiceEvent row is written inside the transaction and is the durable record; what happens
here (live push to the checkout page, the Celery task that fans out webhooks, e-mails and
notifications) is best-effort delivery of something the database already holds.
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError

from invoices.consumers import invoice_group

logger = logging.getLogger(__name__)


def invoice_public_state(invoice) -> dict:
    """Bitcart's live-update message shape."""
    return {
        "status": invoice.status,
        "exception_status": invoice.exception_status,
        "sent_amount": f"{invoice.sent_amount:.8f}",
        "paid_currency": invoice.paid_currency,
        "payment_id": None,
    }


def invoice_push(invoice_id: str, state: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(invoice_group(invoice_id), {"type": "invoice.update", "data": state})
    except (RedisError, OSError) as exc:  # the page falls back to polling; nothing is lost
        logger.warning("live push for invoice %s failed: %s", invoice_id, exc)


def invoice_event_dispatch(event_id: int) -> None:
    from invoices.tasks import invoice_event_task

    try:
        invoice_event_task.delay(event_id)
    except BrokerError as exc:  # the event row stays; the outbox sweep delivers it later
        logger.warning("could not queue invoice event %s: %s", event_id, exc)


def on_invoice_changed(invoice, event_id: int | None) -> None:
    """Schedule the after-commit effects of a change made in the current transaction."""
    state = invoice_public_state(invoice)
    invoice_id = invoice.pk

    def _after_commit() -> None:
        invoice_push(invoice_id, state)
        if event_id is not None:
            invoice_event_dispatch(event_id)

    transaction.on_commit(_after_commit, robust=True)
