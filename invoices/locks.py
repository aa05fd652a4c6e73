"""Row locks in one place: every read-modify-write of an invoice goes through these."""

from django.db.models import Exists, OuterRef

from bitcart.errors import NotFound
from bitcart.models import prefetched
from invoices.models import Invoice, InvoiceProduct, PaymentMethod
from stores.models import Store


def invoice_lock(invoice_id: str) -> Invoice:
    """Lock the invoice row for the rest of the caller's transaction (select_for_update)."""
    try:
        return Invoice.objects.select_for_update().get(pk=invoice_id)
    except Invoice.DoesNotExist:
        raise NotFound("Invoice not found", code="invoice_not_found") from None


def invoice_lock_by_method(payment_method_id: str) -> Invoice:
    """invoice_lock, found by one of its payment methods, with what the webhook snapshot reads
    besides payments: its store, and its product lines when it has none (most invoices). One
    query; only the invoice row is locked, not the store's."""
    try:
        invoice = (
            Invoice.objects.select_for_update(of=("self",))
            .select_related("store")
            .annotate(has_lines=Exists(InvoiceProduct.objects.filter(invoice=OuterRef("pk"))))
            .get(payment_methods=payment_method_id)
        )
    except Invoice.DoesNotExist:
        raise PaymentMethod.DoesNotExist(f"Payment method {payment_method_id} not found") from None
    if not invoice.has_lines:
        prefetched(invoice, invoice_products=[])
    return invoice


def store_lock(store_id: str) -> None:
    """Lock the store row for the rest of the caller's transaction: serialises work per store that
    no unique constraint can (one open invoice per order id)."""
    Store.objects.select_for_update().filter(pk=store_id).first()
