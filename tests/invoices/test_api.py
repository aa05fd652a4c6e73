from decimal import Decimal

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from invoices.models import Invoice, InvoiceStatus, Payment, PaymentMethod
from invoices.services import Output, invoice_create, payment_apply, payment_method_sync
from stores.services import product_create

pytestmark = pytest.mark.django_db

PUBLIC_KEYS = {
    "id", "store_id", "price", "currency", "paid_currency", "status", "exception_status", "sent_amount",
    "expiration", "expiration_seconds", "time_left", "expires_at", "order_id", "redirect_url", "promocode",
    "discount", "products", "product_names", "product_quantities", "payments", "payment_methods", "tx_hashes",
    "payment_id", "refund_id", "paid_date", "created", "payments_received",
}  # fmt: skip
PRIVATE_KEYS = {
    "user_id", "buyer_email", "shipping_address", "notes", "notification_url", "metadata",
    "required_confirmations", "underpaid_percentage", "updated",
}  # fmt: skip


def test_create_with_token_answers_bitcarts_fields(client_merchant, store, merchant):
    response = client_merchant.post(
        "/api/invoices",
        {
            "store_id": store.pk,
            "price": 0.0015,  # a JSON number, as Bitcart's plugins send it
            "currency": "btc",
            "order_id": "WC-1",
            "buyer_email": "buyer@example.com",
            "metadata": {"cart": [1, 2]},
            "notification_url": "https://shop.example.com/ipn",
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == PUBLIC_KEYS | PRIVATE_KEYS
    assert (body["price"], body["currency"], body["status"], body["exception_status"]) == (
        "0.00150000",
        "BTC",
        "pending",
        "none",
    )
    assert (body["sent_amount"], body["user_id"], body["metadata"]) == (
        "0",
        str(merchant.pk),
        {"cart": [1, 2]},
    )
    assert body["expiration_seconds"] == 15 * 60 and 0 < body["time_left"] <= 900
    [method] = body["payments"]
    db_method = PaymentMethod.objects.get(invoice_id=body["id"])
    assert method["id"] == db_method.pk and method["payment_address"] == method["address"] == db_method.address
    assert (method["amount"], method["rate"], method["currency"], method["symbol"]) == (
        "0.00150000",
        "1.00000000",
        "BTC",
        "btc",
    )
    assert method["payment_url"] == db_method.payment_url
    invoice = Invoice.objects.get(pk=body["id"])
    assert invoice.price == Decimal("0.0015") and invoice.notification_url == "https://shop.example.com/ipn"


def test_public_view_is_redacted_and_owner_sees_everything(client_merchant, client_other, store):
    invoice = invoice_create(store=store, price="0.001", buyer_email="b@example.com", metadata={"k": "v"})
    public = APIClient().get(f"/api/invoices/{invoice.pk}")
    assert public.status_code == 200
    assert set(public.json()) == PUBLIC_KEYS
    assert public.json()["payments"][0]["payment_url"].startswith("bitcoin:")
    assert set(client_other.get(f"/api/invoices/{invoice.pk}").json()) == PUBLIC_KEYS
    assert client_merchant.get(f"/api/invoices/{invoice.pk}").json()["buyer_email"] == "b@example.com"
    assert APIClient().get("/api/invoices/NOPE").status_code == 404


def test_anonymous_creation_refused_unless_the_store_allows_it(store):
    api = APIClient()
    refused = api.post("/api/invoices", {"store_id": store.pk, "price": "0.001"})
    assert refused.status_code == 403
    assert refused.json()["code"] == "anonymous_invoice_creation_disabled"
    assert Invoice.objects.count() == 0
    store.allow_anonymous_invoice_creation = True
    store.save()
    created = api.post(
        "/api/invoices",
        {"store_id": store.pk, "price": "0.001", "notification_url": "http://10.0.0.1/", "buyer_email": "a@b.co"},
    )
    assert created.status_code == 201
    assert set(created.json()) == PUBLIC_KEYS
    invoice = Invoice.objects.get()
    assert invoice.notification_url == "" and invoice.buyer_email == "a@b.co"
    assert api.post("/api/invoices", {"store_id": "01NOSUCHSTORE", "price": "1"}).status_code == 404


@override_settings(
    REST_FRAMEWORK={
        "EXCEPTION_HANDLER": "bitcart.api.exception_handler",
        "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.BearerTokenAuthentication"],
        "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.HasScopes"],
        "DEFAULT_PAGINATION_CLASS": "bitcart.api.BitcartPagination",
        "DEFAULT_THROTTLE_RATES": {"invoice_anon": "3/min", "login": "10/min"},
        "TEST_REQUEST_DEFAULT_FORMAT": "json",
    }
)
def test_anonymous_creation_is_rate_limited(store, client_merchant):
    store.allow_anonymous_invoice_creation = True
    store.save()
    api = APIClient()
    codes = [api.post("/api/invoices", {"store_id": store.pk, "price": "0.001"}).status_code for _ in range(4)]
    assert codes == [201, 201, 201, 429]
    limited = api.post("/api/invoices", {"store_id": store.pk, "price": "0.001"})
    assert limited.json()["code"] == "rate_limited" and limited.json()["retry_after"] >= 1
    assert Invoice.objects.count() == 3
    # The owner's token is not limited by the anonymous budget.
    assert client_merchant.post("/api/invoices", {"store_id": store.pk, "price": "0.001"}).status_code == 201


def test_bad_input_is_a_422_with_a_stable_code_and_no_row(client_merchant, store):
    cases = [
        ({"store_id": store.pk, "price": "-1"}, "invalid_amount"),
        ({"store_id": store.pk, "price": "0.000000001"}, "too_many_decimals"),
        ({"store_id": store.pk, "price": "abc"}, "invalid_amount"),
        ({"store_id": store.pk, "price": "1", "currency": "XXX"}, "unknown_currency"),
        ({"store_id": store.pk}, "price_required"),
        ({"store_id": store.pk, "price": True}, "validation_error"),
        ({"store_id": store.pk, "price": "1", "buyer_email": "not-an-email"}, "validation_error"),
        ({"store_id": store.pk, "price": "1", "products": "x"}, "validation_error"),
    ]
    for body, code in cases:
        response = client_merchant.post("/api/invoices", body)
        assert response.status_code == 422, (body, response.content)
        assert response.json()["code"] == code, (body, response.json())
    assert Invoice.objects.count() == 0
    assert client_merchant.post("/api/invoices", "{", content_type="application/json").json()["code"] == "parse_error"


def test_products_priced_invoice(client_merchant, store):
    hat = product_create(store=store, name="Hat", price="0.001", quantity=5)
    response = client_merchant.post("/api/invoices", {"store_id": store.pk, "products": {hat.pk: 2}})
    assert response.status_code == 201
    body = response.json()
    assert (body["price"], body["products"], body["product_names"], body["product_quantities"]) == (
        "0.00200000",
        [hat.pk],
        {hat.pk: "Hat"},
        {hat.pk: 2},
    )


def test_order_id_get_or_create(client_merchant, store):
    first = client_merchant.post("/api/invoices/order_id/ORDER-7", {"store_id": store.pk, "price": "0.001"})
    assert first.status_code == 200
    again = client_merchant.post("/api/invoices/order_id/ORDER-7", {"store_id": store.pk, "price": "0.002"})
    assert again.json()["id"] == first.json()["id"] and again.json()["price"] == "0.00100000"
    assert Invoice.objects.filter(order_id="ORDER-7").count() == 1
    Invoice.objects.filter(order_id="ORDER-7").update(status=InvoiceStatus.EXPIRED)
    fresh = client_merchant.post("/api/invoices/order_id/ORDER-7", {"store_id": store.pk, "price": "0.002"})
    assert fresh.json()["id"] != first.json()["id"]
    assert Invoice.objects.filter(order_id="ORDER-7").count() == 2


def test_owner_patch_and_batch_commands(client_merchant, store):
    a = invoice_create(store=store, price="0.001")
    b = invoice_create(store=store, price="0.002")
    patched = client_merchant.patch(f"/api/invoices/{a.pk}", {"order_id": "X", "metadata": {"n": 1}})
    assert patched.status_code == 200 and patched.json()["order_id"] == "X" and patched.json()["metadata"] == {"n": 1}
    done = client_merchant.post("/api/invoices/batch", {"ids": [a.pk], "command": "mark_complete"})
    assert done.status_code == 200 and done.json() == {"command": "mark_complete", "done": [a.pk], "failed": []}
    invalid = client_merchant.post("/api/invoices/batch", {"ids": [a.pk, b.pk], "command": "mark_invalid"})
    assert invalid.status_code == 200
    assert invalid.json()["done"] == [b.pk]
    assert [(f["id"], f["code"]) for f in invalid.json()["failed"]] == [(a.pk, "transition_not_allowed")]
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.status, b.status) == (InvoiceStatus.COMPLETE, InvoiceStatus.INVALID)  # complete → invalid not allowed
    unknown = client_merchant.post("/api/invoices/batch", {"ids": [a.pk], "command": "explode"})
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_command"


def test_list_pagination_sort_query_and_count(client_merchant, store):
    prices = ["0.001", "0.003", "0.002", "0.004", "0.005", "0.006", "0.007"]
    ids = [invoice_create(store=store, price=p, order_id=f"O-{i}").pk for i, p in enumerate(prices)]
    page = client_merchant.get("/api/invoices").json()
    assert set(page) == {"count", "next", "previous", "result"}
    assert page["count"] == 7 and len(page["result"]) == 5 and page["previous"] is None
    assert "offset=5" in page["next"]
    assert [r["id"] for r in page["result"]] == ids[::-1][:5]
    second = client_merchant.get("/api/invoices", {"offset": 5, "limit": 5}).json()
    assert len(second["result"]) == 2 and second["next"] is None and second["previous"] is not None
    by_price = client_merchant.get("/api/invoices", {"sort": "price", "desc": "false", "limit": 3}).json()
    assert [r["price"] for r in by_price["result"]] == ["0.00100000", "0.00200000", "0.00300000"]
    filtered = client_merchant.get("/api/invoices", {"query": "order_id:O-2"}).json()
    assert [r["id"] for r in filtered["result"]] == [ids[2]]
    assert client_merchant.get("/api/invoices", {"query": "status:complete"}).json()["count"] == 0
    assert client_merchant.get("/api/invoices/count").json() == 7
    assert client_merchant.get("/api/invoices/count", {"query": "O-3"}).json() == 1
    assert len(client_merchant.get("/api/invoices", {"limit": -1}).json()["result"]) == 7
    assert client_merchant.get("/api/invoices", {"limit": "x"}).status_code == 422
    assert client_merchant.get("/api/invoices/", {"limit": 1}).status_code == 200  # trailing slash accepted


def test_invoices_cannot_be_deleted(client_merchant, store):
    invoice = invoice_create(store=store, price="0.001")
    assert client_merchant.delete(f"/api/invoices/{invoice.pk}").status_code == 405
    assert Invoice.objects.filter(pk=invoice.pk).exists()


def test_invoice_answers_its_payment_ledger_per_output(client_merchant, client_other, store):
    invoice = invoice_create(store=store, price="0.001", currency="BTC")
    method = invoice.payment_methods.get()
    payment_apply(payment_method_id=method.pk, txid="a" * 64, vout=3, amount=25_000, height=101, confirmations=2)
    payment_apply(payment_method_id=method.pk, txid="b" * 64, vout=0, amount=75_000)
    payment_method_sync(  # the unconfirmed one left the mempool
        payment_method_id=method.pk,
        outputs=[Output("a" * 64, 3, 25_000, 101, 2)],
        complete=True,
    )
    first, second = Payment.objects.filter(payment_method=method).order_by("created")

    expected = [
        {
            "payment_method": method.pk,
            "currency": "BTC",
            "address": method.address,
            "txid": "a" * 64,
            "vout": 3,
            "amount": "0.00025000",
            "amount_units": "25000",
            "height": 101,
            "confirmations": 2,
            "state": "confirmed",
            "created": first.created.isoformat().replace("+00:00", "Z"),
        },
        {
            "payment_method": method.pk,
            "currency": "BTC",
            "address": method.address,
            "txid": "b" * 64,
            "vout": 0,
            "amount": "0.00075000",
            "amount_units": "75000",
            "height": None,
            "confirmations": 0,
            "state": "dropped",
            "created": second.created.isoformat().replace("+00:00", "Z"),
        },
    ]
    owner = client_merchant.get(f"/api/invoices/{invoice.pk}").json()
    assert owner["payments_received"] == expected
    assert owner["tx_hashes"] == ["a" * 64]  # a dropped output does not count, but stays in the ledger
    assert owner["sent_amount"] == "0.00025000"
    # The buyer's (public) view shows the same ledger: txids and amounts are on the chain anyway.
    assert APIClient().get(f"/api/invoices/{invoice.pk}").json()["payments_received"] == expected
    assert client_other.get(f"/api/invoices/{invoice.pk}").json()["payments_received"] == expected
    listed = client_merchant.get("/api/invoices").json()
    rows = listed["result"] if isinstance(listed, dict) else listed
    assert [row["payments_received"] for row in rows] == [expected]
