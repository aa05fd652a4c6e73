import re

import pytest
from django.urls import reverse
from django.utils.html import escape

from invoices.services import payment_apply

pytestmark = pytest.mark.django_db


def test_checkout_page_renders_amount_qr_and_address(client, invoice):
    method = invoice.payment_methods.get()

    response = client.get(f"/i/{invoice.pk}")

    assert response.status_code == 200
    html = response.content.decode()
    assert "0.00100000" in html
    assert method.address in html
    assert "<svg" in html and 'class="qr"' in html
    assert f'href="{escape(method.payment_url)}"' in html
    assert 'data-view="pay"' in html
    assert "frame-ancestors *" in response["Content-Security-Policy"]
    assert "X-Frame-Options" not in response


def test_checkout_unknown_invoice_is_404(client, db):
    assert client.get("/i/NOPE").status_code == 404


def test_status_endpoint_returns_the_push_message_shape(client, invoice):
    response = client.get(f"/i/{invoice.pk}/status")

    assert response.status_code == 200
    assert response.json() == {
        "status": "pending",
        "exception_status": "none",
        "sent_amount": "0",
        "paid_currency": "",
        "payment_id": None,
    }


def test_partial_payment_shows_remaining_and_new_uri(client, invoice):
    method = invoice.payment_methods.get()
    payment_apply(payment_method_id=method.pk, txid="a" * 64, vout=0, amount=40_000)

    html = client.get(f"/i/{invoice.pk}").content.decode()
    payment = client.get(f"/i/{invoice.pk}/payment").json()

    assert 'data-exception="paid_partial"' in html
    assert "0.00060000" in html
    assert payment["remaining"] == "0.00060000"
    assert "amount=0.00060000" in payment["payment_url"]
    assert payment["qr"].startswith("<svg")


@pytest.mark.parametrize(
    ("amount", "confirmations", "view"),
    [(100_000, 0, "received"), (100_000, 1, "complete")],
)
def test_paid_invoice_renders_final_view(client, invoice, amount, confirmations, view):
    method = invoice.payment_methods.get()
    payment_apply(payment_method_id=method.pk, txid="b" * 64, vout=0, amount=amount, confirmations=confirmations)

    html = client.get(f"/i/{invoice.pk}").content.decode()

    assert f'data-view="{view}"' in html


def test_modal_alias_serves_the_script_with_cors(client, db):
    response = client.get("/modal/bitcart.js")

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    assert b"showInvoice" in b"".join(response.streaming_content)


def test_details_step_when_store_requires_email(client, store, invoice):
    store.email_required = True
    store.save()

    html = client.get(f"/i/{invoice.pk}").content.decode()
    assert 'data-view="details"' in html

    bad = client.post(f"/i/{invoice.pk}/customer", {"buyer_email": "not-an-email"})
    assert bad.status_code == 422
    assert "valid e-mail" in bad.content.decode()
    invoice.refresh_from_db()
    assert invoice.buyer_email == ""

    ok = client.post(f"/i/{invoice.pk}/customer?modal=true", {"buyer_email": " buyer@example.com "})
    assert ok.status_code == 302
    assert ok["Location"] == reverse("invoices:checkout", args=[invoice.pk]) + "?modal=true"
    invoice.refresh_from_db()
    assert invoice.buyer_email == "buyer@example.com"
    assert 'data-view="pay"' in client.get(f"/i/{invoice.pk}").content.decode()


def test_customer_details_refused_after_payment(client, store, invoice):
    store.ask_address = True
    store.save()
    method = invoice.payment_methods.get()
    payment_apply(payment_method_id=method.pk, txid="c" * 64, vout=0, amount=100_000)

    response = client.post(f"/i/{invoice.pk}/customer", {"shipping_address": "Evil street 1"})

    assert response.status_code == 409
    assert "no longer accepts changes" in response.content.decode()
    invoice.refresh_from_db()
    assert invoice.shipping_address == ""


@pytest.mark.parametrize(
    ("posted", "message"),
    [
        ({"notes": "ring twice"}, "Only the store&#x27;s owner may change notes"),
        ({"shipping_address": "Evil street 1"}, "This store does not ask for shipping address"),
    ],
)
def test_customer_details_refuses_what_the_public_may_not_set(client, invoice, posted, message):
    response = client.post(f"/i/{invoice.pk}/customer", posted)

    assert response.status_code == 403
    assert message in response.content.decode()
    invoice.refresh_from_db()
    assert (invoice.notes, invoice.shipping_address) == ("", "")


def test_simulate_reports_missing_simulator(client, invoice, settings):
    settings.SANDBOX = True
    settings.SIMULATOR_HOST = "127.0.0.1"
    settings.SIMULATOR_CONTROL_PORT = 9  # discard port: nothing listens

    response = client.post(f"/i/{invoice.pk}/simulate", HTTP_ACCEPT="application/json")

    assert response.status_code == 503
    assert response.json()["outcome"] == "unavailable"
    assert re.search("not running", response.json()["message"])


def test_simulate_is_404_outside_the_sandbox(client, invoice, settings):
    settings.SANDBOX = False

    assert client.post(f"/i/{invoice.pk}/simulate").status_code == 404


def test_checkout_page_query_budget(client, invoice, django_assert_num_queries):
    client.get(f"/i/{invoice.pk}")  # the first view also reads the (immutable) methods and lines

    with django_assert_num_queries(1):
        assert client.get(f"/i/{invoice.pk}").status_code == 200
    with django_assert_num_queries(1):
        assert client.get(f"/i/{invoice.pk}/status").status_code == 200


def test_fiat_invoice_shows_the_rate_and_btc_invoice_does_not(invoice):
    from dataclasses import replace
    from decimal import Decimal

    from invoices.checkout import checkout_methods, fiat_rate_display

    method = checkout_methods(invoice)[0]
    assert fiat_rate_display(invoice, method) == ""

    invoice.currency = "USD"
    assert fiat_rate_display(invoice, replace(method, rate=Decimal("65000.125"))) == "1 BTC = 65,000.13 USD"


def test_checkout_speaks_the_buyers_language(client, invoice):
    html = client.get(f"/i/{invoice.pk}", HTTP_ACCEPT_LANGUAGE="de").content.decode()

    assert '<html lang="de"' in html
    assert "Fälliger Betrag" in html
    assert "In Wallet öffnen" in html
    assert "Live-Aktualisierung unterbrochen" in html  # the JS catalogue too
    assert "0,001" not in html  # amounts keep the dot wallets expect, whatever the language
