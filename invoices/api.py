"""Merchant and public API for invoices (Bitcart's routes and field names)."""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import scopes
from accounts.permissions import request_grant
from accounts.throttling import AnonymousInvoiceThrottle
from accounts.viewsets import ApiViewSet, list_schema
from bitcart.errors import NotFound, PermissionDenied
from invoices import services
from invoices.customer import DetailsActor, invoice_details_update
from invoices.models import Invoice
from invoices.payloads import invoice_snapshot
from invoices.serializers import (
    CustomerUpdateSerializer,
    InvoiceCreateSerializer,
    InvoiceSerializer,
    InvoiceUpdateSerializer,
    PublicInvoiceSerializer,
)
from invoices.services import invoice_create, invoice_mark_complete, invoice_mark_invalid
from stores.models import Store


class AnonymousInvoicesDisabled(PermissionDenied):
    code = "anonymous_invoice_creation_disabled"


def invoices_queryset() -> QuerySet[Invoice]:
    return Invoice.objects.select_related("store").prefetch_related(
        "payment_methods__payments", "invoice_products__product"
    )


class InvoiceViewSet(ApiViewSet):
    """An invoice asks a buyer to pay a price, in the store's currency or a crypto, to a fresh
    address of the store's wallets. Its `status` goes pending → paid (seen) → confirmed → complete
    (enough confirmations), or expired/invalid; `exception_status` tells paid_partial, paid_over,
    paid_late. Your webhook endpoints hear about every change."""

    scope = scopes.INVOICE_MANAGEMENT
    public_actions = ("retrieve", "create", "customer", "order_id")
    queryset = invoices_queryset()
    serializer_class = InvoiceSerializer
    sort_fields = {
        "created": "created",
        "price": "price",
        "status": "status",
        "order_id": "order_id",
        "expires_at": "expires_at",
    }
    filter_fields = {
        "status": "status",
        "exception_status": "exception_status",
        "store_id": "store_id",
        "order_id": "order_id",
        "currency": "currency",
        "buyer_email": "buyer_email",
        "id": "id",
    }
    search_fields = ("id", "order_id", "buyer_email", "notes")
    batch_commands = {"mark_complete": "batch_mark_complete", "mark_invalid": "batch_mark_invalid"}

    # --- who may do what ---

    def _owns(self, invoice: Invoice) -> bool:
        user = self.request.user
        return (
            user.is_authenticated
            and invoice.store.owner_id == user.pk
            and request_grant(self.request, self.scope).allows_store(invoice.store_id)
        )

    def _represent(self, invoice: Invoice) -> dict:
        if self._owns(invoice):
            return InvoiceSerializer(invoice).data
        return PublicInvoiceSerializer(invoice).data

    def _store_for_create(self, store_id: str) -> tuple[Store, bool]:
        """(store, caller is its authorized owner). Others create only where the store allows it."""
        try:
            store = Store.objects.get(pk=store_id)
        except Store.DoesNotExist:
            raise NotFound("Store not found", code="store_not_found") from None
        user = self.request.user
        if user.is_authenticated and store.owner_id == user.pk and self.grant().allows_store(store.pk):
            return store, True
        if not store.allow_anonymous_invoice_creation:
            raise AnonymousInvoicesDisabled("This store does not accept invoices from anonymous callers")
        throttle = AnonymousInvoiceThrottle()
        if not throttle.allow_request(self.request, self):
            raise Throttled(wait=throttle.wait())
        return store, False

    def _create(self, data: InvoiceCreateSerializer, *, order_id: str | None = None) -> dict:
        """Create (or find, by order_id) and return the caller's view of the invoice."""
        store, owner = self._store_for_create(data.validated_data["store_id"])
        kwargs = data.service_kwargs()
        if not owner:
            # Anonymous callers (a store page, a POS) cannot point our webhook sender anywhere.
            kwargs["notification_url"] = ""
        if order_id is not None:
            kwargs["order_id"] = order_id
            invoice, created = services.invoice_get_or_create_by_order_id(store=store, **kwargs)
        else:
            invoice, created = invoice_create(store=store, **kwargs), True
        if not created:
            return self._represent(invoices_queryset().get(pk=invoice.pk))
        # A new invoice holds its payment methods and lines already (no query to read them).
        if owner:
            return invoice.snapshot_at_creation or invoice_snapshot(invoice)
        return PublicInvoiceSerializer(invoice).data

    # --- routes ---

    @list_schema(responses=InvoiceSerializer(many=True))
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses=InvoiceSerializer)
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Returns an invoice. Anyone may call this (a checkout page polls it): the owner's token
        with `invoice_management` gets everything, anyone else the public view, without buyer data,
        metadata or notification URL."""
        invoice = invoices_queryset().filter(pk=kwargs["pk"]).first()
        if invoice is None:
            raise NotFound("Invoice not found", code="invoice_not_found")
        return Response(self._represent(invoice))

    @extend_schema(request=InvoiceCreateSerializer, responses={201: InvoiceSerializer})
    def create(self, request: Request) -> Response:
        """Creates an invoice for a store: a `price` (with `currency`), or `products` priced by the
        store. The owner's token with `invoice_management` gets the full invoice; anyone else may
        create one only where the store allows anonymous invoices (a store page, a POS), is rate
        limited, gets the public view, and cannot set `notification_url`."""
        data = InvoiceCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(self._create(data), status=status.HTTP_201_CREATED)

    @extend_schema(
        request=InvoiceCreateSerializer,
        responses={200: InvoiceSerializer},
        parameters=[OpenApiParameter("order_id", str, OpenApiParameter.PATH)],
    )
    @action(detail=False, methods=["post"], url_path=r"order_id/(?P<order_id>[^/]{1,255})", pagination_class=None)
    def order_id(self, request: Request, order_id: str) -> Response:
        """Bitcart's get-or-create: the store's unexpired invoice with this `order_id`, or a new one
        made from the body. Two concurrent calls with one order id make one invoice. Who may call it
        is as for creating an invoice."""
        data = InvoiceCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(self._create(data, order_id=order_id))

    @extend_schema(
        request=InvoiceUpdateSerializer,
        responses=InvoiceSerializer,
        description="The owner's edit. Buyer fields change only while the invoice is pending (409 after).",
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        """Changes the merchant's fields of one of your invoices (`order_id`, `metadata`, URLs, buyer
        details); amounts and status are not editable (the batch commands `mark_complete` and
        `mark_invalid` change the status)."""
        data = InvoiceUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        invoice = self.get_object()
        invoice_details_update(invoice_id=invoice.pk, actor=DetailsActor.OWNER, **data.validated_data)
        return Response(InvoiceSerializer(invoices_queryset().get(pk=invoice.pk)).data)

    @extend_schema(
        request=CustomerUpdateSerializer,
        responses=PublicInvoiceSerializer,
        description="Anyone may set the buyer fields the store asks for (checkout_settings.email_required, "
        "ask_address) while the invoice is pending; notes only the owner. Refusals: 403 field_not_allowed, "
        "409 invoice_not_pending; nothing is changed then.",
    )
    @action(detail=True, methods=["patch"], pagination_class=None)
    def customer(self, request: Request, pk: str) -> Response:
        """The buyer's details for an invoice (e-mail, shipping address, notes), from the checkout
        page. Anyone may call this, but only fields still empty are filled in; nothing given here
        overwrites what is already there."""
        data = CustomerUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invoice = Invoice.objects.select_related("store").filter(pk=pk).first()
        if invoice is None:
            raise NotFound("Invoice not found", code="invoice_not_found")
        actor = DetailsActor.OWNER if self._owns(invoice) else DetailsActor.PUBLIC
        invoice_details_update(invoice_id=pk, actor=actor, **data.validated_data)
        return Response(self._represent(invoices_queryset().get(pk=pk)))

    # An invoice the command does not apply to raises TransitionNotAllowed: the batch answer lists
    # it under `failed` with that code (Bitcart skipped it silently).
    def batch_mark_complete(self, invoice: Invoice, options: dict) -> None:
        invoice_mark_complete(invoice_id=invoice.pk, actor=f"api:{self.request.user.pk}")

    def batch_mark_invalid(self, invoice: Invoice, options: dict) -> None:
        invoice_mark_invalid(invoice_id=invoice.pk, actor=f"api:{self.request.user.pk}")
