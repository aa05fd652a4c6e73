"""Reads for the admin (the merchants' UI): what a user may see, and the invoice detail page.

Every merchant-facing model is reached from its owner through one path; scoping all admin
querysets through `owned` keeps "a merchant sees only their own objects" in one table.
"""

from collections.abc import Iterator

from django.db.models import Model, Prefetch, QuerySet

from invoices.models import Invoice, InvoiceEvent, InvoiceProduct, Payment, PaymentMethod
from stores.models import Discount, NotificationProvider, Product, Store, Template
from wallets.models import Wallet

OWNER_PATHS: dict[type[Model], str] = {
    Store: "owner",
    Wallet: "owner",
    Template: "owner",
    Product: "store__owner",
    Discount: "store__owner",
    NotificationProvider: "store__owner",
    Invoice: "store__owner",
    InvoiceProduct: "invoice__store__owner",
    PaymentMethod: "invoice__store__owner",
    InvoiceEvent: "invoice__store__owner",
    Payment: "payment_method__invoice__store__owner",
}


def owned(queryset: QuerySet, *, user) -> QuerySet:
    """`queryset` narrowed to what `user` owns; superusers see everything."""
    if user.is_superuser:
        return queryset
    if not user.is_authenticated:
        return queryset.none()
    return queryset.filter(**{OWNER_PATHS[queryset.model]: user})


def owned_objects(model: type[Model], *, user) -> QuerySet:
    return owned(model._default_manager.all(), user=user)


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
