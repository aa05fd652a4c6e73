"""Store-side writes through the API go through stores.services / wallets.services, one rule each
(the admin's forms use the same rule functions: tests/test_admin.py)."""

from decimal import Decimal

import pytest

from stores.models import Discount, NotificationProvider, Product, Store, Template
from stores.services import product_create
from wallets.models import Wallet

pytestmark = pytest.mark.django_db


def test_product_price_patch_follows_the_store_currency(client_merchant, store):
    store.default_currency = "USD"
    store.save()
    hat = product_create(store=store, name="Hat", price="10")
    refused = client_merchant.patch(f"/api/products/{hat.pk}", {"price": "1.005"})
    assert (refused.status_code, refused.json()["code"]) == (422, "too_many_decimals")
    assert refused.json()["detail"] == "price has more than 2 decimal places for USD"
    ok = client_merchant.patch(f"/api/products/{hat.pk}", {"price": "12.5", "name": "  Cap "})
    assert ok.status_code == 200
    assert (ok.json()["price"], ok.json()["name"]) == ("12.50", "Cap")
    hat.refresh_from_db()
    assert (hat.price, hat.name) == (Decimal("12.5"), "Cap")


def test_store_currency_change_must_keep_product_prices_valid(client_merchant, store):
    product_create(store=store, name="Sticker", price="0.001")  # a BTC store
    refused = client_merchant.patch(f"/api/stores/{store.pk}", {"default_currency": "jpy"}, format="json")
    assert refused.status_code == 422
    assert refused.json() == {
        "detail": "Product 'Sticker': price has more than 0 decimal places for JPY; change its price first",
        "code": "product_price_not_in_currency",
    }
    store.refresh_from_db()
    assert store.default_currency == "BTC"
    body = {"default_currency": "kwd", "name": " Shop 2 "}  # three decimal places: 0.001 fits
    assert client_merchant.patch(f"/api/stores/{store.pk}", body, format="json").status_code == 200
    store.refresh_from_db()
    assert (store.default_currency, store.name) == ("KWD", "Shop 2")


def test_store_patch_wallets_and_settings(client_merchant, store, wallet):
    response = client_merchant.patch(
        f"/api/stores/{store.pk}",
        {"wallets": [], "checkout_settings": {"expiration": 30, "email_required": True}},
        format="json",
    )
    assert response.status_code == 200
    store.refresh_from_db()
    assert (store.expiration, store.email_required, list(store.wallets.all())) == (30, True, [])


def test_discount_currencies_are_normalized_by_the_api_too(client_merchant, store):
    body = {"store_id": store.pk, "name": "D", "percent": 10, "end_date": "2099-01-01T00:00:00Z"}
    refused = client_merchant.post("/api/discounts", {**body, "currencies": "usd, XYZ"})
    assert (refused.status_code, refused.json()["code"]) == (422, "unknown_currency")
    assert not Discount.objects.exists()
    created = client_merchant.post("/api/discounts", {**body, "currencies": "usd, eur,usd"})
    assert created.status_code == 201
    discount = Discount.objects.get()
    assert discount.currencies == "USD,EUR"
    patched = client_merchant.patch(f"/api/discounts/{discount.pk}", {"currencies": "gbp"})
    assert patched.status_code == 200
    discount.refresh_from_db()
    assert discount.currencies == "GBP"


def test_notification_url_must_be_an_apprise_url(client_merchant, store):
    refused = client_merchant.post("/api/notifications", {"store_id": store.pk, "name": "n", "url": "example.com"})
    assert (refused.status_code, refused.json()["code"]) == (422, "invalid_notification_url")
    assert not NotificationProvider.objects.exists()
    created = client_merchant.post("/api/notifications", {"store_id": store.pk, "name": "n", "url": " json://h/x "})
    assert created.status_code == 201
    provider = NotificationProvider.objects.get()
    assert provider.url == "json://h/x"
    patched = client_merchant.patch(f"/api/notifications/{provider.pk}", {"url": "nope"})
    assert (patched.status_code, patched.json()["code"]) == (422, "invalid_notification_url")
    provider.refresh_from_db()
    assert provider.url == "json://h/x"


@pytest.mark.parametrize("with_store", [True, False])
def test_template_names_are_unique_per_owner_and_store(client_merchant, store, with_store):
    body = {"name": "invoice_paid", "text": "Thanks", **({"store_id": store.pk} if with_store else {})}
    assert client_merchant.post("/api/templates", body).status_code == 201
    again = client_merchant.post("/api/templates", body)
    assert again.status_code == 409
    assert again.json() == {
        "detail": "A template with this name already exists",
        "code": "already_exists",
        "fields": {"name": ["A template with this name already exists"]},
    }
    assert Template.objects.count() == 1


def test_template_rename_onto_another_name_is_refused(client_merchant, merchant):
    first = client_merchant.post("/api/templates", {"name": "a", "text": "x"}).json()
    client_merchant.post("/api/templates", {"name": "b", "text": "y"})
    refused = client_merchant.patch(f"/api/templates/{first['id']}", {"name": "b"})
    assert (refused.status_code, refused.json()["code"]) == (409, "already_exists")
    assert sorted(Template.objects.values_list("name", flat=True)) == ["a", "b"]
    assert client_merchant.patch(f"/api/templates/{first['id']}", {"text": "z"}).status_code == 200


def test_wallet_patch(client_merchant, wallet):
    refused = client_merchant.patch(f"/api/wallets/{wallet.pk}", {"name": "   ", "label": "x"})
    assert (refused.status_code, refused.json()["code"]) == (422, "validation_error")
    wallet.refresh_from_db()
    assert (wallet.name, wallet.label) == ("Main", "")
    ok = client_merchant.patch(f"/api/wallets/{wallet.pk}", {"name": " Cold ", "transaction_speed": 3})
    assert ok.status_code == 200
    wallet.refresh_from_db()
    assert (wallet.name, wallet.transaction_speed) == ("Cold", 3)
    assert Wallet.objects.count() == 1


def test_deletes_go_through_the_services(client_merchant, store):
    hat = product_create(store=store, name="Hat", price="0.01")
    assert client_merchant.delete(f"/api/products/{hat.pk}").status_code == 200
    assert not Product.objects.exists()
    assert client_merchant.delete(f"/api/stores/{store.pk}").status_code == 200
    assert not Store.objects.exists()
