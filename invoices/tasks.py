"""Celery tasks: take ids, call services, safe to retry."""

import logging

from celery import shared_task

from invoices import services

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def invoices_expire_task() -> int:
    return services.invoices_expire()


@shared_task(bind=True, ignore_result=True, max_retries=20)
def invoice_watch_task(self, invoice_id: str) -> None:
    """Tell the coin daemon to watch a new invoice's addresses. If the daemon is down this
    retries; the listener also re-registers every open invoice whenever it (re)connects."""
    from daemons.client import DaemonError
    from invoices.watch import invoice_watch

    try:
        invoice_watch(invoice_id=invoice_id)
    except DaemonError as exc:
        if not exc.retryable:
            logger.error("daemon refused to watch invoice %s: %s", invoice_id, exc)
            return
        raise self.retry(exc=exc, countdown=min(2**self.request.retries, 60)) from exc


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
