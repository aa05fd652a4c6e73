"""Celery tasks: take ids, call services, safe to retry."""

import logging
from datetime import timedelta

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from daemons.client import DaemonClient, DaemonError
from invoices import services
from invoices.models import ExceptionStatus, InvoiceEvent, InvoiceStatus
from invoices.reconcile import reconcile, sync_invoices
from invoices.watch import watch_all

# Imported here so that a worker registers their send tasks when it loads this module.
from stores import emails, messaging, notifications

logger = logging.getLogger(__name__)

# Periodic reconciliation with the coin daemon (Celery beat).
LOCK_KEY = "lock:reconcile"
# Short, and renewed after every daemon batch: a worker killed mid-run (SIGKILL never reaches the
# `finally`) holds the next runs off for at most this long, not for a whole time limit. A run whose
# lock lapsed may overlap the next one, which is safe (syncing is idempotent and row-locked).
LOCK_SECONDS = 30


@shared_task(ignore_result=True)
def invoices_expire_task(batch: int = 500) -> int:
    """Expire due invoices, but only those the daemon says were not paid.

    A payment that the listener did not see because it or the daemon was down still counts as in
    time: the due invoices' addresses are asked about first, in bulk, and whatever paid them is
    applied before anything expires. Without an answer (daemon unreachable, not synced) nothing
    expires this round; the invoices wait and beat tries again a few seconds later. (A payment that
    arrived after the deadline while nothing could see it is taken as in time: the buyer is not
    blamed for the merchant's downtime.)
    """
    now = timezone.now()
    due = services.invoices_due(now=now, batch=batch)
    if not due:
        return 0
    try:
        with DaemonClient() as client:
            unanswered = sync_invoices(due, client=client, cause="expiry")
    except DaemonError as exc:
        logger.warning("expiry of %s invoice(s) postponed: the daemon cannot say if they were paid (%s)", len(due), exc)
        return 0
    if unanswered:
        logger.warning("expiry of %s invoice(s) postponed: the daemon is still loading them", len(unanswered))
    return services.invoices_expire(now=now, ids=[pk for pk in due if pk not in unanswered])


@shared_task(ignore_result=True)
def invoice_event_task(event_id: int) -> None:
    """Fan an invoice event out to its listeners (webhooks, e-mails, notifications)."""
    from invoices.selectors import invoice_event_get

    event = invoice_event_get(event_id=event_id)
    if event is None:
        return
    logger.info(
        "invoice %s: %s %s→%s (%s)", event.invoice_id, event.kind, event.old_status, event.new_status, event.cause
    )
    if event.kind != InvoiceEvent.Kind.STATUS:
        return
    _event_fan_out(event)
    InvoiceEvent.objects.filter(pk=event.pk, dispatched_at__isnull=True).update(dispatched_at=timezone.now())


@shared_task(ignore_result=True)
def invoice_events_dispatch_task(*, older_than_seconds: int = 30, batch: int = 500) -> int:
    """The outbox sweep: status events whose fan-out never ran (broker down at commit, worker
    killed) are queued again. Sends are claimed per event, so a re-run sends nothing twice."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    ids = list(
        InvoiceEvent.objects.filter(dispatched_at__isnull=True, kind=InvoiceEvent.Kind.STATUS, created__lt=cutoff)
        .order_by("id")
        .values_list("id", flat=True)[:batch]
    )
    for event_id in ids:
        invoice_event_task.delay(event_id)
    return len(ids)


def _event_fan_out(event: InvoiceEvent) -> None:
    invoice = event.invoice
    # Each message is claimed once per event (a cache key), so a re-run of this task (retry,
    # outbox sweep, redelivery) queues nothing twice; the send tasks retry on their own.
    if event.new_status == InvoiceStatus.COMPLETE and event.old_status != InvoiceStatus.COMPLETE:
        if invoice.buyer_email:
            key = messaging.sent_key("email_invoice_complete", invoice.pk, event.pk)
            if messaging.claim(key):
                try:
                    emails.invoice_email_send_task.delay(invoice.pk, key)
                except BrokerError:
                    messaging.release(key)
                    raise
        notifications.invoice_notify(invoice=invoice, kind="invoice_complete", event_id=event.pk)
    if (
        event.new_exception_status == ExceptionStatus.PAID_LATE
        and event.old_exception_status != ExceptionStatus.PAID_LATE
    ):
        notifications.invoice_notify(invoice=invoice, kind="invoice_paid_late", event_id=event.pk)
    # Set by invoices.services: money received after completion, and a paid order whose stock was sold meanwhile.
    if "paid_after_complete" in event.data:
        notifications.invoice_notify(invoice=invoice, kind="invoice_paid_after_complete", event_id=event.pk)
    if "stock_short" in event.data:
        notifications.invoice_notify(invoice=invoice, kind="invoice_stock_short", event_id=event.pk)


@shared_task(ignore_result=True, soft_time_limit=240, time_limit=300)
def invoices_reconcile_task() -> int:
    """Re-check every watched invoice against the daemon; a run at a time (cache lock)."""
    if not cache.add(LOCK_KEY, 1, LOCK_SECONDS):
        return 0
    try:
        with DaemonClient() as client:
            watch_all(client=client)
            cache.touch(LOCK_KEY, LOCK_SECONDS)
            return reconcile(client=client, cause="reconcile", progress=lambda: cache.touch(LOCK_KEY, LOCK_SECONDS))
    except DaemonError as exc:
        logger.warning("reconciliation skipped: %s", exc)
        return 0
    finally:
        cache.delete(LOCK_KEY)
