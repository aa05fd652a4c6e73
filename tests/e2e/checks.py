"""What the chain tests read back from the database about an invoice."""

import socket
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from invoices.models import Invoice, InvoiceEvent, Payment, PaymentMethod


def state(invoice_id: str) -> tuple[str, str, Decimal]:
    invoice = Invoice.objects.get(pk=invoice_id)
    return invoice.status, invoice.exception_status, invoice.sent_amount


def status_changes(invoice_id: str) -> list[tuple[str, str, str, str]]:
    events = InvoiceEvent.objects.filter(invoice_id=invoice_id, kind=InvoiceEvent.Kind.STATUS).order_by("id")
    return list(events.values_list("old_status", "new_status", "old_exception_status", "new_exception_status"))


def payments(method: PaymentMethod) -> list[tuple[str, int, int, int, str]]:
    rows = Payment.objects.filter(payment_method=method).order_by("txid", "vout")
    return list(rows.values_list("txid", "vout", "amount", "confirmations", "state"))


def expire_now(invoice: Invoice) -> None:
    """Move the deadline into the past; the monitoring window (monitor_until) stays in the future."""
    Invoice.objects.filter(pk=invoice.pk).update(expires_at=timezone.now() - timedelta(seconds=1))


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
