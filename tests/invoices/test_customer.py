"""invoices.customer.invoice_details_update: the one rule for an invoice's editable details."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bitcart.api import http_status
from bitcart.errors import ApplicationError
from invoices.customer import DetailsActor, invoice_details_update
from invoices.models import Invoice
from invoices.services import invoice_create, invoice_mark_complete

pytestmark = pytest.mark.django_db
PUBLIC, OWNER = DetailsActor.PUBLIC, DetailsActor.OWNER


@pytest.fixture
def invoice(store):
    store.email_required = True
    store.save()  # asks for the e-mail, not for an address
    return invoice_create(store=store, price="0.001")


@pytest.mark.parametrize(
    ("actor", "complete", "changes", "code"),
    [
        (PUBLIC, False, {"buyer_email": "a@example.com"}, None),
        (PUBLIC, False, {"shipping_address": "1 Main St"}, "field_not_allowed"),
        (PUBLIC, False, {"notes": "x"}, "field_not_allowed"),
        (PUBLIC, False, {"order_id": "x"}, "field_not_allowed"),
        (PUBLIC, True, {"buyer_email": "a@example.com"}, "invoice_not_pending"),
        (PUBLIC, True, {"notes": "x"}, "field_not_allowed"),
        (OWNER, False, {"shipping_address": "1 Main St", "notes": "x"}, None),
        (OWNER, True, {"notes": "x", "order_id": "o", "redirect_url": "https://shop.example.com/"}, None),
        (OWNER, True, {"buyer_email": "a@example.com"}, "invoice_not_pending"),
        (OWNER, True, {"notes": "x", "shipping_address": "1 Main St"}, "invoice_not_pending"),
        (OWNER, False, {"buyer_email": ""}, "email_required"),
        (OWNER, False, {"buyer_email": "nope"}, "invalid_email"),
        (OWNER, False, {"notification_url": "javascript:alert(1)"}, "invalid_notification_url"),
        (OWNER, False, {"metadata": [1]}, "invalid_metadata"),
        (OWNER, False, {"notes": "x" * 5001}, "invalid_notes"),
    ],
)
def test_rule_table(invoice, actor, complete, changes, code):
    if complete:
        invoice_mark_complete(invoice_id=invoice.pk, actor="test")
    before = Invoice.objects.values().get(pk=invoice.pk)
    if code is None:
        invoice_details_update(invoice_id=invoice.pk, actor=actor, **changes)
        after = Invoice.objects.values().get(pk=invoice.pk)
        assert {k: after[k] for k in changes} == changes
        assert after["updated"] > before["updated"]
    else:
        with pytest.raises(ApplicationError) as refused:
            invoice_details_update(invoice_id=invoice.pk, actor=actor, **changes)
        assert refused.value.code == code
        assert Invoice.objects.values().get(pk=invoice.pk) == before


def test_unknown_invoice(db):
    with pytest.raises(ApplicationError) as refused:
        invoice_details_update(invoice_id="NOPE", actor=OWNER, notes="x")
    assert (refused.value.code, http_status(refused.value)) == ("invoice_not_found", 404)


def test_unchanged_values_write_nothing(invoice):
    invoice_details_update(invoice_id=invoice.pk, actor=OWNER, notes="same")
    updated = Invoice.objects.get(pk=invoice.pk).updated
    with CaptureQueriesContext(connection) as queries:
        invoice_details_update(invoice_id=invoice.pk, actor=OWNER, notes="same")
    assert [q["sql"].split()[0] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))] == [
        "SELECT",  # the locked invoice
        "SELECT",  # its store
    ]
    assert Invoice.objects.get(pk=invoice.pk).updated == updated


def test_not_a_detail_field_is_a_programming_error(invoice):
    with pytest.raises(TypeError):
        invoice_details_update(invoice_id=invoice.pk, actor=OWNER, status="complete")
