"""Merchant notifications through Apprise (https://github.com/caronc/apprise): every enabled
NotificationProvider of a store gets the message, each from its own Celery task with retries.

`notify_merchant` is the entry point for other code (a webhook endpoint disabled, rates missing);
invoice events come through `invoice_notify`, called by invoices.tasks.invoice_event_task.
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
from kombu.exceptions import OperationalError as BrokerError

from invoices.models import Invoice
from stores import messaging
from stores.models import NotificationProvider

logger = logging.getLogger(__name__)

# Invoice notifications: template name -> the default template and its title.
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


def _providers(store_id: str) -> list[str]:
    return list(NotificationProvider.objects.filter(store_id=store_id, enabled=True).values_list("pk", flat=True))


def _queue(provider_id: str, title: str, body: str, key: str = "") -> None:
    notification_send_task.delay(provider_id, title, body, key)


def notify_merchant(*, store_id: str, title: str, body: str) -> int:
    """Tell the store's merchant something, on every enabled provider; returns how many.

    Queued after the current transaction commits (immediately outside one).
    """
    providers = _providers(store_id)
    for provider_id in providers:
        transaction.on_commit(partial(_queue, provider_id, title, body), robust=True)
    return len(providers)


def invoice_notification_render(*, invoice: Invoice, kind: str) -> tuple[str, str]:
    template_name, title = INVOICE_NOTIFICATIONS[kind]
    context = messaging.invoice_context(invoice)
    override = messaging.template_override(store=invoice.store, name=f"notification_{kind}")
    # In the server's language: a task must not inherit whatever its thread last rendered.
    with translation.override(settings.LANGUAGE_CODE):
        if override is not None:
            body = messaging.render_override(override, context)
        else:
            body = render_to_string(template_name, context)
        return title(invoice), body.strip()


def invoice_notify(*, invoice: Invoice, kind: str, event_id: int) -> int:
    """Queue one invoice notification per provider, once per event (see messaging.claim)."""
    providers = _providers(invoice.store_id)
    if not providers:
        return 0
    title, body = invoice_notification_render(invoice=invoice, kind=kind)
    queued = 0
    for provider_id in providers:
        key = messaging.sent_key(f"notification_{kind}", invoice.pk, event_id, provider_id)
        if not messaging.claim(key):
            continue
        try:
            _queue(provider_id, title, body, key)
        except BrokerError:
            messaging.release(key)  # so the event's next fan-out (retry or sweep) queues it again
            raise
        queued += 1
    return queued


@shared_task(
    bind=True,
    ignore_result=True,
    autoretry_for=(NotificationFailed,),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=8,
)
def notification_send_task(self, provider_id: str, title: str, body: str, key: str = "") -> None:
    if messaging.already_sent(key):
        return
    provider = NotificationProvider.objects.filter(pk=provider_id, enabled=True).first()
    if provider is None:
        return
    sender = apprise.Apprise()
    # Apprise's HTTP-based services time out after 4 s connecting and 4 s reading unless the URL
    # says otherwise (?cto=&rto=), so a dead target cannot hold a worker.
    if not sender.add(provider.url):
        logger.error("notification provider %s (%s) has an unusable URL", provider.pk, provider.name)
        return
    if not sender.notify(title=title, body=body, body_format=apprise.NotifyFormat.TEXT):
        raise NotificationFailed(f"provider {provider.pk} ({provider.name}) did not accept the notification")
    messaging.mark_sent(key)
