from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from bitcart.errors import ValidationFailed
from bitcart.money import to_units, validate_price
from stores.models import Product, Store, Template
from stores.services import product_create, store_create

pytestmark = pytest.mark.django_db


def test_store_create_refuses_bad_settings_and_foreign_wallets(merchant, other_merchant, wallet):
    store = store_create(owner=merchant, name="Shop", default_currency="eur", wallets=[wallet])
    assert (store.default_currency, store.expiration, store.transaction_speed) == ("EUR", 15, 1)
    assert list(store.wallets.all()) == [wallet]
    with pytest.raises(ValidationFailed) as info:
        store_create(owner=merchant, name="Shop", default_currency="XYZ")
    assert info.value.code == "unknown_currency"
    with pytest.raises(ValidationFailed):
        store_create(owner=merchant, name="x" * 201)
    with pytest.raises(ValidationFailed):
        store_create(owner=merchant, name="Shop", transaction_speed=7)
    with pytest.raises(ValidationFailed):
        store_create(owner=merchant, name="Shop", underpaid_percentage=Decimal("-1"))
    with pytest.raises(ValidationFailed) as info:
        store_create(owner=other_merchant, name="Thief", wallets=[wallet])
    assert info.value.code == "wallet_not_found"
    assert Store.objects.count() == 1


@pytest.mark.parametrize(("price", "ok"), [("10", True), ("0.01", True), ("0", False), ("-5", False), ("0.001", False)])
def test_product_price_follows_store_currency(merchant, price, ok):
    store = store_create(owner=merchant, name="Shop", default_currency="USD")
    if ok:
        assert product_create(store=store, name="Thing", price=price).price == Decimal(price)
    else:
        with pytest.raises(ValidationFailed):
            product_create(store=store, name="Thing", price=price)
        assert Product.objects.count() == 0


def test_money_helpers_round_in_the_buyers_favour():
    assert to_units(Decimal("0.000000019"), 8) == 1
    assert to_units(Decimal("1"), 8) == 100_000_000
    assert validate_price("100", "JPY") == Decimal("100")
    with pytest.raises(ValidationFailed):
        validate_price("100.5", "JPY")
    assert validate_price("1.234", "KWD") == Decimal("1.234")


def test_reserve_stock_refuses_a_short_order_and_takes_nothing(store):
    from stores.services import OutOfStock, products_release_stock, products_reserve_stock

    hat = product_create(store=store, name="Hat", price="1", quantity=2)
    cap = product_create(store=store, name="Cap", price="1", quantity=9)
    pin = product_create(store=store, name="Pin", price="1")  # unlimited

    with pytest.raises(OutOfStock) as info:
        products_reserve_stock(counts={cap.pk: 4, hat.pk: 3, pin.pk: 1})

    assert info.value.code == "out_of_stock"
    assert info.value.extra == {"products": [{"id": hat.pk, "name": "Hat", "requested": 3, "in_stock": 2}]}
    assert dict(Product.objects.values_list("name", "quantity")) == {"Hat": 2, "Cap": 9, "Pin": -1}

    assert products_reserve_stock(counts={cap.pk: 4, hat.pk: 2, pin.pk: 1}) == sorted([cap.pk, hat.pk])
    assert dict(Product.objects.values_list("name", "quantity")) == {"Hat": 0, "Cap": 5, "Pin": -1}
    products_release_stock(counts={cap.pk: 4, hat.pk: 2, pin.pk: 1})
    assert dict(Product.objects.values_list("name", "quantity")) == {"Hat": 2, "Cap": 9, "Pin": -1}


@pytest.mark.django_db(transaction=True)  # the migration alters the table: no pending FK checks
def test_migration_renames_owner_wide_templates_the_old_constraint_let_repeat(merchant, store):
    """Before stores 0003 two owner-wide templates (store NULL) could share a name; the migration
    gives the later ones a suffix, then the new constraint holds."""
    executor = MigrationExecutor(connection)
    executor.migrate([("stores", "0002_merchants_group")])
    try:
        old = executor.loader.project_state([("stores", "0002_merchants_group")]).apps
        template = old.get_model("stores", "Template")
        start = timezone.now()
        rows = [(None, "receipt", "first"), (None, "receipt", "second"), (None, "receipt", "third")]
        rows += [(None, "receipt (2)", "taken"), (store.pk, "receipt", "in a store")]
        for n, (store_id, name, text) in enumerate(rows):
            row = template.objects.create(owner_id=merchant.pk, store_id=store_id, name=name, text=text)
            template.objects.filter(pk=row.pk).update(created=start + timedelta(seconds=n))  # a clear order
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    rows = Template.objects.order_by("created", "pk").values_list("store_id", "name", "text")
    assert list(rows) == [
        (None, "receipt", "first"),
        (None, "receipt (2)", "second"),
        (None, "receipt (3)", "third"),
        (None, "receipt (2) (2)", "taken"),
        (store.pk, "receipt", "in a store"),
    ]
    with pytest.raises(IntegrityError), transaction.atomic():
        Template.objects.create(owner=merchant, store=None, name="receipt", text="again")
