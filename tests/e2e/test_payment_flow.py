"""A payment made on the (simulated) chain moves a real invoice, with every process real."""

from decimal import Decimal

import pytest

from daemons.processes import wait_for
from invoices import services
from invoices.models import ExceptionStatus, Invoice, InvoiceStatus, Payment, PaymentMethod
from wallets.keys import derive_receive_address

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
WAIT = 20  # seconds; a chain change reaches the database in well under a second
S = InvoiceStatus


def status_of(invoice_id: str) -> tuple[str, str, Decimal]:
    invoice = Invoice.objects.get(pk=invoice_id)
    return invoice.status, invoice.exception_status, invoice.sent_amount


def new_invoice(store, daemon_client, price="0.001") -> tuple[Invoice, PaymentMethod]:
    """Created like any invoice: the running listener registers its address with the daemon."""
    invoice = services.invoice_create(store=store, price=price, currency="BTC")
    return invoice, invoice.payment_methods.get()


def test_paid_confirmed_complete(store, daemon_client, listener, sim):
    store.transaction_speed = 2
    store.save()
    wait_for(listener.connected.is_set, timeout=WAIT, what="listener connected")
    invoice, method = new_invoice(store, daemon_client)
    sim.pay(method.address, method.amount)
    wait_for(lambda: status_of(invoice.pk)[0] == S.PAID, timeout=WAIT, what="paid")
    payment = Payment.objects.get(payment_method=method)
    assert (payment.amount, payment.confirmations, payment.state) == (100_000, 0, "unconfirmed")
    sim.mine(blocks=1)
    wait_for(lambda: status_of(invoice.pk)[0] == S.CONFIRMED, timeout=WAIT, what="confirmed")
    sim.mine(blocks=1)
    wait_for(lambda: status_of(invoice.pk)[0] == S.COMPLETE, timeout=WAIT, what="complete")
    assert status_of(invoice.pk) == (S.COMPLETE, ExceptionStatus.NONE, Decimal("0.001"))
    changes = list(Invoice.objects.get(pk=invoice.pk).events.filter(kind="status").values_list("new_status", flat=True))
    assert changes == [S.PAID, S.CONFIRMED, S.COMPLETE]


def test_partial_then_full_and_overpayment(store, daemon_client, listener, sim):
    store.transaction_speed = 0
    store.save()
    wait_for(listener.connected.is_set, timeout=WAIT, what="listener connected")
    partial, partial_method = new_invoice(store, daemon_client)
    over, over_method = new_invoice(store, daemon_client)
    sim.pay(partial_method.address, 40_000)
    wait_for(lambda: status_of(partial.pk)[1] == ExceptionStatus.PAID_PARTIAL, timeout=WAIT, what="paid_partial")
    assert status_of(partial.pk) == (S.PENDING, ExceptionStatus.PAID_PARTIAL, Decimal("0.0004"))
    sim.pay(partial_method.address, 60_000)
    wait_for(lambda: status_of(partial.pk)[0] == S.COMPLETE, timeout=WAIT, what="complete after the rest")
    assert status_of(partial.pk) == (S.COMPLETE, ExceptionStatus.NONE, Decimal("0.001"))
    sim.pay(over_method.address, 150_000)
    wait_for(lambda: status_of(over.pk)[0] == S.COMPLETE, timeout=WAIT, what="overpaid complete")
    assert status_of(over.pk) == (S.COMPLETE, ExceptionStatus.PAID_OVER, Decimal("0.0015"))


def test_payments_while_listener_is_down_are_found_on_connect(store, daemon_client, sim):
    from daemons.listener import Listener

    store.transaction_speed = 0
    store.save()
    invoice, method = new_invoice(store, daemon_client)
    # No listener was running, so nothing registered the address: the payment is only on the chain.
    sim.pay(method.address, method.amount)
    # One (re)connect resync registers it and finds the payment.
    Listener(daemon_client).resync()
    assert status_of(invoice.pk)[0] == S.COMPLETE


def test_django_addresses_are_electrums(store, wallet, daemon_client, chain):
    """The SDK path derives with Electrum's own BIP32 code; Django derives the same addresses."""
    daemon = chain[1]
    request = daemon.rpc("add_request", 0.001, "check", 900, xpub=wallet.xpub)
    index_zero_or_later = {derive_receive_address(wallet.xpub, "regtest", i) for i in range(0, 5)}
    assert request["address"] in index_zero_or_later


def test_bulk_watch_registration_of_open_invoices(store, daemon_client):
    for _ in range(200):
        services.invoice_create(store=store, price="0.0001", currency="BTC")
    from invoices.watch import watch_all

    assert watch_all(client=daemon_client) == 200
    watched = daemon_client.call("get_watched", xpub=store.wallets.get().xpub)
    assert watched["count"] >= 200
