"""The details of an invoice that change after it is created: what the buyer tells us (e-mail,
shipping address) and the merchant's own fields (notes, order id, URLs, metadata).

One service, one rule, for every caller (checkout page, public API, owner API, admin):

| field                                    | the public (checkout, no/foreign token)  | the owner     |
|------------------------------------------|------------------------------------------|---------------|
| buyer_email / shipping_address           | only if the store asks for it; pending   | while pending |
| notes, order_id, notification_url, ...   | never                                    | any time      |

Buyer fields are frozen once the invoice leaves `pending`, for everyone: after that the merchant
acts on what was given (ships, e-mails a receipt), so neither a buyer, anyone holding the link,
nor a slip in the admin may redirect a shipment the payment was made for.

A refused request changes nothing (not even its allowed fields) and says why:
403 field_not_allowed, 404 invoice_not_found, 409 invoice_not_pending, 422 for bad values.
"""

from enum import StrEnum
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator, validate_email
from django.db import transaction

from bitcart.errors import Conflict, PermissionDenied, ValidationFailed
from invoices.locks import invoice_lock
from invoices.models import Invoice, InvoiceStatus

MAX_EMAIL_LENGTH = 254
MAX_SHIPPING_ADDRESS_LENGTH = 2000
MAX_NOTES_LENGTH = 5000
MAX_ORDER_ID_LENGTH = 255
MAX_URL_LENGTH = 2000
MAX_METADATA_BYTES = 16_384

BUYER_FIELDS = ("buyer_email", "shipping_address")
OWNER_FIELDS = ("notes", "order_id", "notification_url", "redirect_url", "metadata")
DETAIL_FIELDS = BUYER_FIELDS + OWNER_FIELDS


class DetailsActor(StrEnum):
    """Who is writing. The caller decides it from its own authentication: OWNER only for the
    invoice's store owner acting with a grant that reaches the store (the API's token scope, the
    admin's owner-scoped queryset); everyone else, including other merchants, is PUBLIC."""

    PUBLIC = "public"
    OWNER = "owner"


class FieldNotAllowed(PermissionDenied):
    code = "field_not_allowed"


def _clean_email(value: str) -> str:
    value = (value or "").strip()
    if not value:
        return ""
    if len(value) > MAX_EMAIL_LENGTH:
        raise ValidationFailed("The e-mail address is too long", code="invalid_email")
    try:
        validate_email(value)
    except DjangoValidationError:
        raise ValidationFailed("Enter a valid e-mail address", code="invalid_email") from None
    return value


def _clean_text(value: str, *, label: str, code: str, limit: int) -> str:
    # Normalise line endings so the length limit means the same for every browser.
    value = (value or "").replace("\r\n", "\n").strip()
    if len(value) > limit:
        raise ValidationFailed(f"The {label} is longer than {limit} characters", code=code)
    return value


def _clean_url(value: str, *, label: str, code: str) -> str:
    value = _clean_text(value, label=label, code=code, limit=MAX_URL_LENGTH)
    if value:
        try:
            URLValidator(schemes=["http", "https"])(value)
        except DjangoValidationError:
            raise ValidationFailed(f"The {label} is not a valid http(s) URL", code=code) from None
    return value


def _clean_metadata(value: Any) -> dict:
    if not isinstance(value, dict):
        raise ValidationFailed("metadata must be an object", code="invalid_metadata")
    if len(str(value).encode()) > MAX_METADATA_BYTES:
        raise ValidationFailed("metadata is too large", code="invalid_metadata")
    return value


_CLEANERS = {
    "buyer_email": _clean_email,
    "shipping_address": lambda v: _clean_text(
        v, label="shipping address", code="invalid_address", limit=MAX_SHIPPING_ADDRESS_LENGTH
    ),
    "notes": lambda v: _clean_text(v, label="notes", code="invalid_notes", limit=MAX_NOTES_LENGTH),
    "order_id": lambda v: _clean_text(v, label="order id", code="invalid_order_id", limit=MAX_ORDER_ID_LENGTH),
    "notification_url": lambda v: _clean_url(v, label="notification URL", code="invalid_notification_url"),
    "redirect_url": lambda v: _clean_url(v, label="redirect URL", code="invalid_redirect_url"),
    "metadata": _clean_metadata,
}


def _names(fields: list[str]) -> str:
    return ", ".join(name.replace("_", " ") for name in fields)


def _refused_for_public(invoice: Invoice, names: list[str]) -> list[str]:
    store = invoice.store
    asked = {"buyer_email": store.email_required, "shipping_address": store.ask_address}
    return [name for name in names if not asked.get(name, False)]


def invoice_details_update(*, invoice_id: str, actor: DetailsActor, **changes: Any) -> Invoice:
    """Change the given detail fields (DETAIL_FIELDS; a field not passed is left as it is).

    All or nothing: every field is checked (who, when, value) before anything is written.
    A store that requires the e-mail or the address gets it non-empty.
    """
    unknown = sorted(set(changes) - set(DETAIL_FIELDS))
    if unknown:
        raise TypeError(f"invoice_details_update got unknown fields {unknown}")
    actor = DetailsActor(actor)
    with transaction.atomic():
        invoice = invoice_lock(invoice_id)
        names = [name for name in DETAIL_FIELDS if name in changes]
        refused = _refused_for_public(invoice, names) if actor is DetailsActor.PUBLIC else []
        if refused:
            owner_only = [name for name in refused if name in OWNER_FIELDS]
            if owner_only:
                message = f"Only the store's owner may change {_names(owner_only)}"
            else:
                message = f"This store does not ask for {_names(refused)}"
            raise FieldNotAllowed(message, extra={"fields": refused})
        if any(name in BUYER_FIELDS for name in names) and invoice.status != InvoiceStatus.PENDING:
            raise Conflict("This invoice no longer accepts changes", code="invoice_not_pending")
        values = {name: _CLEANERS[name](changes[name]) for name in names}
        store = invoice.store
        if store.email_required and values.get("buyer_email", None) == "":
            raise ValidationFailed("Enter your e-mail address", code="email_required")
        if store.ask_address and values.get("shipping_address", None) == "":
            raise ValidationFailed("Enter your shipping address", code="address_required")
        changed = [name for name, value in values.items() if getattr(invoice, name) != value]
        for name in changed:
            setattr(invoice, name, values[name])
        if changed:
            invoice.save(update_fields=[*changed, "updated"])
    return invoice
