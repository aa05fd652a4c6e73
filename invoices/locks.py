"""Row locks in one place: every read-modify-write of an invoice goes through these."""

from bitcart.errors import NotFound
from invoices.models import Invoice


def invoice_lock(invoice_id: str) -> Invoice:
    """Lock the invoice row for the rest of the caller's transaction (select_for_update)."""
    try:
        return Invoice.objects.select_for_update().get(pk=invoice_id)
    except Invoice.DoesNotExist:
        raise NotFound("Invoice not found", code="invoice_not_found") from None
