"""Another merchant's token (even with full_control) never reaches a merchant's objects."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.services import token_create
from invoices.models import Invoice, InvoiceStatus
from invoices.services import invoice_create
from stores.models import Discount, NotificationProvider, Product, Store, Template
from stores.services import product_create
from wallets.models import Wallet
from webhooks.services import webhook_endpoint_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def objects(merchant, store, wallet):
    invoice = invoice_create(
        store=store,
        price="0.001",
        buyer_email="buyer@example.com",
        metadata={"secret": 1},
        order_id="O-1",
        notification_url="http://127.0.0.1:9/ipn",
    )
    token, _ = token_create(user=merchant, permissions=["full_control"])
    return {
        "stores": store,
        "wallets": wallet,
        "invoices": invoice,
        "products": product_create(store=store, name="Hat", price="0.01"),
        "discounts": Discount.objects.create(
            store=store, name="Ten", percent=10, promocode="TEN", end_date=timezone.now() + timedelta(days=1)
        ),
        "notifications": NotificationProvider.objects.create(store=store, name="n", url="json://127.0.0.1/x"),
        "templates": Template.objects.create(owner=merchant, store=store, name="t", text="hi"),
        "token": token,
        "webhooks": webhook_endpoint_create(store=store, url="http://127.0.0.1:9/hook"),
    }


PRIVATE = ("buyer_email", "metadata", "notification_url", "shipping_address", "notes", "user_id")
RESOURCES = (
    "stores",
    "wallets",
    "invoices",
    "products",
    "discounts",
    "notifications",
    "templates",
    "token",
    "webhooks",
)


@pytest.mark.parametrize("resource", RESOURCES)
def test_other_merchant_cannot_read_change_or_delete(client_other, objects, resource):
    obj = objects[resource]
    model = type(obj)
    url = f"/api/{resource}/{obj.pk}"
    response = client_other.get(url)
    if resource == "invoices":
        assert response.status_code == 200
        assert not set(PRIVATE) & set(response.json()), "public invoice view leaks private fields"
    elif resource == "stores":
        assert response.status_code == 200
        assert set(response.json()) == {
            "id",
            "name",
            "default_currency",
            "checkout_settings",
            "theme_settings",
            "created",
        }
    else:
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    assert client_other.patch(url, {"name": "pwned", "notes": "pwned", "app_id": "x"}).status_code == 404
    # Invoices have no DELETE at all (405); everything else is someone else's, so not found (404).
    assert client_other.delete(url).status_code == (405 if resource == "invoices" else 404)
    assert model.objects.filter(pk=obj.pk).exists()
    listed = client_other.get(f"/api/{resource}", {"limit": 100}).json()
    assert obj.pk not in [item["id"] for item in listed["result"]]
    assert client_other.get(f"/api/{resource}/count").json() == (1 if resource == "token" else 0)
    command = {"invoices": "mark_invalid"}.get(resource, "delete")
    batch = client_other.post(f"/api/{resource}/batch", {"ids": [obj.pk], "command": command})
    assert (batch.status_code, batch.json()["code"], batch.json()["ids"]) == (404, "not_found", [obj.pk])
    assert model.objects.filter(pk=obj.pk).exists()
    if resource == "invoices":
        assert Invoice.objects.get(pk=obj.pk).status == InvoiceStatus.PENDING


def test_other_merchant_cannot_attach_to_my_store_or_wallet(client_other, objects, other_merchant):
    store, wallet = objects["stores"], objects["wallets"]
    for resource, body in (
        ("products", {"store_id": store.pk, "name": "x", "price": "1"}),
        ("discounts", {"store_id": store.pk, "name": "x", "percent": 5, "end_date": "2099-01-01T00:00:00Z"}),
        ("notifications", {"store_id": store.pk, "name": "x", "url": "json://x"}),
        ("templates", {"store_id": store.pk, "name": "x", "text": "x"}),
        ("webhooks", {"store_id": store.pk, "url": "http://example.com/hook"}),
    ):
        response = client_other.post(f"/api/{resource}", body)
        assert response.status_code == 404, (resource, response.content)
        assert response.json()["code"] == "store_not_found"
    response = client_other.post("/api/stores", {"name": "Mine", "wallets": [wallet.pk]})
    assert response.status_code == 422 and response.json()["code"] == "wallet_not_found"
    assert not Store.objects.filter(owner=other_merchant).exists()
    assert Product.objects.count() == 1 and Wallet.objects.count() == 1
    # Invoices on my store from another merchant's token: treated as anonymous, and my store refuses those.
    refused = client_other.post("/api/invoices", {"store_id": store.pk, "price": "0.001"})
    assert refused.status_code == 403
    assert Invoice.objects.count() == 1


def test_other_merchant_cannot_see_my_events_or_deliveries(client_other, client_merchant, objects):
    from invoices.services import invoice_mark_invalid

    invoice_mark_invalid(invoice_id=objects["invoices"].pk)
    mine = client_merchant.get("/api/webhooks/events").json()
    assert sorted(e["type"] for e in mine["result"]) == ["invoice.created", "invoice.invalid"]
    assert client_other.get("/api/webhooks/events").json()["count"] == 0
    assert client_other.get("/api/webhooks/events", {"store_id": objects["stores"].pk}).json()["count"] == 0
