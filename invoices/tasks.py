"""Celery tasks: take ids, call services, safe to retry."""

import logging

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

from coins import registry
from coins.registry import Family
from daemons.client import DaemonClient, DaemonError
from invoices import services
from invoices.models import InvoiceEvent, PaymentMethod
from invoices.reconcile import reconcile, sync_invoices
from invoices.selectors import invoice_event_get
from invoices.watch import watch_all
from webhooks.services import invoice_event_messages_enqueue

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
    # Asked chain by chain: an invoice waits only if a chain it can be paid on could not answer, so a chain
    # whose daemon is down holds up no other chain's invoices.
    unanswered: set[str] = set()
    for chain in registry.chains():
        try:
            with DaemonClient(chain=chain.key) as client:
                unanswered |= sync_invoices(due, client=client, cause="expiry")
        except DaemonError as exc:
            waiting = set(
                PaymentMethod.objects.filter(invoice_id__in=due, wallet__currency=chain.symbol).values_list(
                    "invoice_id", flat=True
                )
            )
            if waiting:
                logger.warning(
                    "expiry of %s invoice(s) postponed: the %s daemon cannot say if they were paid (%s)",
                    len(waiting),
                    chain.symbol,
                    exc,
                )
            unanswered |= waiting
    if unanswered:
        logger.warning("expiry of %s invoice(s) postponed: a daemon could not answer for them", len(unanswered))
    return services.invoices_expire(now=now, ids=[pk for pk in due if pk not in unanswered])


@shared_task(ignore_result=True)
def invoice_event_task(event_id: int) -> None:
    """An invoice event's fan-out after commit (queued by invoices.effects): queue a delivery for
    each of its outbox messages (webhooks, the buyer's e-mail, merchant notifications), which its
    transaction wrote. Safe to repeat: a message is queued only while pending, and claimed before
    it is sent; one lost here is found by the outbox sweep (webhooks_dispatch_due_task)."""
    event = invoice_event_get(event_id=event_id)
    if event is None:
        return
    logger.info(
        "invoice %s: %s %s→%s (%s)", event.invoice_id, event.kind, event.old_status, event.new_status, event.cause
    )
    invoice_event_messages_enqueue(invoice_event_id=event.pk)
    InvoiceEvent.objects.filter(pk=event.pk, dispatched_at__isnull=True).update(dispatched_at=timezone.now())


@shared_task(ignore_result=True, soft_time_limit=240, time_limit=300)
def invoices_reconcile_task() -> int:
    """Re-check every watched invoice against the daemon; a run at a time (cache lock)."""
    if not cache.add(LOCK_KEY, 1, LOCK_SECONDS):
        return 0
    changed = 0
    try:
        for chain in registry.chains():  # one chain's daemon being down skips only that chain
            try:
                with DaemonClient(chain=chain.key) as client:
                    if chain.family == Family.BITCOIN:
                        watch_all(client=client)
                    cache.touch(LOCK_KEY, LOCK_SECONDS)
                    changed += reconcile(
                        client=client, cause="reconcile", progress=lambda: cache.touch(LOCK_KEY, LOCK_SECONDS)
                    )
            except DaemonError as exc:
                logger.warning("reconciliation of %s skipped: %s", chain.symbol, exc)
        return changed
    finally:
        cache.delete(LOCK_KEY)
