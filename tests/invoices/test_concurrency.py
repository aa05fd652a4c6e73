"""Races that row locks and unique constraints must win. Real threads, real transactions."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from invoices import services
from invoices.models import ExceptionStatus, Invoice, InvoiceStatus, Payment

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        "connection.vendor != 'postgresql'", reason="needs PostgreSQL row locks: set DATABASE_URL (make test does)"
    ),
]
TXID = "ef" * 32


def run_concurrently(*functions, timeout: float = 30) -> list[BaseException]:
    barrier = threading.Barrier(len(functions))
    errors: list[BaseException] = []

    def wrap(function):
        try:
            barrier.wait(timeout=timeout)
            function()
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=wrap, args=(f,)) for f in functions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
        assert not thread.is_alive(), "a thread hung"
    return errors


def test_same_payment_applied_concurrently_records_one_row(store):
    invoice = services.invoice_create(store=store, price="0.001", currency="BTC")
    method_id = invoice.payment_methods.get().pk

    def apply():
        services.payment_apply(payment_method_id=method_id, txid=TXID, vout=0, amount=100_000)

    assert run_concurrently(*[apply] * 6) == []
    assert Payment.objects.count() == 1
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.events.filter(kind="payment").count() == 1
    assert invoice.events.filter(kind="status").count() == 1


@pytest.mark.parametrize("attempt", range(5))
def test_expiry_racing_a_payment_never_loses_it(store, attempt):
    invoice = services.invoice_create(store=store, price="0.001", currency="BTC")
    method_id = invoice.payment_methods.get().pk
    Invoice.objects.filter(pk=invoice.pk).update(expires_at=timezone.now() - timedelta(milliseconds=1))

    errors = run_concurrently(
        lambda: services.invoices_expire(),
        lambda: services.payment_apply(payment_method_id=method_id, txid=TXID, vout=0, amount=100_000),
    )
    assert errors == []
    invoice.refresh_from_db()
    assert Payment.objects.filter(payment_method_id=method_id).count() == 1
    # Either the payment got in first (paid) or the sweep did (paid_late): never expired-and-unpaid.
    assert invoice.status == InvoiceStatus.PAID
    kinds = list(invoice.events.filter(kind="status").values_list("new_status", flat=True))
    # Which one won is the race's; each winner leaves exactly one history.
    history = {ExceptionStatus.NONE: ["paid"], ExceptionStatus.PAID_LATE: ["expired", "paid"]}
    assert kinds == history.get(invoice.exception_status), invoice.exception_status


def test_concurrent_invoices_never_share_an_address(store):
    def create():
        for _ in range(10):
            services.invoice_create(store=store, price="0.001", currency="BTC")

    assert run_concurrently(*[create] * 4) == []
    from invoices.models import PaymentMethod

    addresses = list(PaymentMethod.objects.values_list("address", flat=True))
    indexes = sorted(PaymentMethod.objects.values_list("derivation_index", flat=True))
    assert len(addresses) == 40 == len(set(addresses))
    assert indexes == list(range(40))


def test_concurrent_orders_never_sell_more_than_the_stock(store):
    from bitcart.errors import ValidationFailed
    from stores.models import Product
    from stores.services import product_create

    hat = product_create(store=store, name="Hat", price="0.001", quantity=3)
    cap = product_create(store=store, name="Cap", price="0.001", quantity=10)

    def order():
        # Both products in every order: two orders lock them in the same order, so no deadlock.
        services.invoice_create(store=store, products={hat.pk: 1, cap.pk: 1})

    errors = run_concurrently(*[order] * 8)
    assert Invoice.objects.count() == 3
    assert len(errors) == 5 and all(isinstance(e, ValidationFailed) for e in errors), errors
    assert [(e.code, e.extra["products"]) for e in errors if isinstance(e, ValidationFailed)] == [
        ("out_of_stock", [{"id": hat.pk, "name": "Hat", "requested": 1, "in_stock": 0}])
    ] * 5
    assert dict(Product.objects.values_list("name", "quantity")) == {"Hat": 0, "Cap": 7}


def test_stock_is_given_back_once_when_expiry_and_invalidation_race(store):
    from stores.models import Product
    from stores.services import product_create

    hat = product_create(store=store, name="Hat", price="0.001", quantity=5)
    invoice = services.invoice_create(store=store, products={hat.pk: 2})
    Invoice.objects.filter(pk=invoice.pk).update(expires_at=timezone.now() - timedelta(milliseconds=1))

    errors = run_concurrently(
        lambda: services.invoices_expire(), lambda: services.invoice_mark_invalid(invoice_id=invoice.pk)
    )

    assert errors == []
    assert Product.objects.get(pk=hat.pk).quantity == 5
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.INVALID


_ = connection
