"""A new invoice is described without reading it back: the snapshot that invoice_create builds from
the rows it just wrote (for the invoice.created webhook and the API's answer) is the one a fresh
read of the invoice gives."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from invoices import services
from invoices.models import Invoice
from invoices.payloads import invoice_snapshot
from stores.models import Product
from wallets.keys import generate_xpub
from wallets.models import Wallet
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db


def fresh_snapshot(invoice_id: str) -> dict:
    return invoice_snapshot(Invoice.objects.select_related("store").get(pk=invoice_id))


def without_clock(snapshot: dict) -> dict:
    return {key: value for key, value in snapshot.items() if key != "time_left"}


def test_the_creation_snapshot_is_what_a_fresh_read_gives(store, merchant):
    second = Wallet.objects.create(
        name="Second", owner=merchant, currency="BTC", network="regtest", xpub=generate_xpub("regtest")
    )
    store.wallets.add(second)
    hat = Product.objects.create(store=store, name="Hat", price=Decimal("0.0002"))

    invoice = services.invoice_create(store=store, products={hat.pk: 2}, buyer_email="b@example.com")

    assert invoice.snapshot_at_creation is not None
    assert len(invoice.snapshot_at_creation["payments"]) == 2
    assert invoice.snapshot_at_creation["product_quantities"] == {hat.pk: 2}
    assert without_clock(invoice.snapshot_at_creation) == without_clock(fresh_snapshot(invoice.pk))
    webhook = WebhookEvent.objects.get(invoice=invoice, type="invoice.created")
    assert without_clock(webhook.payload["data"]) == without_clock(fresh_snapshot(invoice.pk))


def test_the_snapshot_of_a_new_invoice_reads_nothing_back(store):
    with CaptureQueriesContext(connection) as queries:
        services.invoice_create(store=store, price="0.001", currency="BTC")
    selects = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")]
    # The store's wallets and its webhook endpoints; nothing of what the invoice itself just wrote.
    assert len(selects) == 2, selects
    assert not any("invoices_" in sql for sql in selects), selects
