"""The buyer's e-mail when an order is complete: order summary, products, download links.

Sent with django-templated-mail through the server's e-mail settings (EMAIL_URL). Each receipt is a
message of the invoice-event outbox (webhooks.services), written with the status change and sent
by the outbox's delivery task after commit, with its retries. A store can replace the body with a
Template row named "email_invoice_complete" (see stores.messaging).
"""

import html
import smtplib

from django.conf import settings
from django.utils import translation
from django.utils.html import strip_tags
from django.utils.safestring import mark_safe
from templated_mail.mail import BaseEmailMessage

from invoices.models import Invoice
from stores import messaging

TEMPLATE_NAME = "email_invoice_complete"
# A refused recipient or sender will be refused again: retrying only delays the error.
TERMINAL_SMTP_ERRORS = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPNotSupportedError)


class InvoiceCompleteEmail(BaseEmailMessage):
    template_name = "email/invoice_complete.html"


def invoice_complete_email_send(*, invoice_id: str, to: str | None = None) -> bool:
    """Send the receipt now, to `to` (default: the invoice's buyer); False when there is no one
    to send it to. SMTP errors are the caller's to retry (TERMINAL_SMTP_ERRORS are final)."""
    invoice = Invoice.objects.select_related("store").filter(pk=invoice_id).first()
    recipient = to or (invoice.buyer_email if invoice is not None else "")
    if invoice is None or not recipient:
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
            to=[recipient],
            reply_to=[store.email] if store.email else [],
            from_email=settings.DEFAULT_FROM_EMAIL,
        )
    return True
