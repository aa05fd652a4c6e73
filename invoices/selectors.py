from collections.abc import Iterator

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from invoices.models import OPEN_STATUSES, Invoice, InvoiceEvent, InvoiceProduct, InvoiceStatus, Payment, PaymentMethod

# Closed for the status machine, but still able to receive a payment worth recording.
MONITORED_STATUSES = (InvoiceStatus.EXPIRED, InvoiceStatus.COMPLETE)


def invoices_watched(*, now=None) -> QuerySet[Invoice]:
    """Invoices whose addresses the daemon must watch: open ones, and expired or complete ones still
    inside their monitoring window (a late payment; a second payment after completion)."""
    now = now or timezone.now()
    return Invoice.objects.filter(Q(status__in=OPEN_STATUSES) | Q(status__in=MONITORED_STATUSES, monitor_until__gt=now))


def payment_methods_watched(*, now=None) -> QuerySet[PaymentMethod]:
    return PaymentMethod.objects.filter(invoice__in=invoices_watched(now=now)).select_related("wallet", "invoice")


def wallet_has_watched_invoices(*, wallet_id: str) -> bool:
    return payment_methods_watched().filter(wallet_id=wallet_id).exists()


def invoice_event_get(*, event_id: int) -> InvoiceEvent | None:
    return InvoiceEvent.objects.select_related("invoice").filter(pk=event_id).first()


def invoices_for_user(*, user) -> QuerySet[Invoice]:
    if user.is_superuser:
        return Invoice.objects.all()
    return Invoice.objects.filter(store__owner=user)


# The invoice page of the merchants' admin.


def invoice_payment_methods(*, invoice: Invoice) -> list[PaymentMethod]:
    return list(
        invoice.payment_methods.select_related("wallet")
        .prefetch_related(Prefetch("payments", queryset=Payment.objects.order_by("created", "pk")))
        .order_by("created", "pk")
    )


def invoice_timeline(*, invoice: Invoice) -> QuerySet[InvoiceEvent]:
    return invoice.events.order_by("id")


def invoice_product_lines(*, invoice: Invoice) -> QuerySet[InvoiceProduct]:
    return invoice.invoice_products.select_related("product").order_by("pk")


def invoices_for_export(queryset: QuerySet[Invoice]) -> Iterator[Invoice]:
    """The selected invoices with their store and addresses, streamed in chunks."""
    methods = Prefetch("payment_methods", queryset=PaymentMethod.objects.order_by("created", "pk"))
    return queryset.select_related("store").prefetch_related(methods).order_by("created", "pk").iterator(chunk_size=500)
