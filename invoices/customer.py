"""What the buyer tells us on the checkout page: their e-mail and shipping address."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction

from bitcart.errors import Conflict, ValidationFailed
from invoices.locks import invoice_lock
from invoices.models import Invoice, InvoiceStatus

MAX_EMAIL_LENGTH = 254
MAX_SHIPPING_ADDRESS_LENGTH = 2000


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


def _clean_address(value: str) -> str:
    # Normalise line endings so the length limit means the same for every browser.
    value = (value or "").replace("\r\n", "\n").strip()
    if len(value) > MAX_SHIPPING_ADDRESS_LENGTH:
        raise ValidationFailed(
            f"The shipping address is longer than {MAX_SHIPPING_ADDRESS_LENGTH} characters", code="invalid_address"
        )
    return value


def invoice_update_customer(*, invoice_id: str, buyer_email: str | None, shipping_address: str | None) -> Invoice:
    """Set the buyer's e-mail and/or shipping address (None leaves a field as it is).

    Only while the invoice still waits for payment: after that the merchant acts on what was
    given, and a buyer (or anyone holding the link) must not be able to redirect a shipment.
    A store that requires a field gets it non-empty.
    """
    email = None if buyer_email is None else _clean_email(buyer_email)
    address = None if shipping_address is None else _clean_address(shipping_address)
    with transaction.atomic():
        invoice = invoice_lock(invoice_id)
        if invoice.status != InvoiceStatus.PENDING:
            raise Conflict("This invoice no longer accepts changes", code="invoice_not_pending")
        store = invoice.store
        fields = []
        if email is not None:
            if store.email_required and not email:
                raise ValidationFailed("Enter your e-mail address", code="email_required")
            invoice.buyer_email = email
            fields.append("buyer_email")
        if address is not None:
            if store.ask_address and not address:
                raise ValidationFailed("Enter your shipping address", code="address_required")
            invoice.shipping_address = address
            fields.append("shipping_address")
        if fields:
            invoice.save(update_fields=[*fields, "updated"])
    return invoice
