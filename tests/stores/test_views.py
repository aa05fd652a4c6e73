import pytest

from invoices.models import Invoice
from stores.models import Product
from stores.services import product_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def products(store):
    return [
        product_create(store=store, name="Sticker", price="0.0001"),
        product_create(store=store, name="Shirt", price="0.0005", quantity=3),
        product_create(store=store, name="Sold out", price="0.0002", quantity=0),
        product_create(store=store, name="Retired", price="0.0003", status=Product.Status.INACTIVE),
    ]


def test_store_page_lists_active_products(client, store, products):
    html = client.get(f"/s/{store.pk}").content.decode()

    assert "Sticker" in html and "Shirt" in html and "Sold out" in html
    assert "Retired" not in html
    assert "0.00010000" in html
    assert "Out of stock" in html
    assert f'name="qty_{products[2].pk}"' not in html


def test_prices_keep_the_decimal_point_in_every_language(client, store, products):
    html = client.get(f"/s/{store.pk}", HTTP_ACCEPT_LANGUAGE="de").content.decode()

    assert "Ausverkauft" in html
    assert 'data-price="0.00010000"' in html
    assert "0,0001" not in html


def test_checkout_creates_the_invoice_and_redirects(client, store, products):
    sticker, shirt = products[0], products[1]

    response = client.post(f"/s/{store.pk}", {f"qty_{sticker.pk}": "2", f"qty_{shirt.pk}": "1", "promocode": ""})

    invoice = Invoice.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/i/{invoice.pk}"
    assert str(invoice.price.normalize()) == "0.0007"
    assert {p.product_id: p.count for p in invoice.invoice_products.all()} == {sticker.pk: 2, shirt.pk: 1}


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({}, "Choose at least one product."),
        ({"qty": "-1"}, "Enter a whole number of items for Sticker."),
        ({"qty": "1", "promocode": "NOPE"}, "This promocode is not valid"),
    ],
)
def test_checkout_errors_are_shown_and_create_nothing(client, store, products, form, message):
    data = {"promocode": form.get("promocode", "")}
    if "qty" in form:
        data[f"qty_{products[0].pk}"] = form["qty"]

    response = client.post(f"/s/{store.pk}", data)

    assert response.status_code == 422
    assert message in response.content.decode()
    assert not Invoice.objects.exists()


def test_stock_is_checked(client, store, products):
    response = client.post(f"/s/{store.pk}", {f"qty_{products[1].pk}": "4"})

    assert response.status_code == 422
    assert "out of stock" in response.content.decode()
    assert not Invoice.objects.exists()


def test_pos_creates_a_custom_amount_invoice(client, store):
    response = client.post(f"/s/{store.pk}/pos", {"amount": "0,0025", "notes": "Table 4"})

    invoice = Invoice.objects.get()
    assert response["Location"] == f"/i/{invoice.pk}"
    assert (str(invoice.price.normalize()), invoice.currency, invoice.notes) == ("0.0025", "BTC", "Table 4")


@pytest.mark.parametrize("amount", ["", "abc", "0", "0.000000001"])
def test_pos_refuses_bad_amounts(client, store, amount):
    response = client.post(f"/s/{store.pk}/pos", {"amount": amount})

    assert response.status_code == 422
    assert 'role="alert"' in response.content.decode()
    assert not Invoice.objects.exists()


def test_unknown_store_is_404(client, db):
    assert client.get("/s/NOPE").status_code == 404
    assert client.get("/s/NOPE/pos").status_code == 404


def test_anonymous_orders_are_rate_limited(client, store, products, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"invoice_anon": "2/min"}}
    order = {f"qty_{products[0].pk}": "1"}

    assert client.post(f"/s/{store.pk}", order).status_code == 302
    assert client.post(f"/s/{store.pk}/pos", {"amount": "0.001"}).status_code == 302
    refused = client.post(f"/s/{store.pk}", order)

    assert refused.status_code == 429
    assert "Too many orders" in refused.content.decode()
    assert Invoice.objects.count() == 2
