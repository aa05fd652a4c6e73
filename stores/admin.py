from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from bitcart.admin import ScopedModelForm, ServiceSavedAdmin, form_values, https_formfield
from bitcart.errors import ApplicationError
from bitcart.money import currency_choices
from stores import services
from stores.models import Discount, NotificationProvider, Product, Store, Template


class ProductForm(forms.ModelForm):
    class Meta:
        model = Product
        fields = (
            "store",
            "name",
            "price",
            "quantity",
            "status",
            "category",
            "description",
            "image",
            "download_url",
        )
        formfield_callback = https_formfield

    def clean(self):
        cleaned = super().clean()
        # In an inline on the store page `store` is the (possibly unsaved) parent, with the currency just posted.
        store = cleaned.get("store")
        price = cleaned.get("price")
        if store is not None and price is not None:
            try:
                cleaned["price"] = services.product_price_validate(store=store, price=price)
            except ApplicationError as exc:
                self.add_error("price", exc.message)
        return cleaned


class ProductInline(admin.TabularInline):
    model = Product
    form = ProductForm
    fields = ("name", "price", "quantity", "status", "image")
    extra = 0
    show_change_link = True


class StoreForm(ScopedModelForm):
    default_currency = forms.ChoiceField(
        choices=currency_choices, help_text="Prices of products and invoices without a currency are in this one."
    )

    class Meta:
        model = Store
        exclude = ()
        formfield_callback = https_formfield

    def clean_default_currency(self) -> str:
        # The products of an existing store must still fit the new currency's decimal places.
        try:
            return services.store_currency_validate(store=self.instance, currency=self.cleaned_data["default_currency"])
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from None

    def clean(self):
        cleaned = super().clean()
        owner = self.form_owner()
        wallets = cleaned.get("wallets")
        # Merchants only get their own wallets as choices; this also holds a superuser to the rule.
        if owner is not None and wallets is not None:
            try:
                services.store_wallets_validate(owner_id=owner.pk, wallets=wallets)
            except ApplicationError as exc:
                self.add_error("wallets", exc.message)
        return cleaned


@admin.register(Store)
class StoreAdmin(ServiceSavedAdmin):
    form = StoreForm
    list_display = ("name", "default_currency", "wallet_names", "transaction_speed", "expiration", "created")
    list_filter = ("default_currency", "created")
    search_fields = ("name", "email")
    date_hierarchy = "created"
    readonly_fields = ("id", "created")
    filter_horizontal = ("wallets",)
    inlines = (ProductInline,)

    record_fields = ("id", "created")
    fieldsets = [
        (None, {"fields": ("name", "owner", "default_currency", "email", "wallets")}),
        (
            "Checkout",
            {
                "fields": (
                    "expiration",
                    "transaction_speed",
                    "underpaid_percentage",
                    "monitoring_window",
                    "email_required",
                    "ask_address",
                    "allow_anonymous_invoice_creation",
                    "redirect_url",
                    "custom_logo",
                    "use_dark_mode",
                )
            },
        ),
    ]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).prefetch_related("wallets")

    # The wallets are a many-to-many field, not on the instance: they are taken from the form.

    def create(self, obj: Store, values: dict[str, Any], form) -> Store:
        values.pop("owner", None)
        return services.store_create(owner=obj.owner, wallets=form.cleaned_data.get("wallets") or [], **values)

    def update(self, obj: Store, changed: dict[str, Any], form) -> None:
        wallets = (form.cleaned_data.get("wallets") or []) if "wallets" in form.changed_data else None
        services.store_update(store=obj, wallets=wallets, **changed)

    def delete(self, obj: Store) -> None:
        services.store_delete(store=obj)

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        # Not form.save_m2m(): the wallets were set by the store service.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        """The products inline, through the product services (what formset.save() would write)."""
        store = form.instance
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for product_form in formset.initial_forms:
            product = product_form.instance
            if product_form in formset.deleted_forms:
                services.product_delete(product=product)
                formset.deleted_objects.append(product)
            elif product_form.has_changed():
                services.product_update(product=product, **form_values(product_form, product_form.changed_data))
                formset.changed_objects.append((product, product_form.changed_data))
        for product_form in formset.extra_forms:
            if not product_form.has_changed() or product_form in formset.deleted_forms:
                continue
            values = form_values(product_form, product_form.cleaned_data)
            values.pop("store", None)
            formset.new_objects.append(services.product_create(store=store, **values))

    @admin.display(description="Wallets")
    def wallet_names(self, obj: Store) -> str:
        return ", ".join(w.name for w in obj.wallets.all()) or "—"


@admin.register(Product)
class ProductAdmin(ServiceSavedAdmin):
    form = ProductForm
    list_display = ("thumbnail", "name", "store", "price_display", "quantity", "status", "category", "created")
    list_display_links = ("thumbnail", "name")
    list_filter = ("status", ("store", admin.RelatedOnlyFieldListFilter), "category")
    search_fields = ("name", "description", "category")
    date_hierarchy = "created"
    list_select_related = ("store",)
    readonly_fields = ("id", "created", "image_preview")

    record_fields = ("id", "created")
    fieldsets = [
        (None, {"fields": ("store", "name", "price", "quantity", "status", "category", "description")}),
        ("Delivery", {"fields": ("image", "image_preview", "download_url")}),
    ]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        readonly = tuple(super().get_readonly_fields(request, obj))
        return (*readonly, "store") if obj is not None else readonly  # a product stays in its store

    def create(self, obj: Product, values: dict[str, Any], form) -> Product:
        return services.product_create(**values)

    def update(self, obj: Product, changed: dict[str, Any], form) -> None:
        services.product_update(product=obj, **changed)

    def delete(self, obj: Product) -> None:
        services.product_delete(product=obj)

    @admin.display(description="Price", ordering="price")
    def price_display(self, obj: Product) -> str:
        return f"{obj.price.normalize():f} {obj.store.default_currency}"

    @admin.display(description="")
    def thumbnail(self, obj: Product) -> str:
        if not obj.image:
            return ""
        return format_html('<img src="{}" alt="" style="height:40px;width:40px;object-fit:cover">', obj.image.url)

    @admin.display(description="Current image")
    def image_preview(self, obj: Product) -> str:
        if not obj.image:
            return "—"
        return format_html('<img src="{}" alt="" style="max-height:160px;max-width:240px">', obj.image.url)


class DiscountForm(forms.ModelForm):
    class Meta:
        model = Discount
        fields = ("store", "name", "percent", "promocode", "end_date", "currencies", "description")
        help_texts = {"currencies": "Comma-separated currency codes (e.g. USD, EUR); empty means all."}

    def clean_currencies(self) -> str:
        try:
            return services.discount_currencies_clean(self.cleaned_data.get("currencies") or "")
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from None


@admin.register(Discount)
class DiscountAdmin(ServiceSavedAdmin):
    form = DiscountForm
    list_display = ("name", "store", "percent", "promocode", "end_date", "currencies", "created")
    list_filter = (("store", admin.RelatedOnlyFieldListFilter), "end_date")
    search_fields = ("name", "promocode", "description")
    date_hierarchy = "end_date"
    list_select_related = ("store",)
    readonly_fields = ("id", "created")

    record_fields = ("id", "created")
    fieldsets = [(None, {"fields": ("store", "name", "percent", "promocode", "end_date", "currencies", "description")})]

    def create(self, obj: Discount, values: dict[str, Any], form) -> Discount:
        return services.discount_create(**values)

    def update(self, obj: Discount, changed: dict[str, Any], form) -> None:
        services.discount_update(discount=obj, **changed)

    def delete(self, obj: Discount) -> None:
        services.discount_delete(discount=obj)


class NotificationProviderForm(forms.ModelForm):
    class Meta:
        model = NotificationProvider
        fields = ("store", "name", "url", "enabled")
        widgets = {"url": forms.TextInput(attrs={"size": 80})}
        help_texts = {"url": "An Apprise URL, e.g. json://example.com/hook or mailto://user:pass@example.com"}

    def clean_url(self) -> str:
        try:
            return services.notification_provider_url_clean(self.cleaned_data.get("url") or "")
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from None


@admin.register(NotificationProvider)
class NotificationProviderAdmin(ServiceSavedAdmin):
    form = NotificationProviderForm
    list_display = ("name", "store", "scheme", "enabled", "created")
    list_filter = ("enabled", ("store", admin.RelatedOnlyFieldListFilter))
    search_fields = ("name",)
    list_select_related = ("store",)
    readonly_fields = ("id", "created")

    record_fields = ("id", "created")
    fieldsets = [(None, {"fields": ("store", "name", "url", "enabled")})]

    def create(self, obj: NotificationProvider, values: dict[str, Any], form) -> NotificationProvider:
        return services.notification_provider_create(**values)

    def update(self, obj: NotificationProvider, changed: dict[str, Any], form) -> None:
        services.notification_provider_update(provider=obj, **changed)

    def delete(self, obj: NotificationProvider) -> None:
        services.notification_provider_delete(provider=obj)

    @admin.display(description="Service")
    def scheme(self, obj: NotificationProvider) -> str:
        # Only the scheme: the rest of an Apprise URL often carries tokens or passwords.
        return obj.url.split("://", 1)[0] if "://" in obj.url else "—"


class TemplateForm(ScopedModelForm):
    class Meta:
        model = Template
        fields = ("owner", "store", "name", "text")
        widgets = {"text": forms.Textarea(attrs={"rows": 16, "cols": 100})}

    def clean(self):
        cleaned = super().clean()
        owner = self.form_owner()
        store = cleaned.get("store")
        name = cleaned.get("name")
        if owner is None or not name:
            return cleaned
        # The owner is not a form field for merchants, so Django cannot check the unique constraint
        # itself; the service's rule also covers (owner, NULL store, name), which the database lets through.
        try:
            services.template_validate(owner_id=owner.pk, store=store, name=name, exclude_id=self.instance.pk)
        except ApplicationError as exc:
            self.add_error("name" if exc.code == "already_exists" else "store", exc.message)
        return cleaned


@admin.register(Template)
class TemplateAdmin(ServiceSavedAdmin):
    form = TemplateForm
    list_display = ("name", "store", "created")
    list_filter = ("name", ("store", admin.RelatedOnlyFieldListFilter))
    search_fields = ("name", "text")
    list_select_related = ("store",)
    readonly_fields = ("id", "created")

    record_fields = ("id", "created")
    fieldsets = [(None, {"fields": ("owner", "store", "name", "text")})]

    def create(self, obj: Template, values: dict[str, Any], form) -> Template:
        values["owner"] = obj.owner  # set by the admin for merchants (not a form field for them)
        return services.template_create(**values)

    def update(self, obj: Template, changed: dict[str, Any], form) -> None:
        services.template_update(template=obj, **changed)

    def delete(self, obj: Template) -> None:
        services.template_delete(template=obj)
