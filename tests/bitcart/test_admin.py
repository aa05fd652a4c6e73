"""The admin as the merchants' UI: owner isolation, service-backed forms and actions, CSV export."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from bitcart.admin import csv_safe
from coins.encoding import b58check_decode, b58check_encode
from invoices import services
from invoices.models import Invoice, InvoiceStatus, Payment
from stores.models import Discount, NotificationProvider, Product, Store, Template
from wallets.keys import generate_xpub
from wallets.models import Wallet

pytestmark = pytest.mark.django_db
TXID = "cd" * 32


def make_invoice(store, price="0.001", **kwargs) -> Invoice:
    return services.invoice_create(store=store, price=price, currency="BTC", **kwargs)


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def url(name: str, *args) -> str:
    return reverse(f"admin:{name}", args=args)


@pytest.fixture
def merchants_group():
    return Group.objects.get(name="Merchants")  # created by stores/migrations/0002_merchants_group.py


@pytest.fixture
def a_client(merchant, merchants_group) -> Client:
    merchant.groups.add(merchants_group)
    client = Client()
    client.force_login(merchant)
    return client


@pytest.fixture
def b_client(other_merchant, merchants_group) -> Client:
    other_merchant.groups.add(merchants_group)
    client = Client()
    client.force_login(other_merchant)
    return client


@pytest.fixture
def a_objects(merchant, wallet, store):
    """One of everything owned (through its store) by merchant A."""
    product = Product.objects.create(store=store, name="Hat", price=Decimal("0.001"))
    discount = Discount.objects.create(
        store=store, name="Ten", percent=10, promocode="TEN", end_date=timezone.now() + timedelta(days=1)
    )
    provider = NotificationProvider.objects.create(store=store, name="Hook", url="json://example.com/a")
    template = Template.objects.create(owner=merchant, store=store, name="invoice_paid", text="Paid")
    invoice = services.invoice_create(store=store, products=[product.pk])
    method = invoice.payment_methods.get()
    services.payment_apply(payment_method_id=method.pk, txid=TXID, vout=0, amount=method.amount)
    return {
        "stores_store": store,
        "wallets_wallet": wallet,
        "stores_product": product,
        "stores_discount": discount,
        "stores_notificationprovider": provider,
        "stores_template": template,
        "invoices_invoice": invoice,
        "invoices_invoiceproduct": invoice.invoice_products.get(),
        "invoices_paymentmethod": method,
        "invoices_payment": Payment.objects.get(payment_method=method),
        "invoices_invoiceevent": invoice.events.order_by("id").last(),
    }


@pytest.fixture
def b_objects(other_merchant):
    wallet = Wallet.objects.create(
        name="B wallet", owner=other_merchant, currency="BTC", network="regtest", xpub=generate_xpub("regtest")
    )
    store = Store.objects.create(name="B shop", owner=other_merchant, default_currency="BTC")
    store.wallets.add(wallet)
    return {"store": store, "wallet": wallet, "invoice": make_invoice(store)}


# --- the Merchants group ------------------------------------------------------------------------


def test_merchants_group_has_exactly_the_merchant_permissions(merchants_group):
    perms = {f"{p.content_type.app_label}.{p.codename}" for p in merchants_group.permissions.all()}
    crud = {
        f"{app}.{action}_{model}"
        for app, model in [
            ("stores", "store"),
            ("stores", "product"),
            ("stores", "discount"),
            ("stores", "notificationprovider"),
            ("stores", "template"),
            ("wallets", "wallet"),
            ("apiauth", "token"),
            ("webhooks", "webhookendpoint"),
        ]
        for action in ("view", "add", "change", "delete")
    }
    view_only = {
        f"invoices.view_{m}" for m in ("invoice", "invoiceproduct", "paymentmethod", "payment", "invoiceevent")
    } | {"webhooks.view_webhookmessage", "webhooks.view_webhookattempt"}
    assert perms == crud | view_only | {"invoices.add_invoice", "invoices.change_invoice"}


# --- isolation ----------------------------------------------------------------------------------

MODELS = [
    "stores_store",
    "wallets_wallet",
    "stores_product",
    "stores_discount",
    "stores_notificationprovider",
    "stores_template",
    "invoices_invoice",
    "invoices_invoiceproduct",
    "invoices_paymentmethod",
    "invoices_payment",
    "invoices_invoiceevent",
]


@pytest.mark.parametrize("model", MODELS)
def test_changelists_show_only_own_objects(a_objects, b_objects, b_client, a_client, model):
    response = b_client.get(url(f"{model}_changelist"))
    assert response.status_code == 200
    shown = {obj.pk for obj in response.context["cl"].result_list}
    assert a_objects[model].pk not in shown
    owned = {
        "stores_store": {b_objects["store"].pk},
        "wallets_wallet": {b_objects["wallet"].pk},
        "invoices_invoice": {b_objects["invoice"].pk},
        "invoices_paymentmethod": {b_objects["invoice"].payment_methods.get().pk},
        "invoices_invoiceevent": set(b_objects["invoice"].events.values_list("pk", flat=True)),
    }.get(model, set())
    assert shown == owned

    response = a_client.get(url(f"{model}_changelist"))
    assert a_objects[model].pk in {obj.pk for obj in response.context["cl"].result_list}


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("view", ["change", "delete", "history"])
def test_other_merchants_object_urls_are_404(a_objects, a_client, b_client, model, view):
    page = url(f"{model}_{view}", a_objects[model].pk)
    # The owner reaches it; invoice records are never deleted, so their delete page is 403 even to the owner.
    owner_status = 403 if view == "delete" and model.startswith("invoices_") else 200
    assert a_client.get(page).status_code == owner_status
    assert b_client.get(page).status_code == 404


def test_posting_to_other_merchants_objects_changes_nothing(a_objects, b_client):
    invoice, store, wallet = a_objects["invoices_invoice"], a_objects["stores_store"], a_objects["wallets_wallet"]
    response = b_client.post(url("invoices_invoice_change", invoice.pk), {"notes": "mine now"})
    assert response.status_code == 404
    response = b_client.post(url("stores_store_change", store.pk), {"name": "Stolen", "default_currency": "BTC"})
    assert response.status_code == 404
    response = b_client.post(url("wallets_wallet_delete", wallet.pk), {"post": "yes"})
    assert response.status_code == 404
    invoice.refresh_from_db()
    store.refresh_from_db()
    assert (invoice.notes, store.name) == ("", "Shop")
    assert Wallet.objects.filter(pk=wallet.pk).exists()


def test_merchant_cannot_attach_another_merchants_wallet(a_objects, b_objects, b_client):
    a_wallet = a_objects["wallets_wallet"]
    data = {"name": "B2", "default_currency": "BTC", "wallets": [a_wallet.pk], **_checkout_defaults()}
    response = b_client.post(url("stores_store_add"), data)
    assert response.status_code == 200
    assert "wallets" in response.context["adminform"].form.errors
    assert not Store.objects.filter(name="B2").exists()

    b_store = b_objects["store"]
    data = {"name": "B shop", "default_currency": "BTC", "wallets": [a_wallet.pk], **_checkout_defaults()}
    response = b_client.post(url("stores_store_change", b_store.pk), {**data, **_empty_inline()})
    assert response.status_code == 200
    assert "wallets" in response.context["adminform"].form.errors
    assert list(b_store.wallets.all()) == [b_objects["wallet"]]


def test_superuser_sees_every_merchants_objects(a_objects, b_objects, admin_client):
    response = admin_client.get(url("invoices_invoice_changelist"))
    shown = {i.pk for i in response.context["cl"].result_list}
    assert shown == {a_objects["invoices_invoice"].pk, b_objects["invoice"].pk}
    response = admin_client.get(url("stores_store_changelist"))
    assert "owner" in response.context["cl"].list_display


def test_superuser_cannot_give_a_store_someone_elses_wallet(admin_client, merchant, other_merchant, wallet):
    data = {"name": "Mixed", "owner": other_merchant.pk, "default_currency": "BTC", "wallets": [wallet.pk]}
    response = admin_client.post(url("stores_store_add"), {**data, **_checkout_defaults(), **_empty_inline()})
    assert response.context["adminform"].form.errors["wallets"] == ["A store can only use wallets of its owner"]
    assert not Store.objects.filter(name="Mixed").exists()


def test_store_add_sets_the_owner_and_hides_the_field(b_objects, b_client, merchant, other_merchant):
    response = b_client.get(url("stores_store_add"))
    form = response.context["adminform"].form
    assert "owner" not in form.fields
    assert list(form.fields["wallets"].queryset) == [b_objects["wallet"]]
    data = {"name": "New", "owner": merchant.pk, "default_currency": "EUR", "wallets": [b_objects["wallet"].pk]}
    response = b_client.post(url("stores_store_add"), {**data, **_checkout_defaults(), **_empty_inline()})
    assert response.status_code == 302
    store = Store.objects.get(name="New")
    assert store.owner == other_merchant  # the posted owner is ignored
    assert list(store.wallets.all()) == [b_objects["wallet"]]


def test_foreign_key_choices_are_own_stores_only(a_objects, b_objects, b_client):
    for model in ("stores_product", "stores_discount", "stores_notificationprovider", "stores_template"):
        form = b_client.get(url(f"{model}_add")).context["adminform"].form
        assert list(form.fields["store"].queryset) == [b_objects["store"]], model
    form = b_client.get(url("invoices_invoice_add")).context["adminform"].form
    assert list(form.fields["store"].queryset) == [b_objects["store"]]
    assert list(form.fields["items"].queryset) == []
    response = b_client.post(
        url("stores_product_add"), {"store": a_objects["stores_store"].pk, "name": "X", "price": "1", "quantity": -1}
    )
    assert "store" in response.context["adminform"].form.errors
    assert not Product.objects.filter(name="X").exists()


def _checkout_defaults() -> dict:
    return {
        "expiration": 15,
        "transaction_speed": 1,
        "underpaid_percentage": "0",
        "monitoring_window": 1440,
    }


def _empty_inline() -> dict:
    return {
        "products-TOTAL_FORMS": "0",
        "products-INITIAL_FORMS": "0",
        "products-MIN_NUM_FORMS": "0",
        "products-MAX_NUM_FORMS": "1000",
    }


# --- wallets ------------------------------------------------------------------------------------


def _private_key_of_same_shape(xpub: str) -> str:
    payload = bytearray(b58check_decode(xpub))
    payload[:4] = (0x04358394).to_bytes(4, "big")  # tprv
    payload[45:78] = b"\x00" + bytes(range(1, 33))
    return b58check_encode(bytes(payload))


def _bad_keys() -> dict[str, tuple[str, str]]:
    good = generate_xpub("regtest", "p2wpkh")
    broken = good[:-1] + ("A" if good[-1] != "A" else "B")
    return {
        "checksum": (broken, "bad checksum"),
        "wrong network": (generate_xpub("mainnet", "p2wpkh"), "This key is for mainnet, not regtest"),
        "private key": (_private_key_of_same_shape(good), "This is a private key"),
        "garbage": ("hello", "Not a valid extended public key"),
    }


@pytest.mark.parametrize("case", ["checksum", "wrong network", "private key", "garbage"])
def test_wallet_form_rejects_bad_keys(a_client, merchant, case):
    key, message = _bad_keys()[case]
    data = {"name": "W", "currency": "BTC", "network": "regtest", "xpub": key}
    response = a_client.post(url("wallets_wallet_add"), data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["xpub"]
    assert len(errors) == 1 and message in errors[0]
    assert not Wallet.objects.exists()


def test_wallet_add_normalizes_and_owns_and_ignores_next_index(a_client, merchant):
    key = generate_xpub("regtest")
    data = {"name": "W", "currency": "BTC", "network": "regtest", "xpub": f"  {key}\n", "next_index": "50"}
    response = a_client.post(url("wallets_wallet_add"), data)
    assert response.status_code == 302
    wallet = Wallet.objects.get()
    assert (wallet.owner, wallet.xpub, wallet.next_index) == (merchant, key, 0)


def test_wallet_key_is_read_only_after_creation(a_client, wallet):
    response = a_client.get(url("wallets_wallet_change", wallet.pk))
    form = response.context["adminform"].form
    assert {"xpub", "network", "currency", "next_index", "owner"}.isdisjoint(form.fields)
    other_key = generate_xpub("regtest")
    data = {"name": "Renamed", "xpub": other_key, "network": "testnet", "next_index": "9"}
    assert a_client.post(url("wallets_wallet_change", wallet.pk), data).status_code == 302
    saved = Wallet.objects.get(pk=wallet.pk)
    assert (saved.name, saved.xpub, saved.network, saved.next_index) == ("Renamed", wallet.xpub, "regtest", 0)


def test_wallet_delete_refused_while_an_invoice_is_open(a_client, wallet, store):
    make_invoice(store)
    page = a_client.get(url("wallets_wallet_delete", wallet.pk)).content.decode()
    assert "cannot be deleted: invoices were given addresses of this wallet" in page
    assert 'name="post"' not in page  # no confirm button
    response = a_client.post(url("wallets_wallet_delete", wallet.pk), {"post": "yes"})
    assert response.status_code == 302
    assert response["Location"] == url("wallets_wallet_change", wallet.pk)
    assert messages_of(response) == [
        "“Main (BTC regtest)” was not deleted: This wallet has open invoices; wait until they end or mark them invalid"
    ]
    assert Wallet.objects.filter(pk=wallet.pk).exists()


def test_wallet_delete_refused_with_history_and_allowed_without(a_client, merchant, wallet, store):
    invoice = make_invoice(store)
    services.invoice_mark_invalid(invoice_id=invoice.pk)
    response = a_client.post(url("wallets_wallet_delete", wallet.pk), {"post": "yes"})
    assert "has invoice history" in messages_of(response)[0]
    assert Wallet.objects.filter(pk=wallet.pk).exists()

    unused = Wallet.objects.create(name="Spare", owner=merchant, network="regtest", xpub=generate_xpub("regtest"))
    assert 'name="post"' in a_client.get(url("wallets_wallet_delete", unused.pk)).content.decode()
    response = a_client.post(url("wallets_wallet_delete", unused.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Wallet.objects.filter(pk=unused.pk).exists()


def test_wallet_bulk_delete_reports_each_refusal(a_client, merchant, wallet, store):
    make_invoice(store)
    unused = Wallet.objects.create(name="Spare", owner=merchant, network="regtest", xpub=generate_xpub("regtest"))
    data = {"action": "delete_selected", "_selected_action": [wallet.pk, unused.pk]}
    confirmation = a_client.post(url("wallets_wallet_changelist"), data)
    assert "Some of the selected wallets cannot be deleted" in confirmation.content.decode()
    assert Wallet.objects.count() == 2
    response = a_client.post(url("wallets_wallet_changelist"), {**data, "post": "yes"})
    assert response.status_code == 302
    assert list(Wallet.objects.all()) == [wallet]
    assert messages_of(response) == [
        "Deleted 1 wallet(s).",
        "Not deleted “Main (BTC regtest)”: This wallet has open invoices; wait until they end or mark them invalid",
    ]


# --- stores and products ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "price", "message"),
    [
        ("BTC", "0.000000001", "price has more than 8 decimal places for BTC"),
        ("USD", "1.001", "price has more than 2 decimal places for USD"),
        ("USD", "-1", "price must be greater than zero"),
        ("USD", "0", "price must be greater than zero"),
    ],
)
def test_product_price_is_validated_in_the_store_currency(a_client, store, currency, price, message):
    store.default_currency = currency
    store.save()
    data = {"store": store.pk, "name": "Hat", "price": price, "quantity": -1, "status": "active"}
    response = a_client.post(url("stores_product_add"), data)
    assert response.context["adminform"].form.errors["price"] == [message]
    assert not Product.objects.exists()


def test_product_inline_on_store_validates_price_in_the_posted_currency(a_client, wallet, store):
    data = {
        "name": "Shop",
        "default_currency": "USD",
        "wallets": [wallet.pk],
        **_checkout_defaults(),
        **_empty_inline(),
        "products-TOTAL_FORMS": "1",
        "products-0-name": "Hat",
        "products-0-price": "1.005",
        "products-0-quantity": "-1",
        "products-0-status": "active",
    }
    response = a_client.post(url("stores_store_change", store.pk), data)
    assert response.status_code == 200
    assert response.context["inline_admin_formsets"][0].formset.errors == [
        {"price": ["price has more than 2 decimal places for USD"]}
    ]
    assert not Product.objects.exists()
    store.refresh_from_db()
    assert store.default_currency == "BTC"
    data["products-0-price"] = "1.50"
    assert a_client.post(url("stores_store_change", store.pk), data).status_code == 302
    assert Product.objects.get().price == Decimal("1.5")


def test_store_currency_change_must_keep_product_prices_valid(a_client, wallet, store):
    """The same rule as the API's (stores.services.store_currency_validate)."""
    Product.objects.create(store=store, name="Sticker", price=Decimal("0.001"))
    data = {"name": "Shop", "default_currency": "JPY", "wallets": [wallet.pk], **_checkout_defaults()}
    response = a_client.post(url("stores_store_change", store.pk), {**data, **_empty_inline()})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["default_currency"] == [
        "Product 'Sticker': price has more than 0 decimal places for JPY; change its price first"
    ]
    store.refresh_from_db()
    assert store.default_currency == "BTC"


def test_store_page_products_inline_writes_through_the_product_services(a_client, wallet, store):
    """Change one product, delete another and add a third from the store page; the change log
    records each (the admin's own formset.save() is replaced by the services)."""
    from django.contrib.admin.models import LogEntry

    hat = Product.objects.create(store=store, name="Hat", price=Decimal("0.001"))
    cap = Product.objects.create(store=store, name="Cap", price=Decimal("0.002"))
    forms = sorted([hat, cap], key=lambda p: p.created, reverse=True)  # the inline's order (Meta.ordering)
    data = {
        "name": "Shop",
        "default_currency": "BTC",
        "wallets": [wallet.pk],
        **_checkout_defaults(),
        **_empty_inline(),
        "products-TOTAL_FORMS": "3",
        "products-INITIAL_FORMS": "2",
    }
    for i, product in enumerate(forms):
        data |= {
            f"products-{i}-id": product.pk,
            f"products-{i}-store": store.pk,
            f"products-{i}-name": product.name,
            f"products-{i}-price": str(product.price),
            f"products-{i}-quantity": "-1",
            f"products-{i}-status": "active",
        }
    index = {p.pk: i for i, p in enumerate(forms)}
    data[f"products-{index[hat.pk]}-price"] = "0.0015"
    data[f"products-{index[cap.pk]}-DELETE"] = "on"
    data |= {"products-2-name": "Scarf", "products-2-price": "0.003", "products-2-quantity": "4"}
    data["products-2-status"] = "active"
    response = a_client.post(url("stores_store_change", store.pk), data)
    assert response.status_code == 302, response.context and response.context["inline_admin_formsets"][0].formset.errors
    assert sorted(Product.objects.values_list("name", "price", "quantity")) == [
        ("Hat", Decimal("0.0015"), -1),
        ("Scarf", Decimal("0.003"), 4),
    ]
    message = LogEntry.objects.get().get_change_message()
    assert "Added product “Scarf”." in message
    assert "Changed Price for product “Hat”." in message
    assert "Deleted product “Cap”." in message


def test_product_store_is_fixed_and_changes_go_through_the_service(a_client, store):
    hat = Product.objects.create(store=store, name="Hat", price=Decimal("0.001"))
    page = a_client.get(url("stores_product_change", hat.pk))
    assert "store" not in page.context["adminform"].form.fields
    data = {"name": " Cap ", "price": "0.002", "quantity": 3, "status": "inactive"}
    assert a_client.post(url("stores_product_change", hat.pk), data).status_code == 302
    hat.refresh_from_db()
    assert (hat.name, hat.price, hat.quantity, hat.status, hat.store_id) == (
        "Cap",
        Decimal("0.002"),
        3,
        "inactive",
        store.pk,
    )


def test_product_image_upload_and_thumbnail(a_client, store, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "orange").save(buffer, "PNG")
    image = SimpleUploadedFile("hat.png", buffer.getvalue(), content_type="image/png")
    data = {"store": store.pk, "name": "Hat", "price": "0.001", "quantity": 3, "status": "active", "image": image}
    assert a_client.post(url("stores_product_add"), data).status_code == 302
    product = Product.objects.get()
    assert product.image.name.startswith("products/hat") and (tmp_path / product.image.name).exists()
    response = a_client.get(url("stores_product_changelist"))
    assert f'<img src="{product.image.url}"' in response.content.decode()


def test_discount_currencies_are_validated(a_client, store):
    data = {"store": store.pk, "name": "D", "percent": 10, "end_date_0": "2030-01-01", "end_date_1": "00:00:00"}
    response = a_client.post(url("stores_discount_add"), {**data, "currencies": "usd, XYZ"})
    assert response.context["adminform"].form.errors["currencies"] == ["Unknown currency: 'XYZ'"]
    assert a_client.post(url("stores_discount_add"), {**data, "currencies": "usd, eur,usd"}).status_code == 302
    assert Discount.objects.get().currencies == "USD,EUR"


def test_template_owner_is_set_and_names_are_unique(a_client, merchant, store):
    data = {"store": store.pk, "name": "invoice_paid", "text": "Thanks"}
    assert a_client.post(url("stores_template_add"), data).status_code == 302
    assert Template.objects.get().owner == merchant
    response = a_client.post(url("stores_template_add"), data)
    assert response.context["adminform"].form.errors["name"] == ["A template with this name already exists"]
    assert Template.objects.count() == 1


# --- invoices -----------------------------------------------------------------------------------


def test_admin_add_invoice_goes_through_the_service(a_client, merchant, wallet, store):
    data = {"store": store.pk, "price": "0.00123", "currency": "BTC", "order_id": "42", "buyer_email": "b@example.com"}
    response = a_client.post(url("invoices_invoice_add"), data)
    invoice = Invoice.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url("invoices_invoice_change", invoice.pk)
    assert (invoice.price, invoice.currency, invoice.order_id, invoice.buyer_email) == (
        Decimal("0.00123"),
        "BTC",
        "42",
        "b@example.com",
    )
    assert invoice.payment_methods.get().amount == 123000
    assert list(invoice.events.values_list("kind", "cause")) == [("created", "creation")]


def test_admin_add_invoice_with_products_and_store_currency(a_client, store):
    hat = Product.objects.create(store=store, name="Hat", price=Decimal("0.002"))
    response = a_client.post(url("invoices_invoice_add"), {"store": store.pk, "items": [hat.pk]})
    assert response.status_code == 302
    invoice = Invoice.objects.get()
    assert (invoice.price, invoice.currency) == (Decimal("0.002"), "BTC")
    assert list(invoice.invoice_products.values_list("product_id", "count")) == [(hat.pk, 1)]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"price": "-1", "currency": "BTC"}, "price", "price must be greater than zero"),
        ({"price": "0.000000001", "currency": "BTC"}, "price", "price has more than 8 decimal places for BTC"),
        ({"price": "abc", "currency": "BTC"}, "price", "price is not a number: 'abc'"),
        ({"price": ""}, "price", "Give a price or products"),
        ({"price": "1", "currency": "BTC", "notes": "x" * 5001}, "notes", None),
    ],
)
def test_admin_add_invoice_errors_are_form_errors_and_create_nothing(a_client, wallet, store, data, field, message):
    response = a_client.post(url("invoices_invoice_add"), {"store": store.pk, **data})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors
    if message is not None:
        assert errors[field] == [message]
    assert not Invoice.objects.exists()
    wallet.refresh_from_db()
    assert wallet.next_index == 0


def test_admin_add_invoice_for_a_store_without_wallet(a_client, store):
    store.wallets.clear()
    response = a_client.post(url("invoices_invoice_add"), {"store": store.pk, "price": "1", "currency": "BTC"})
    assert response.context["adminform"].form.errors["store"] == ["The store has no wallet to receive payments"]
    assert not Invoice.objects.exists()


def test_admin_add_invoice_refuses_another_merchants_store(a_objects, b_client):
    count = Invoice.objects.count()
    data = {"store": a_objects["stores_store"].pk, "price": "1", "currency": "BTC"}
    response = b_client.post(url("invoices_invoice_add"), data)
    assert "store" in response.context["adminform"].form.errors
    assert Invoice.objects.count() == count


def test_invoice_change_edits_only_the_notes(a_client, store):
    invoice = make_invoice(store)
    data = {
        "notes": "call first",
        "buyer_email": "x@example.com",
        "shipping_address": "1 Main St",
        "status": "complete",
        "sent_amount": "5",
        "price": "9",
    }
    response = a_client.post(url("invoices_invoice_change", invoice.pk), data)
    assert response.status_code == 302
    saved = Invoice.objects.get(pk=invoice.pk)
    assert (saved.notes, saved.buyer_email, saved.shipping_address) == ("call first", "x@example.com", "1 Main St")
    assert (saved.status, saved.sent_amount, saved.price) == ("pending", Decimal("0"), Decimal("0.001"))
    assert saved.events.count() == 1


def test_invoice_change_of_a_paid_invoice_keeps_buyer_fields(a_client, store):
    """The admin's save went straight to the row: a paid invoice's shipping address could be
    rewritten. Now the buyer fields are read-only once paid and only the notes are written."""
    invoice = make_invoice(store, buyer_email="buyer@example.com", shipping_address="1 Main St")
    services.invoice_mark_complete(invoice_id=invoice.pk, actor="test")
    data = {"notes": "shipped", "buyer_email": "evil@example.com", "shipping_address": "Evil street 1"}
    response = a_client.post(url("invoices_invoice_change", invoice.pk), data)
    assert response.status_code == 302
    saved = Invoice.objects.get(pk=invoice.pk)
    assert (saved.notes, saved.buyer_email, saved.shipping_address) == ("shipped", "buyer@example.com", "1 Main St")
    assert saved.status == InvoiceStatus.COMPLETE


def test_invoice_change_refused_by_the_service_is_a_form_error(a_client, store):
    """Loaded while pending, posted after the payment arrived: the service's 409 becomes a form
    error and nothing is written."""
    invoice = make_invoice(store)
    page = a_client.get(url("invoices_invoice_change", invoice.pk))
    assert set(page.context["adminform"].form.fields) == {"notes", "buyer_email", "shipping_address"}
    services.invoice_mark_complete(invoice_id=invoice.pk, actor="test")
    form_class = page.context["adminform"].form.__class__
    form = form_class(
        data={"notes": "n", "buyer_email": "late@example.com", "shipping_address": ""},
        instance=Invoice.objects.get(pk=invoice.pk),
    )
    assert not form.is_valid()
    assert form.errors == {"__all__": ["This invoice no longer accepts changes"]}
    saved = Invoice.objects.get(pk=invoice.pk)
    assert (saved.notes, saved.buyer_email) == ("", "")


def test_invoice_change_bad_email_is_a_field_error(a_client, store):
    invoice = make_invoice(store)
    data = {"notes": "", "buyer_email": "not-an-email", "shipping_address": ""}
    response = a_client.post(url("invoices_invoice_change", invoice.pk), data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"buyer_email": ["Enter a valid email address."]}
    assert Invoice.objects.get(pk=invoice.pk).buyer_email == ""


def test_invoice_change_page_shows_methods_payments_and_timeline(a_objects, a_client):
    invoice, method = a_objects["invoices_invoice"], a_objects["invoices_paymentmethod"]
    response = a_client.get(url("invoices_invoice_change", invoice.pk))
    page = response.content.decode()
    assert method.address in page
    assert "0.00100000 BTC" in page
    assert f"{TXID}:0" in page
    assert method.payment_url.replace("&", "&amp;") in page
    assert [(e.kind, e.cause) for e, _ in response.context["timeline"]] == [
        ("created", "creation"),
        ("payment", "daemon"),
        ("status", "daemon"),
    ]
    assert "pending → paid" in page
    # Paid: the buyer's details are shown read-only, only the notes stay editable.
    assert set(response.context["adminform"].form.fields) == {"notes"}


def test_search_by_payment_address(a_client, store):
    first, second = make_invoice(store), make_invoice(store)
    address = second.payment_methods.get().address
    response = a_client.get(url("invoices_invoice_changelist"), {"q": address})
    assert [i.pk for i in response.context["cl"].result_list] == [second.pk]
    response = a_client.get(url("invoices_invoice_changelist"), {"q": first.pk})
    assert [i.pk for i in response.context["cl"].result_list] == [first.pk]


def test_mark_complete_and_invalid_actions(a_client, merchant, store):
    pending, other = make_invoice(store), make_invoice(store)
    response = a_client.post(
        url("invoices_invoice_changelist"), {"action": "mark_complete", "_selected_action": [pending.pk]}
    )
    assert response.status_code == 302
    assert messages_of(response) == ["Marked 1 invoice(s) complete."]
    pending.refresh_from_db()
    assert pending.status == InvoiceStatus.COMPLETE
    event = pending.events.order_by("id").last()
    assert (event.kind, event.old_status, event.new_status, event.cause, event.data) == (
        "status",
        "pending",
        "complete",
        "manual",
        {"by": "merchant"},
    )

    a_client.get(url("invoices_invoice_changelist"))  # shows (and so clears) the messages above

    # complete → invalid is not allowed: that invoice is reported, the other one still changes.
    response = a_client.post(
        url("invoices_invoice_changelist"), {"action": "mark_invalid", "_selected_action": [pending.pk, other.pk]}
    )
    assert Invoice.objects.get(pk=pending.pk).status == InvoiceStatus.COMPLETE
    assert Invoice.objects.get(pk=other.pk).status == InvoiceStatus.INVALID
    assert messages_of(response) == [
        "Marked 1 invoice(s) invalid.",
        f"Not changed {pending.pk}: An invoice cannot go from complete to invalid",
    ]
    assert pending.events.count() == 2
    assert list(other.events.values_list("new_status", "cause")) == [("pending", "creation"), ("invalid", "manual")]


def test_crafted_action_on_another_merchants_invoice_does_nothing(a_objects, b_client):
    invoice = a_objects["invoices_invoice"]
    events = invoice.events.count()
    for action in ("mark_complete", "mark_invalid"):
        data = {"action": action, "_selected_action": [invoice.pk]}
        assert b_client.post(url("invoices_invoice_changelist"), data).status_code == 302
    data = {"action": "export_csv", "_selected_action": [invoice.pk]}
    body = b"".join(b_client.post(url("invoices_invoice_changelist"), data).streaming_content).decode()
    assert body.splitlines()[1:] == []  # the header alone: the selection is filtered by owner first
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.events.count() == events


def test_export_csv_exact_and_injection_safe(a_client, store):
    store.name = "=Shop"
    store.save()
    first = make_invoice(store, order_id="-2+3", buyer_email="buyer@example.com")
    second = make_invoice(store, price="0.5")
    method = second.payment_methods.get()
    services.payment_apply(payment_method_id=method.pk, txid=TXID, vout=1, amount=method.amount, confirmations=1)
    second.refresh_from_db()
    response = a_client.post(
        url("invoices_invoice_changelist"), {"action": "export_csv", "_selected_action": [second.pk, first.pk]}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="invoices.csv"'
    body = b"".join(response.streaming_content).decode()
    assert list(csv.reader(io.StringIO(body))) == [
        [
            "id",
            "created",
            "store",
            "price",
            "currency",
            "status",
            "exception_status",
            "sent_amount",
            "paid_currency",
            "paid_date",
            "order_id",
            "buyer_email",
            "address",
        ],
        [
            first.pk,
            first.created.isoformat(),
            "'=Shop",
            "0.00100000",
            "BTC",
            "pending",
            "none",
            "0",
            "",
            "",
            "'-2+3",
            "buyer@example.com",
            first.payment_methods.get().address,
        ],
        [
            second.pk,
            second.created.isoformat(),
            "'=Shop",
            "0.50000000",
            "BTC",
            "complete",
            "none",
            "0.50000000",
            "BTC",
            second.paid_date.isoformat(),
            "",
            "",
            method.address,
        ],
    ]


@pytest.mark.parametrize(
    ("value", "cell"),
    [("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("a=b", "a=b")],
)
def test_csv_safe(value, cell):
    assert csv_safe(value) == cell


# --- view-only records --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model", ["invoices_paymentmethod", "invoices_payment", "invoices_invoiceevent", "invoices_invoiceproduct"]
)
def test_payment_records_are_view_only(a_objects, a_client, admin_client, model):
    obj = a_objects[model]
    for client in (a_client, admin_client):
        assert client.get(url(f"{model}_change", obj.pk)).status_code == 200
        assert client.get(url(f"{model}_add")).status_code == 403
        assert client.post(url(f"{model}_change", obj.pk), {}).status_code == 403
        assert client.post(url(f"{model}_delete", obj.pk), {"post": "yes"}).status_code == 403
    assert type(obj).objects.filter(pk=obj.pk).exists()


def test_invoices_cannot_be_deleted_by_merchants(a_objects, a_client):
    invoice = a_objects["invoices_invoice"]
    assert a_client.post(url("invoices_invoice_delete", invoice.pk), {"post": "yes"}).status_code == 403
    assert Invoice.objects.filter(pk=invoice.pk).exists()


# --- the frame ----------------------------------------------------------------------------------


def test_header_and_sandbox_banner(a_client, settings):
    settings.SANDBOX = True
    page = a_client.get(url("index")).content.decode()
    assert "SANDBOX — regtest, no real funds" in page
    assert '<a href="/admin/">Bitcart</a>' in page
    settings.SANDBOX = False
    page = a_client.get(url("index")).content.decode()
    assert "SANDBOX" not in page
    assert '<a href="/admin/">Bitcart</a>' in page


def test_merchant_index_lists_only_merchant_models(a_client):
    response = a_client.get(url("index"))
    models = {(app["app_label"], m["object_name"]) for app in response.context["app_list"] for m in app["models"]}
    assert models == {
        ("stores", "Store"),
        ("stores", "Product"),
        ("stores", "Discount"),
        ("stores", "NotificationProvider"),
        ("stores", "Template"),
        ("wallets", "Wallet"),
        ("invoices", "Invoice"),
        ("invoices", "InvoiceProduct"),
        ("invoices", "PaymentMethod"),
        ("invoices", "Payment"),
        ("invoices", "InvoiceEvent"),
        ("apiauth", "Token"),
        ("webhooks", "WebhookEndpoint"),
        ("webhooks", "WebhookMessage"),
        ("webhooks", "WebhookAttempt"),
    }


@pytest.mark.parametrize("model", MODELS)
def test_every_admin_page_renders_for_a_merchant(a_objects, a_client, model):
    obj = a_objects[model]
    assert a_client.get(url(f"{model}_changelist")).status_code == 200
    assert a_client.get(url(f"{model}_change", obj.pk)).status_code == 200
