"""What e-mails and notifications share: the merchant's template overrides and the invoice context
they are rendered with. (Sending each once is the outbox's job: webhooks.services.)"""

from django.conf import settings
from django.db.models import Q
from django.template import Context
from django.template import Template as DjangoTemplate
from django.urls import reverse

from bitcart.money import quantize
from invoices.models import Invoice
from invoices.payloads import sent_amount_text
from stores.models import Store, Template


def template_override(*, store: Store, name: str) -> str | None:
    """The merchant's text for `name`: the store's own, else the owner's for all stores, else None."""
    rows = Template.objects.filter(owner_id=store.owner_id, name=name).filter(Q(store=store) | Q(store__isnull=True))
    texts = {row.store_id: row.text for row in rows}
    return texts.get(store.pk, texts.get(None))


def render_override(text: str, context: dict) -> str:
    """Merchant-written template, rendered by Django's engine with autoescaping: invoice fields such
    as notes or a shipping address come from buyers and must not become markup."""
    return DjangoTemplate(text).render(Context(context, autoescape=True))


def invoice_context(invoice: Invoice) -> dict:
    store = invoice.store
    items = [
        {
            "name": line.product.name,
            "count": line.count,
            "price": str(quantize(line.price, invoice.currency)),
            "download_url": line.product.download_url,
        }
        for line in invoice.invoice_products.select_related("product").order_by("id")
    ]
    return {
        "store": store,
        "invoice": invoice,
        "items": items,
        "downloads": [item for item in items if item["download_url"]],
        "price": str(quantize(invoice.price, invoice.currency)),
        "currency": invoice.currency,
        "sent": sent_amount_text(invoice),  # in paid_currency, with that coin's decimals
        "checkout_url": settings.SITE_URL.rstrip("/") + reverse("invoices:checkout", args=[invoice.pk]),
    }
