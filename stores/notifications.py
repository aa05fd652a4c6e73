"""Merchant notifications through Apprise (https://github.com/caronc/apprise).

Invoice events (complete, paid late) notify every enabled NotificationProvider of the store through
the invoice-event outbox (webhooks.services): one durable message per provider, written with the
status change, sent by `invoice_notification_send` from the outbox's delivery task with its
retries. `notify_merchant` is the entry point for other code (a webhook endpoint disabled, rates
missing): one Celery task per provider, with retries.
"""

import logging
from functools import partial

import apprise
from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from invoices.models import Invoice
from stores import messaging
from stores.models import NotificationProvider

logger = logging.getLogger(__name__)

# Invoice notifications: topic -> the default template and its title.
INVOICE_NOTIFICATIONS = {
    "invoice_complete": ("stores/notifications/invoice_complete.txt", lambda i: _("Invoice %s is complete") % i.pk),
    "invoice_paid_late": (
        "stores/notifications/invoice_paid_late.txt",
        lambda i: _("Late payment on expired invoice %s") % i.pk,
    ),
    "invoice_paid_after_complete": (
        "stores/notifications/invoice_paid_after_complete.txt",
        lambda i: _("Payment after completion on invoice %s") % i.pk,
    ),
    "invoice_stock_short": (
        "stores/notifications/invoice_stock_short.txt",
        lambda i: _("Paid order exceeds stock on invoice %s") % i.pk,
    ),
}


class NotificationFailed(Exception):
    """Apprise could not deliver (the target is down or answered an error): worth retrying."""


class NotificationRefused(Exception):
    """Nothing to send to (provider gone or disabled, unusable URL, invoice gone): retrying cannot help."""


def _send(provider: NotificationProvider, title: str, body: str) -> None:
    sender = apprise.Apprise()
    # Apprise's HTTP-based services time out after 4 s connecting and 4 s reading unless the URL
    # says otherwise (?cto=&rto=), so a dead target cannot hold a worker.
    if not sender.add(provider.url):
        raise NotificationRefused(f"notification provider {provider.pk} ({provider.name}) has an unusable URL")
    if not sender.notify(title=title, body=body, body_format=apprise.NotifyFormat.TEXT):
        raise NotificationFailed(f"provider {provider.pk} ({provider.name}) did not accept the notification")


def _provider(provider_id: str) -> NotificationProvider:
    provider = NotificationProvider.objects.filter(pk=provider_id, enabled=True).first()
    if provider is None:
        raise NotificationRefused(f"notification provider {provider_id} is gone or disabled")
    return provider


def invoice_notification_render(*, invoice: Invoice, topic: str) -> tuple[str, str]:
    template_name, title = INVOICE_NOTIFICATIONS[topic]
    context = messaging.invoice_context(invoice)
    override = messaging.template_override(store=invoice.store, name=f"notification_{topic}")
    # In the server's language: a task must not inherit whatever its thread last rendered.
    with translation.override(settings.LANGUAGE_CODE):
        if override is not None:
            body = messaging.render_override(override, context)
        else:
            body = render_to_string(template_name, context)
        return title(invoice), body.strip()


def invoice_notification_send(*, provider_id: str, invoice_id: str, topic: str) -> None:
    """Send one invoice notification now. Raises NotificationFailed (retry) or NotificationRefused."""
    provider = _provider(provider_id)
    invoice = Invoice.objects.select_related("store").filter(pk=invoice_id).first()
    if invoice is None:
        raise NotificationRefused(f"invoice {invoice_id} is gone")
    title, body = invoice_notification_render(invoice=invoice, topic=topic)
    _send(provider, title, body)


def _queue(provider_id: str, title: str, body: str) -> None:
    notification_send_task.delay(provider_id, title, body)


def notify_merchant(*, store_id: str, title: str, body: str) -> int:
    """Tell the store's merchant something, on every enabled provider; returns how many.

    Queued after the current transaction commits (immediately outside one).
    """
    providers = list(NotificationProvider.objects.filter(store_id=store_id, enabled=True).values_list("pk", flat=True))
    for provider_id in providers:
        transaction.on_commit(partial(_queue, provider_id, title, body), robust=True)
    return len(providers)


@shared_task(
    bind=True,
    ignore_result=True,
    autoretry_for=(NotificationFailed,),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=8,
)
def notification_send_task(self, provider_id: str, title: str, body: str) -> None:
    try:
        _send(_provider(provider_id), title, body)
    except NotificationRefused as exc:
        logger.error("%s", exc)
