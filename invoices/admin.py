"""Invoices in the merchants' admin: created through the service, changed only by services.

The change page is a read-only record (payment methods, payments, the event timeline) with the
notes (and, while pending, the buyer's e-mail and address) editable through invoices.customer;
statuses move only through invoices.services (the actions).
"""

import json

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from bitcart.admin import OwnerScopedAdmin, ScopedModelForm, ViewOnlyScopedAdmin, csv_response
from bitcart.errors import ApplicationError
from bitcart.money import currency_choices, format_coin, quantize
from bitcart.ownership import owned_objects
from invoices import selectors, services
from invoices.customer import DetailsActor, invoice_details_update
from invoices.models import Invoice, InvoiceEvent, InvoiceProduct, InvoiceStatus, Payment, PaymentMethod
from invoices.payloads import sent_amount_text
from stores.models import Product, Store

EDITABLE_FIELDS = ("buyer_email", "shipping_address", "notes")
CSV_COLUMNS = (
    "id",
    "created",
    "store",
    "price",
    "currency",
    "status",
    "exception_status",
    "sent_amount",
    "paid_currency",
    "paid_date",
    "order_id",
    "buyer_email",
    "address",
)
# Which add-form field a service refusal is about (the rest are shown above the form).
_ERROR_FIELDS = {
    "invalid_amount": "price",
    "too_many_decimals": "price",
    "price_required": "price",
    "amount_too_small": "price",
    "unknown_currency": "currency",
    "currency_mismatch": "currency",
    "product_not_found": "items",
    "out_of_stock": "items",
    "invalid_quantity": "items",
    "too_many_products": "items",
    "no_wallets": "store",
}
_DETAIL_ERROR_FIELDS = {
    "invalid_email": "buyer_email",
    "email_required": "buyer_email",
    "invalid_address": "shipping_address",
    "address_required": "shipping_address",
    "invalid_notes": "notes",
}
_STATUS_COLOURS: dict[str, str] = {
    InvoiceStatus.PENDING: "#64748b",
    InvoiceStatus.PAID: "#2563eb",
    InvoiceStatus.CONFIRMED: "#0891b2",
    InvoiceStatus.COMPLETE: "#16a34a",
    InvoiceStatus.EXPIRED: "#a16207",
    InvoiceStatus.INVALID: "#dc2626",
    InvoiceStatus.REFUNDED: "#7c3aed",
}


def _coin(method: PaymentMethod, units: int) -> str:
    return format_coin(units, method.decimals, method.currency)


class InvoiceCreateForm(ScopedModelForm):
    """The add page: the fields of invoices.services.invoice_create, and nothing else."""

    store = forms.ModelChoiceField(queryset=Store.objects.none())
    # A string on purpose: the service parses amounts (no floats, no more decimals than the currency has).
    price = forms.CharField(required=False, max_length=40, help_text="Empty: the sum of the products' prices.")
    currency = forms.ChoiceField(
        required=False,
        choices=lambda: [("", "Store default"), *currency_choices()],
    )
    order_id = forms.CharField(required=False, max_length=255)
    buyer_email = forms.EmailField(required=False)
    notes = forms.CharField(required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 3}))
    # Not named `products`: that is the invoice's through-table relation, which only the service writes.
    items = forms.ModelMultipleChoiceField(
        label="Products",
        queryset=Product.objects.none(),
        required=False,
        help_text="One of each; priced in the store's currency.",
    )

    class Meta:
        model = Invoice
        fields = ("store", "price", "currency", "order_id", "buyer_email", "notes")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        stores = owned_objects(Store, user=self.request_user)
        self.fields["store"].queryset = stores
        if len(choices := stores[:2]) == 1:
            self.fields["store"].initial = choices[0].pk  # most merchants have one store
        self.fields["items"].queryset = owned_objects(Product, user=self.request_user).filter(
            status=Product.Status.ACTIVE
        )

    def _post_clean(self):
        # The service is this form's model validation: it checks everything before its first
        # write, so a refusal becomes a form error and leaves no invoice and no used address.
        if self.errors:
            return
        data = self.cleaned_data
        try:
            self.instance = services.invoice_create(
                store=data["store"],
                price=data["price"] or None,
                currency=data["currency"] or None,
                products=[p.pk for p in data["items"]],
                order_id=data["order_id"],
                buyer_email=data["buyer_email"],
                notes=data["notes"],
            )
        except ApplicationError as exc:
            fields = exc.extra.get("fields")
            if isinstance(fields, dict) and fields:
                for name, errors in fields.items():
                    self.add_error(name if name in self.fields else None, errors)
            else:
                self.add_error(_ERROR_FIELDS.get(exc.code), exc.message)


class InvoiceChangeForm(forms.ModelForm):
    """The change page's few editable details, written by invoices.customer (the one rule for
    every caller): only the fields the merchant changed, as the owner; a refusal is a form error."""

    class Meta:
        model = Invoice
        fields = EDITABLE_FIELDS

    def _post_clean(self):
        if self.errors:
            return
        changes = {name: self.cleaned_data[name] for name in self.changed_data if name in EDITABLE_FIELDS}
        if not changes:
            return
        try:
            self.instance = invoice_details_update(invoice_id=self.instance.pk, actor=DetailsActor.OWNER, **changes)
        except ApplicationError as exc:
            field = _DETAIL_ERROR_FIELDS.get(exc.code)
            self.add_error(field if field in self.fields else None, exc.message)


@admin.register(Invoice)
class InvoiceAdmin(OwnerScopedAdmin):
    # Status first: it is what a merchant scans for, and the table scrolls sideways on narrow screens.
    list_display = (
        "id",
        "status_badge",
        "price_display",
        "exception_status",
        "sent_amount",
        "store",
        "order_id",
        "created",
    )
    list_filter = ("status", "exception_status", ("store", admin.RelatedOnlyFieldListFilter), "currency")
    search_fields = ("=id", "order_id", "buyer_email", "=payment_methods__address")
    date_hierarchy = "created"
    list_select_related = ("store",)
    show_full_result_count = False  # an exact COUNT(*) over all invoices is the slow part of the page
    actions = ["mark_complete", "mark_invalid", "mark_refunded", "export_csv"]
    change_form_template = "admin/invoices/invoice/change_form.html"
    fieldsets = [
        (
            None,
            {
                "fields": (
                    "id",
                    "store",
                    "status",
                    "exception_status",
                    "price_display",
                    "sent_amount",
                    "paid_currency",
                    "paid_date",
                    "created",
                    "expires_at",
                    "monitor_until",
                    "required_confirmations",
                    "underpaid_percentage",
                )
            },
        ),
        ("Order", {"fields": ("order_id", "discount", "promocode", "stock", *EDITABLE_FIELDS)}),
        ("Integration", {"fields": ("notification_url", "redirect_url", "metadata"), "classes": ("collapse",)}),
    ]
    add_fieldsets = [(None, {"fields": ("store", "price", "currency", "items", "order_id", "buyer_email", "notes")})]

    def get_fieldsets(self, request: HttpRequest, obj=None):
        return self.add_fieldsets if obj is None else super().get_fieldsets(request, obj)

    def get_form(self, request: HttpRequest, obj=None, change: bool = False, **kwargs):
        kwargs["form"] = InvoiceCreateForm if obj is None else InvoiceChangeForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        if obj is None:
            return ()
        # Buyer fields are frozen once the invoice is paid (or ends): the service refuses them then.
        editable = EDITABLE_FIELDS if obj.status == InvoiceStatus.PENDING else ("notes",)
        names = [name for _, options in self.fieldsets for name in options["fields"]]
        return [name for name in names if name not in editable]

    def response_post_save_add(self, request: HttpRequest, obj: Invoice):
        # Straight to the new invoice: its address and amount are what the merchant came for.
        return HttpResponseRedirect(reverse("admin:invoices_invoice_change", args=[obj.pk]))

    def save_model(self, request: HttpRequest, obj: Invoice, form, change: bool) -> None:
        # Nothing to save here: the forms' validation ran the services (invoice_create on add,
        # invoice_details_update on change), which wrote only their own columns under the row lock.
        return

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        if change:
            super().save_related(request, form, formsets, change)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        invoice = self.object_or_404(request, object_id)
        methods = selectors.invoice_payment_methods(invoice=invoice)
        context = {
            "payment_methods": [{"method": m, "amount": _coin(m, m.amount)} for m in methods],
            "payments": [
                {"payment": p, "amount": _coin(m, p.amount), "address": m.address}
                for m in methods
                for p in m.payments.all()
            ],
            "timeline": [
                (event, json.dumps(event.data, sort_keys=True) if event.data else "")
                for event in selectors.invoice_timeline(invoice=invoice)
            ],
            "product_lines": selectors.invoice_product_lines(invoice=invoice),
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, context)

    @admin.display(description="Price", ordering="price")
    def price_display(self, obj: Invoice) -> str:
        return f"{quantize(obj.price, obj.currency)} {obj.currency}"

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: Invoice) -> str:
        colour = _STATUS_COLOURS.get(obj.status, "#64748b")
        return format_html(
            '<span style="background:{};color:#fff;padding:1px 8px;border-radius:9px">{}</span>', colour, obj.status
        )

    # Status changes go through the services, one invoice at a time; a refused transition is
    # reported for that invoice and the others still go ahead.

    def _apply(self, request: HttpRequest, queryset, service, done: str) -> None:
        changed, refused = 0, []
        for invoice_id in queryset.values_list("pk", flat=True):
            try:
                service(invoice_id=invoice_id, actor=request.user.get_username())
            except ApplicationError as exc:
                refused.append(f"{invoice_id}: {exc.message}")
            else:
                changed += 1
        if changed:
            self.message_user(request, f"Marked {changed} invoice(s) {done}.", messages.SUCCESS)
        for line in refused:
            self.message_user(request, f"Not changed {line}", messages.ERROR)

    @admin.action(permissions=["change"], description="Mark selected invoices complete")
    def mark_complete(self, request: HttpRequest, queryset) -> None:
        self._apply(request, queryset, services.invoice_mark_complete, "complete")

    @admin.action(permissions=["change"], description="Mark selected invoices invalid")
    def mark_invalid(self, request: HttpRequest, queryset) -> None:
        self._apply(request, queryset, services.invoice_mark_invalid, "invalid")

    @admin.action(permissions=["change"], description="Mark selected invoices refunded")
    def mark_refunded(self, request: HttpRequest, queryset) -> None:
        self._apply(request, queryset, services.invoice_mark_refunded, "refunded")

    @admin.action(permissions=["view"], description="Export selected invoices as CSV")
    def export_csv(self, request: HttpRequest, queryset):
        rows = (
            (
                invoice.pk,
                invoice.created.isoformat(),
                invoice.store.name,
                quantize(invoice.price, invoice.currency),
                invoice.currency,
                invoice.status,
                invoice.exception_status,
                sent_amount_text(invoice),
                invoice.paid_currency,
                invoice.paid_date.isoformat() if invoice.paid_date else "",
                invoice.order_id,
                invoice.buyer_email,
                " ".join(m.address for m in invoice.payment_methods.all()),
            )
            for invoice in selectors.invoices_for_export(queryset)
        )
        return csv_response(filename="invoices.csv", header=CSV_COLUMNS, rows=rows)


@admin.register(PaymentMethod)
class PaymentMethodAdmin(ViewOnlyScopedAdmin):
    list_display = ("address", "invoice", "wallet", "coin_amount", "rate", "confirmations", "is_used", "created")
    list_filter = ("currency", "is_used")
    search_fields = ("=address", "=invoice__id")
    date_hierarchy = "created"
    list_select_related = ("invoice", "wallet")
    show_full_result_count = False

    @admin.display(description="Amount", ordering="amount")
    def coin_amount(self, obj: PaymentMethod) -> str:
        return _coin(obj, obj.amount)


@admin.register(Payment)
class PaymentAdmin(ViewOnlyScopedAdmin):
    list_display = ("output", "payment_method", "coin_amount", "height", "confirmations", "state", "created")
    list_filter = ("state",)
    search_fields = ("=txid", "=payment_method__address", "=payment_method__invoice__id")
    date_hierarchy = "created"
    list_select_related = ("payment_method",)
    show_full_result_count = False

    @admin.display(description="Output")
    def output(self, obj: Payment) -> str:
        return f"{obj.txid}:{obj.vout}"

    @admin.display(description="Amount", ordering="amount")
    def coin_amount(self, obj: Payment) -> str:
        return _coin(obj.payment_method, obj.amount)


@admin.register(InvoiceEvent)
class InvoiceEventAdmin(ViewOnlyScopedAdmin):
    """Append-only: the audit trail is written by the services and never edited."""

    list_display = ("created", "invoice", "kind", "transition", "cause")
    list_filter = ("kind", "cause")
    search_fields = ("=invoice__id",)
    date_hierarchy = "created"
    list_select_related = ("invoice",)
    show_full_result_count = False

    @admin.display(description="Status")
    def transition(self, obj: InvoiceEvent) -> str:
        text = f"{obj.old_status or '∅'} → {obj.new_status}"
        if obj.old_exception_status != obj.new_exception_status:
            text += f" ({obj.old_exception_status or '∅'} → {obj.new_exception_status})"
        return text


@admin.register(InvoiceProduct)
class InvoiceProductAdmin(ViewOnlyScopedAdmin):
    list_display = ("invoice", "product", "count", "price")
    search_fields = ("=invoice__id", "product__name")
    list_select_related = ("invoice", "product")
