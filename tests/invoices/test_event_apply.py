"""Applying chain information to an invoice: one short transaction, a webhook snapshot equal to the
rows it describes, and after-commit effects that can be handed to the listener's event loop."""

import asyncio
import threading
from decimal import Decimal

import pytest
from channels.layers import get_channel_layer
from django.db import transaction

from invoices import effects, services
from invoices.consumers import invoice_group
from invoices.models import ExceptionStatus, Invoice, InvoiceEvent, InvoiceStatus, Payment
from invoices.payloads import invoice_snapshot
from invoices.services import Output
from stores.models import Product
from stores.services import product_create
from wallets.keys import generate_xpub
from wallets.models import Wallet
from webhooks.models import WebhookEvent

S = InvoiceStatus
E = ExceptionStatus
TXID = "ab" * 32
OTHER_TXID = "cd" * 32


def fresh_snapshot(invoice_id: str) -> dict:
    """The owner's view read back from the database, without anything cached."""
    data = invoice_snapshot(Invoice.objects.get(pk=invoice_id))
    data.pop("time_left")  # depends on the clock while pending
    return data


def last_webhook_data(invoice_id: str) -> dict:
    data = WebhookEvent.objects.filter(invoice_id=invoice_id).latest("sequence").payload["data"]
    data.pop("time_left")
    return data


@pytest.mark.django_db
def test_a_first_payment_is_one_short_transaction(store, django_assert_num_queries):
    invoice = services.invoice_create(store=store, price="0.001", currency="BTC")
    method = invoice.payment_methods.get()
    # savepoint, lock (with the store, and whether it has product lines: no), methods, payments,
    # insert payment, update method, update invoice, insert both events, insert webhook event,
    # endpoints, release.
    with django_assert_num_queries(11):
        services.payment_apply(payment_method_id=method.pk, txid=TXID, vout=0, amount=100_000)
    assert Invoice.objects.get(pk=invoice.pk).status == S.PAID
    kinds = list(InvoiceEvent.objects.filter(invoice=invoice).order_by("id").values_list("kind", "new_status"))
    assert kinds == [("created", S.PENDING), ("payment", S.PENDING), ("status", S.PAID)]
    # Applying the same view again reads and changes nothing more.
    with django_assert_num_queries(5):  # savepoint, lock, methods, payments, release
        services.payment_apply(payment_method_id=method.pk, txid=TXID, vout=0, amount=100_000)
    assert InvoiceEvent.objects.filter(invoice=invoice).count() == 3


@pytest.mark.django_db
def test_completion_reads_the_product_lines_once(store, django_assert_num_queries):
    hat = product_create(store=store, name="Hat", price="0.001", quantity=5)
    invoice = services.invoice_create(store=store, products={hat.pk: 1}, currency="BTC")
    method = invoice.payment_methods.get()
    pay = {"payment_method_id": method.pk, "txid": TXID, "vout": 0, "amount": 100_000}
    services.payment_apply(**pay)
    # savepoint, lock, methods, payments, update payment, update method, update invoice, insert
    # both events, product lines (with their products), insert webhook event, endpoints,
    # notification providers (completion notifies them), release. (No stock query: it was taken
    # when the invoice was created.)
    with django_assert_num_queries(13):
        services.payment_apply(**pay, height=7, confirmations=1)
    assert Invoice.objects.get(pk=invoice.pk).status == S.COMPLETE
    assert Product.objects.get(pk=hat.pk).quantity == 4
    assert last_webhook_data(invoice.pk)["product_names"] == {hat.pk: "Hat"}


@pytest.mark.django_db
def test_webhook_snapshots_equal_the_rows_they_describe(store, merchant):
    second = Wallet.objects.create(
        name="Second", owner=merchant, currency="BTC", network="regtest", xpub=generate_xpub("regtest")
    )
    store.wallets.add(second)
    hat = product_create(store=store, name="Hat", price="0.0005", quantity=10)
    invoice = services.invoice_create(store=store, products={hat.pk: 2}, currency="BTC")
    first, other = invoice.payment_methods.order_by("created", "pk")
    steps = [
        (first, [Output(TXID, 0, 40_000, None, 0)], (S.PENDING, E.PAID_PARTIAL)),
        (first, [Output(TXID, 0, 40_000, None, 0), Output(OTHER_TXID, 1, 60_000, None, 0)], (S.PAID, E.NONE)),
        (first, [Output(TXID, 0, 40_000, 7, 1), Output(OTHER_TXID, 1, 60_000, 7, 1)], (S.COMPLETE, E.NONE)),
        # Paid after completion (on the other wallet): the invoice stays complete, becomes paid_over.
        (other, [Output("ef" * 32, 0, 5_000, None, 0)], (S.COMPLETE, E.PAID_OVER)),
    ]
    recorded = []
    for method, outputs, expected in steps:
        before = WebhookEvent.objects.count()
        services.payment_method_sync(payment_method_id=method.pk, outputs=outputs, complete=True)
        invoice.refresh_from_db()
        assert (invoice.status, invoice.exception_status) == expected
        recorded.append(WebhookEvent.objects.count() - before)
        if recorded[-1]:
            assert last_webhook_data(invoice.pk) == fresh_snapshot(invoice.pk)
    assert recorded == [1, 1, 1, 1]
    # The last status change (complete) was recorded with exactly what the database then held.
    complete = WebhookEvent.objects.get(invoice=invoice, type="invoice.complete").payload["data"]
    assert complete["status"] == S.COMPLETE
    assert complete["sent_amount"] == "0.00100000"
    assert complete["tx_hashes"] == [TXID, OTHER_TXID]
    assert [(p["confirmations"], p["is_used"]) for p in complete["payments"]] == [(1, True), (0, False)]
    assert complete["product_quantities"] == {hat.pk: 2}
    hat.refresh_from_db()
    assert hat.quantity == 8  # stock moved once, with the status


@pytest.mark.django_db
def test_each_status_change_is_recorded_with_the_state_it_produced(store):
    invoice = services.invoice_create(store=store, price="0.001", currency="BTC")
    method = invoice.payment_methods.get()
    services.payment_method_sync(payment_method_id=method.pk, outputs=[Output(TXID, 0, 100_000, None, 0)])
    assert last_webhook_data(invoice.pk) == fresh_snapshot(invoice.pk)
    # The payment leaves the mempool: back to pending, and the snapshot no longer counts it.
    services.payment_method_sync(payment_method_id=method.pk, outputs=[], complete=True)
    assert Payment.objects.get().state == Payment.State.DROPPED
    assert last_webhook_data(invoice.pk) == fresh_snapshot(invoice.pk)
    assert fresh_snapshot(invoice.pk)["status"] == S.PENDING
    assert fresh_snapshot(invoice.pk)["tx_hashes"] == []


@pytest.mark.django_db
def test_an_output_listed_twice_is_one_payment(store):
    invoice = services.invoice_create(store=store, price="0.001", currency="BTC")
    method = invoice.payment_methods.get()
    output = Output(TXID, 0, 100_000, None, 0)
    services.payment_method_sync(payment_method_id=method.pk, outputs=[output, output])
    assert Payment.objects.count() == 1
    assert invoice.events.filter(kind="payment").count() == 1
    assert Invoice.objects.get(pk=invoice.pk).sent_amount == Decimal("0.001")


# --- after-commit effects handed to an event loop ----------------------------------------------


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)
    loop.close()


def on(loop, coroutine, timeout: float = 10):
    return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout)


@pytest.mark.django_db(transaction=True)
def test_background_effects_run_after_commit_on_the_loop_in_order(store, loop):
    invoice = services.invoice_create(store=store, price="0.001", currency="BTC")
    method = invoice.payment_methods.get()
    layer = get_channel_layer()

    async def subscribe() -> str:
        channel = await layer.new_channel()
        await layer.group_add(invoice_group(invoice.pk), channel)
        return channel

    channel = on(loop, subscribe())
    runner = effects.BackgroundEffects(loop)
    with effects.effects_in_background(runner):
        services.payment_apply(payment_method_id=method.pk, txid=TXID, vout=0, amount=100_000)
        services.payment_apply(
            payment_method_id=method.pk, txid=TXID, vout=0, amount=100_000, height=5, confirmations=1
        )
    # Committed and queued, but nothing ran in the committing thread.
    on(loop, asyncio.sleep(0))
    assert runner.queue.qsize() == 2
    status_events = InvoiceEvent.objects.filter(invoice=invoice, kind="status").order_by("id")
    assert [e.dispatched_at for e in status_events] == [None, None]
    task = asyncio.run_coroutine_threadsafe(runner.run(), loop)
    try:
        on(loop, runner.queue.join())
        pushed = [on(loop, layer.receive(channel)) for _ in range(2)]
    finally:
        task.cancel()
    assert [m["data"]["status"] for m in pushed] == [S.PAID, S.COMPLETE]  # commit order
    assert all(e.dispatched_at is not None for e in status_events.all())


@pytest.mark.django_db(transaction=True)
def test_background_effects_of_a_rolled_back_change_never_run(store, loop):
    invoice = services.invoice_create(store=store, price="0.001", currency="BTC")
    method = invoice.payment_methods.get()
    runner = effects.BackgroundEffects(loop)
    with effects.effects_in_background(runner), pytest.raises(RuntimeError), transaction.atomic():
        services.payment_apply(payment_method_id=method.pk, txid=TXID, vout=0, amount=100_000)
        raise RuntimeError("crash before commit")
    on(loop, asyncio.sleep(0))
    assert runner.queue.qsize() == 0
    assert Invoice.objects.get(pk=invoice.pk).status == S.PENDING


@pytest.mark.django_db(transaction=True)
def test_background_effects_run_in_place_once_the_loop_has_closed(store):
    invoice = services.invoice_create(store=store, price="0.001", currency="BTC")
    method = invoice.payment_methods.get()
    closed = asyncio.new_event_loop()
    closed.close()
    with effects.effects_in_background(effects.BackgroundEffects(closed)):
        services.payment_apply(payment_method_id=method.pk, txid=TXID, vout=0, amount=100_000)
    event = InvoiceEvent.objects.get(invoice=invoice, kind="status")
    assert event.dispatched_at is not None  # the (eager) task ran here, at commit
