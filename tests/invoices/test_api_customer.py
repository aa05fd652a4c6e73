"""PATCH /api/invoices/{id}/customer and PATCH /api/invoices/{id}: who may change which detail, when.

The rule (invoices.customer.invoice_details_update): the public (no token, or a token that does not
reach the invoice's store) may set only the buyer fields the store asks for, only while pending;
notes and the merchant's fields are the owner's; buyer fields change only while pending.
A refused write is a 4xx with a stable code and changes nothing.
"""

import pytest
from rest_framework.test import APIClient

from invoices.models import Invoice, InvoiceEvent, InvoiceStatus
from invoices.services import invoice_create, invoice_mark_complete

pytestmark = pytest.mark.django_db

DETAILS = ("buyer_email", "shipping_address", "notes", "order_id", "metadata")


def details(invoice: Invoice) -> tuple:
    invoice.refresh_from_db()
    return tuple(getattr(invoice, name) for name in DETAILS)


@pytest.fixture
def asking_store(store):
    store.email_required = True
    store.ask_address = True
    store.save()
    return store


@pytest.fixture
def invoice(asking_store):
    return invoice_create(store=asking_store, price="0.001", buyer_email="first@example.com", notes="merchant's")


def test_anonymous_cannot_write_notes(invoice):
    before = details(invoice)
    response = APIClient().patch(f"/api/invoices/{invoice.pk}/customer", {"notes": "ring twice"})
    assert response.status_code == 403
    assert response.json() == {
        "detail": "Only the store's owner may change notes",
        "code": "field_not_allowed",
        "fields": ["notes"],
    }
    assert details(invoice) == before


def test_anonymous_request_with_notes_changes_nothing_at_all(invoice):
    """The whole request is refused: the allowed buyer field in it is not written either."""
    before = details(invoice)
    response = APIClient().patch(
        f"/api/invoices/{invoice.pk}/customer", {"shipping_address": "1 Main St", "notes": "x"}
    )
    assert (response.status_code, response.json()["code"]) == (403, "field_not_allowed")
    assert details(invoice) == before


def test_anonymous_cannot_set_a_field_the_store_does_not_ask_for(store):
    invoice = invoice_create(store=store, price="0.001")  # asks for neither e-mail nor address
    response = APIClient().patch(f"/api/invoices/{invoice.pk}/customer", {"shipping_address": "Evil street 1"})
    assert response.status_code == 403
    assert response.json()["code"] == "field_not_allowed"
    assert response.json()["fields"] == ["shipping_address"]
    invoice.refresh_from_db()
    assert invoice.shipping_address == ""


def test_another_merchants_token_is_the_public(client_other, invoice):
    before = details(invoice)
    response = client_other.patch(f"/api/invoices/{invoice.pk}/customer", {"notes": "mine now"})
    assert (response.status_code, response.json()["code"]) == (403, "field_not_allowed")
    assert details(invoice) == before
    # and its PATCH of the invoice itself finds nothing
    patched = client_other.patch(f"/api/invoices/{invoice.pk}", {"notes": "mine now", "order_id": "X"})
    assert (patched.status_code, patched.json()["code"]) == (404, "not_found")
    assert details(invoice) == before


@pytest.mark.parametrize("who", ["anonymous", "owner"])
def test_complete_invoice_refuses_buyer_fields_with_409(invoice, client_merchant, who):
    invoice_mark_complete(invoice_id=invoice.pk, actor="test")
    before = details(invoice)
    client = APIClient() if who == "anonymous" else client_merchant
    response = client.patch(
        f"/api/invoices/{invoice.pk}/customer", {"buyer_email": "attacker@example.com", "shipping_address": "X"}
    )
    assert response.status_code == 409
    assert response.json() == {"detail": "This invoice no longer accepts changes", "code": "invoice_not_pending"}
    assert details(invoice) == before
    # The owner's PATCH of the invoice is held to the same rule.
    if who == "owner":
        patched = client_merchant.patch(f"/api/invoices/{invoice.pk}", {"buyer_email": "new@example.com"})
        assert (patched.status_code, patched.json()["code"]) == (409, "invoice_not_pending")
        assert details(invoice) == before


def test_public_sets_asked_fields_while_pending(invoice):
    response = APIClient().patch(
        f"/api/invoices/{invoice.pk}/customer",
        {"buyer_email": " second@example.com ", "shipping_address": "1 Main St\r\nTown"},
    )
    assert response.status_code == 200
    assert "buyer_email" not in response.json()  # the public view
    assert details(invoice) == ("second@example.com", "1 Main St\nTown", "merchant's", "", {})


def test_public_bad_email_is_422(invoice):
    response = APIClient().patch(f"/api/invoices/{invoice.pk}/customer", {"buyer_email": "not-an-email"})
    assert (response.status_code, response.json()["code"]) == (422, "validation_error")
    assert details(invoice)[0] == "first@example.com"


def test_required_field_cannot_be_emptied(invoice):
    response = APIClient().patch(f"/api/invoices/{invoice.pk}/customer", {"buyer_email": ""})
    assert (response.status_code, response.json()["code"]) == (422, "email_required")
    assert details(invoice)[0] == "first@example.com"


def test_unknown_invoice_is_404(db):
    response = APIClient().patch("/api/invoices/NOPE/customer", {"buyer_email": "a@example.com"})
    assert (response.status_code, response.json()["code"]) == (404, "invoice_not_found")


def test_owner_sets_notes_after_completion_and_sees_everything(invoice, client_merchant):
    invoice_mark_complete(invoice_id=invoice.pk, actor="test")
    events = InvoiceEvent.objects.filter(invoice=invoice).count()
    response = client_merchant.patch(f"/api/invoices/{invoice.pk}/customer", {"notes": "shipped"})
    assert response.status_code == 200
    assert response.json()["notes"] == "shipped"
    assert details(invoice) == ("first@example.com", "", "shipped", "", {})
    patched = client_merchant.patch(f"/api/invoices/{invoice.pk}", {"order_id": "WC-9", "metadata": {"n": 1}})
    assert patched.status_code == 200
    assert details(invoice) == ("first@example.com", "", "shipped", "WC-9", {"n": 1})
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.COMPLETE
    assert InvoiceEvent.objects.filter(invoice=invoice).count() == events


def test_token_without_the_stores_grant_is_the_public(make_client, merchant, invoice, asking_store):
    """A token of the owner that does not reach this store (another store's selective grant) may
    not write the owner's fields."""
    narrow = make_client(merchant, permissions=["invoice_management:01OTHERSTORE"])
    before = details(invoice)
    response = narrow.patch(f"/api/invoices/{invoice.pk}/customer", {"notes": "x"})
    assert (response.status_code, response.json()["code"]) == (403, "field_not_allowed")
    assert details(invoice) == before
