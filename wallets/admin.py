from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as confirm_delete_selected
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from bitcart.admin import ScopedModelForm, ServiceSavedAdmin
from bitcart.errors import ApplicationError, Conflict
from coins import registry
from wallets.models import Wallet
from wallets.selectors import GAP_LIMIT, wallet_annotate_unused_run
from wallets.services import (
    wallet_chain,
    wallet_create,
    wallet_currency_choices,
    wallet_delete,
    wallet_update,
    wallet_validate,
)

# Which form field a wallet_validate refusal is about.
_ERROR_FIELDS = {"unsupported_currency": "currency", "invalid_network": "network", "invalid_address": "xpub"}
# Once addresses may have been handed out, these define them: changing them would bind new
# addresses to old derivation indexes (or the old ones to another key). Use a new wallet instead.
KEY_FIELDS = ("currency", "network", "xpub")


class WalletForm(ScopedModelForm):
    currency = forms.ChoiceField(choices=wallet_currency_choices)
    network = forms.CharField(
        required=False, max_length=20, help_text="Empty: the network this server runs the chain on."
    )
    xpub = forms.CharField(
        label="Extended public key or address",
        max_length=120,
        widget=forms.TextInput(attrs={"size": 120, "autocomplete": "off", "spellcheck": "false"}),
        help_text="Bitcoin: the account xpub/ypub/zpub (tpub/upub/vpub on testnet and regtest). Ethereum: your "
        "address, which takes ETH and the chain's tokens. Never a private key.",
    )
    transaction_speed = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=6,
        help_text="Confirmations required for invoices paid to this wallet; empty uses the store's setting.",
    )

    class Meta:
        model = Wallet
        fields = ("name", "owner", "currency", "network", "xpub", "label", "transaction_speed")

    def clean(self):
        cleaned = super().clean()
        if "xpub" not in self.fields or self.has_error("xpub"):
            return cleaned  # the key is read-only on change, or already refused
        try:
            cleaned["xpub"] = wallet_validate(
                currency=cleaned.get("currency") or "", network=cleaned.get("network") or None, xpub=cleaned["xpub"]
            )
            cleaned["network"] = cleaned.get("network") or wallet_chain(cleaned.get("currency") or "").network
        except ApplicationError as exc:
            self.add_error(_ERROR_FIELDS.get(exc.code, "xpub"), exc.message)
        return cleaned


@admin.register(Wallet)
class WalletAdmin(ServiceSavedAdmin):
    form = WalletForm
    list_display = ("name", "currency", "network", "short_xpub", "next_index", "unused_run", "store_names", "created")
    list_filter = ("currency", "network")
    search_fields = ("name", "label", "=xpub")
    date_hierarchy = "created"
    readonly_fields = ("id", "next_index", "unused_addresses", "created")
    record_fields = ("id", "next_index", "created")
    fieldsets = [(None, {"fields": ("name", "owner", "currency", "network", "xpub", "label", "transaction_speed")})]
    actions = ["delete_selected"]

    def get_queryset(self, request: HttpRequest):
        return wallet_annotate_unused_run(queryset=super().get_queryset(request).prefetch_related("stores"))

    def get_fieldsets(self, request: HttpRequest, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None:
            fieldsets.insert(1, ("Addresses", {"fields": ("unused_addresses",)}))
        return fieldsets

    @admin.display(description="Unused in a row", ordering="unused_run")
    def unused_run(self, obj: Wallet) -> str:
        run = obj.unused_run  # type: ignore[attr-defined]
        if run <= GAP_LIMIT:
            return str(run)
        return format_html('<strong class="gap-warning">{} (gap limit {})</strong>', run, GAP_LIMIT)

    @admin.display(description="Unused addresses in a row")
    def unused_addresses(self, obj: Wallet) -> str:
        """The run after the last paid address, and above the gap limit what the merchant should do."""
        run = obj.unused_run  # type: ignore[attr-defined]
        if run <= GAP_LIMIT:
            return f"{run} (within the gap limit of {GAP_LIMIT} that Electrum and Sparrow use by default)"
        return format_html(
            '<strong class="gap-warning">{} — above the gap limit of {}.</strong> Electrum and Sparrow stop '
            "looking after {} unused addresses in a row, so this wallet's own software may not show payments "
            "to the newer ones (the funds are safe, and this server sees them). Raise the wallet's gap limit "
            "above {}: in Electrum's console <code>wallet.change_gap_limit({})</code>; in Sparrow, Settings → "
            "Advanced → Gap limit.",
            run,
            GAP_LIMIT,
            GAP_LIMIT,
            run,
            run + GAP_LIMIT,
        )

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        # A new wallet is on the network this server runs (regtest in the sandbox).
        chains = registry.chains()
        first = {"currency": chains[0].symbol, "network": chains[0].network} if chains else {}
        return {**first, **super().get_changeform_initial_data(request)}

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        readonly = tuple(super().get_readonly_fields(request, obj))
        return (*readonly, *KEY_FIELDS) if obj is not None else readonly

    @admin.display(description="Key")
    def short_xpub(self, obj: Wallet) -> str:
        return f"{obj.xpub[:12]}…{obj.xpub[-6:]}"

    @admin.display(description="Stores")
    def store_names(self, obj: Wallet) -> str:
        return ", ".join(s.name for s in obj.stores.all()) or "—"

    def create(self, obj: Wallet, values: dict, form) -> Wallet:
        return wallet_create(
            owner=obj.owner,
            name=values["name"],
            xpub=values["xpub"],
            currency=values["currency"],
            network=values["network"],
            label=values.get("label") or "",
            transaction_speed=values.get("transaction_speed"),
        )

    def update(self, obj: Wallet, changed: dict, form) -> None:
        wallet_update(wallet=obj, **changed)

    def delete(self, obj: Wallet) -> None:
        wallet_delete(wallet=obj)

    # Deletion goes through wallets.services.wallet_delete, which refuses while the wallet has
    # open invoices or any invoice history; every path below reports that instead of deleting.

    def delete_model(self, request: HttpRequest, obj: Wallet) -> None:
        wallet_delete(wallet=obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        with transaction.atomic():  # all or nothing: the first refusal undoes the others
            for wallet in queryset:
                wallet_delete(wallet=wallet)

    def delete_view(self, request: HttpRequest, object_id: str, extra_context=None):
        if request.method != "POST":
            return super().delete_view(request, object_id, extra_context)  # the confirmation page
        wallet = self.object_or_404(request, object_id)
        if not self.has_delete_permission(request, wallet):
            raise PermissionDenied
        # Straight to the service rather than Django's collector: the service is the one that
        # knows why a wallet must stay, and its refusal must reach the merchant as a message.
        display, wallet_id = str(wallet), wallet.pk
        try:
            with transaction.atomic():
                self.log_deletions(request, Wallet.objects.filter(pk=wallet_id))
                self.delete_model(request, wallet)
        except Conflict as exc:
            self.message_user(request, f"“{display}” was not deleted: {exc.message}", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:wallets_wallet_change", args=[wallet_id]))
        return self.response_delete(request, display, wallet_id)

    @admin.action(permissions=["delete"], description="Delete selected wallets")
    def delete_selected(self, request: HttpRequest, queryset):
        """Django's confirmation page, then the service per wallet, reporting each refusal."""
        if not request.POST.get("post"):
            return confirm_delete_selected(self, request, queryset)
        deleted, refused = [], []
        for wallet in queryset:
            display = str(wallet)
            try:
                with transaction.atomic():
                    self.log_deletions(request, Wallet.objects.filter(pk=wallet.pk))
                    wallet_delete(wallet=wallet)
            except Conflict as exc:
                refused.append(f"“{display}”: {exc.message}")
            else:
                deleted.append(display)
        if deleted:
            self.message_user(request, f"Deleted {len(deleted)} wallet(s).", messages.SUCCESS)
        for line in refused:
            self.message_user(request, f"Not deleted {line}", messages.ERROR)
        return None
