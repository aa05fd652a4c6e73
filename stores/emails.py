"""The buyer's e-mail when an order is complete: order summary, products, download links.

Sent with django-templated-mail through the server's e-mail settings (EMAIL_URL), from a Celery
task queued by invoices.tasks.invoice_event_task, so never inside the payment transaction. A store
can replace the body with a Template row named "email_invoice_complete" (see stores.messaging).
"""

import html
import logging
import smtplib

from celery import shared_task
from django.conf import settings
from django.utils import translation
from django.utils.html import strip_tags
from django.utils.safestring import mark_safe
from templated_mail.mail import BaseEmailMessage

from invoices.models import Invoice
from stores import messaging

logger = logging.getLogger(__name__)

TEMPLATE_NAME = "email_invoice_complete"
# A refused recipient or sender will be refused again: retrying only delays the error.
TERMINAL_SMTP_ERRORS = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPNotSupportedError)


class InvoiceCompleteEmail(BaseEmailMessage):
    template_name = "email/invoice_complete.html"


def invoice_complete_email_send(*, invoice_id: str) -> bool:
    """Send the receipt now; False when there is no one to send it to."""
    invoice = Invoice.objects.select_related("store").filter(pk=invoice_id).first()
    if invoice is None or not invoice.buyer_email:
        return False
    store = invoice.store
    context = messaging.invoice_context(invoice)
    override = messaging.template_override(store=store, name=TEMPLATE_NAME)
    if override is not None:
        rendered = messaging.render_override(override, context)
        # Already escaped by render_override; the text part is the same words without markup.
        context["custom_html"] = mark_safe(rendered)
        context["custom_text"] = html.unescape(strip_tags(rendered))
    message = InvoiceCompleteEmail(context=context)
    # In the server's language: a task must not inherit whatever its thread last rendered.
    with translation.override(settings.LANGUAGE_CODE):
        message.send(
            to=[invoice.buyer_email],
            reply_to=[store.email] if store.email else [],
            from_email=settings.DEFAULT_FROM_EMAIL,
        )
    return True


@shared_task(
    bind=True,
    ignore_result=True,
    autoretry_for=(smtplib.SMTPException, OSError),
    dont_autoretry_for=TERMINAL_SMTP_ERRORS,
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=8,
)
def invoice_email_send_task(self, invoice_id: str, key: str = "") -> None:
    # The marker is checked and set around the send: a task redelivered after a crash between
    # the two may send twice, which beats never sending.
    if messaging.already_sent(key):
        return
    try:
        sent = invoice_complete_email_send(invoice_id=invoice_id)
    except TERMINAL_SMTP_ERRORS as exc:
        logger.error("receipt for invoice %s refused by the mail server: %s", invoice_id, exc)
        return
    if sent:
        messaging.mark_sent(key)
