"""Celery tasks: take ids, call services, safe to retry (a message is claimed before it is sent)."""

from celery import shared_task

from accounts.services import idempotency_purge
from webhooks import services


@shared_task(ignore_result=True)
def webhook_message_deliver_task(message_id: str) -> None:
    services.webhook_message_deliver(message_id=message_id)


@shared_task(ignore_result=True)
def webhooks_dispatch_due_task() -> int:
    return services.webhooks_dispatch_due()


@shared_task(ignore_result=True)
def webhooks_purge_task() -> int:
    # Expired Idempotency-Key rows go with the same hourly housekeeping.
    return services.webhooks_purge() + idempotency_purge()
