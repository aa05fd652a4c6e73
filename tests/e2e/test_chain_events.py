"""What the chain does after a payment (expiry, drops, reorgs, split payments), with every process real.

The simulator changes the chain, the Electrum daemon notices, the listener re-reads the daemon and
the services re-derive the invoice. Each test asserts the invoice, its Payment rows and its status
events (one per change, in order).
"""

from decimal import Decimal

import pytest

from daemons.processes import wait_for
from invoices import services
from invoices.models import ExceptionStatus, Invoice, InvoiceStatus, Payment, PaymentMethod
from invoices.watch import invoice_watch
from tests.e2e.checks import expire_now, payments, state, status_changes
from webhooks.models import WebhookEvent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
S = InvoiceStatus
E = ExceptionStatus
WAIT = 30  # seconds; a chain change reaches the database in well under a second here


@pytest.fixture
def open_invoice(store, daemon_client, listener):
    """A factory: a fresh 0.001 BTC invoice whose address the daemon watches, with the listener connected."""
    wait_for(listener.connected.is_set, timeout=WAIT, what="listener connected")

    def make(*, confirmations: int) -> tuple[Invoice, PaymentMethod]:
        store.transaction_speed = confirmations
        store.save(update_fields=["transaction_speed"])
        invoice = services.invoice_create(store=store, price="0.001", currency="BTC")
        invoice_watch(invoice_id=invoice.pk, client=daemon_client)
        return invoice, invoice.payment_methods.get()

    return make


def test_late_payment_is_recorded_as_paid_late(open_invoice, sim):
    invoice, method = open_invoice(confirmations=2)
    expire_now(invoice)
    assert services.invoices_expire() >= 1
    assert state(invoice.pk) == (S.EXPIRED, E.NONE, Decimal(0))

    paid = sim.pay(method.address, 100_000)

    wait_for(lambda: state(invoice.pk)[0] == S.PAID, timeout=WAIT, what="paid after expiry")
    assert state(invoice.pk) == (S.PAID, E.PAID_LATE, Decimal("0.001"))
    assert payments(method) == [(paid["txid"], paid["vout"], 100_000, 0, Payment.State.UNCONFIRMED)]
    assert status_changes(invoice.pk) == [
        (S.PENDING, S.EXPIRED, E.NONE, E.NONE),
        (S.EXPIRED, S.PAID, E.NONE, E.PAID_LATE),
    ]


def test_dropped_zero_conf_before_expiry_goes_back_to_pending(open_invoice, sim):
    invoice, method = open_invoice(confirmations=1)
    paid = sim.pay(method.address, 100_000)
    wait_for(lambda: state(invoice.pk)[0] == S.PAID, timeout=WAIT, what="paid")

    assert sim.drop(paid["txid"])["dropped"] == [paid["txid"]]

    wait_for(lambda: state(invoice.pk)[0] == S.PENDING, timeout=WAIT, what="pending after the drop")
    assert state(invoice.pk) == (S.PENDING, E.NONE, Decimal(0))
    assert payments(method) == [(paid["txid"], paid["vout"], 100_000, 0, Payment.State.DROPPED)]
    assert status_changes(invoice.pk) == [(S.PENDING, S.PAID, E.NONE, E.NONE), (S.PAID, S.PENDING, E.NONE, E.NONE)]
    # Still open: a new payment after the drop is counted (the dropped one is not).
    again = sim.pay(method.address, 100_000)
    wait_for(lambda: state(invoice.pk)[0] == S.PAID, timeout=WAIT, what="paid again")
    assert state(invoice.pk) == (S.PAID, E.NONE, Decimal("0.001"))
    assert {(txid, st) for txid, _, _, _, st in payments(method)} == {
        (paid["txid"], Payment.State.DROPPED),
        (again["txid"], Payment.State.UNCONFIRMED),
    }


def test_dropped_zero_conf_after_expiry_is_invalid(open_invoice, sim):
    invoice, method = open_invoice(confirmations=1)
    paid = sim.pay(method.address, 100_000)
    wait_for(lambda: state(invoice.pk)[0] == S.PAID, timeout=WAIT, what="paid")
    expire_now(invoice)
    assert services.invoices_expire() == 0  # a paid invoice does not expire

    sim.drop(paid["txid"])

    wait_for(lambda: state(invoice.pk)[0] == S.INVALID, timeout=WAIT, what="invalid after the drop")
    assert state(invoice.pk) == (S.INVALID, E.FAILED_CONFIRM, Decimal(0))
    assert payments(method) == [(paid["txid"], paid["vout"], 100_000, 0, Payment.State.DROPPED)]
    assert status_changes(invoice.pk) == [
        (S.PENDING, S.PAID, E.NONE, E.NONE),
        (S.PAID, S.INVALID, E.NONE, E.FAILED_CONFIRM),
    ]


def test_reorg_takes_a_confirmation_away_and_gives_it_back(open_invoice, sim):
    invoice, method = open_invoice(confirmations=2)
    paid = sim.pay(method.address, 100_000)
    wait_for(lambda: state(invoice.pk)[0] == S.PAID, timeout=WAIT, what="paid")
    sim.mine(blocks=1)
    wait_for(lambda: state(invoice.pk)[0] == S.CONFIRMED, timeout=WAIT, what="confirmed")
    assert payments(method) == [(paid["txid"], paid["vout"], 100_000, 1, Payment.State.CONFIRMED)]

    reorg = sim.reorg(depth=1, keep_txs=False)
    assert paid["txid"] in reorg["mempool"]

    wait_for(lambda: state(invoice.pk)[0] == S.PAID, timeout=WAIT, what="paid again after the reorg")
    assert state(invoice.pk) == (S.PAID, E.NONE, Decimal("0.001"))
    assert payments(method) == [(paid["txid"], paid["vout"], 100_000, 0, Payment.State.UNCONFIRMED)]
    assert PaymentMethod.objects.get(pk=method.pk).confirmations == 0

    sim.mine(blocks=1)
    wait_for(lambda: state(invoice.pk)[0] == S.CONFIRMED, timeout=WAIT, what="confirmed again")
    assert payments(method) == [(paid["txid"], paid["vout"], 100_000, 1, Payment.State.CONFIRMED)]
    sim.mine(blocks=1)
    wait_for(lambda: state(invoice.pk)[0] == S.COMPLETE, timeout=WAIT, what="complete")
    assert state(invoice.pk) == (S.COMPLETE, E.NONE, Decimal("0.001"))
    assert [(old, new) for old, new, _, _ in status_changes(invoice.pk)] == [
        (S.PENDING, S.PAID),
        (S.PAID, S.CONFIRMED),
        (S.CONFIRMED, S.PAID),
        (S.PAID, S.CONFIRMED),
        (S.CONFIRMED, S.COMPLETE),
    ]
    assert Payment.objects.filter(payment_method=method).count() == 1


def test_several_transactions_add_up_to_complete(open_invoice, sim):
    invoice, method = open_invoice(confirmations=1)
    # Two outputs of one transaction to the same address, then a second transaction for the rest.
    first = sim.pay_many([(method.address, 30_000), (method.address, 25_000)])
    wait_for(lambda: state(invoice.pk)[2] == Decimal("0.00055"), timeout=WAIT, what="both outputs of the first tx")
    assert state(invoice.pk) == (S.PENDING, E.PAID_PARTIAL, Decimal("0.00055"))
    second = sim.pay(method.address, 45_000)
    wait_for(lambda: state(invoice.pk)[0] == S.PAID, timeout=WAIT, what="paid in full")
    assert state(invoice.pk) == (S.PAID, E.NONE, Decimal("0.001"))
    sim.mine(blocks=1)
    wait_for(lambda: state(invoice.pk)[0] == S.COMPLETE, timeout=WAIT, what="complete")

    assert state(invoice.pk) == (S.COMPLETE, E.NONE, Decimal("0.001"))
    expected = sorted(
        [(first["txid"], o["vout"], o["amount_sat"], 1, Payment.State.CONFIRMED) for o in first["outputs"]]
        + [(second["txid"], second["vout"], 45_000, 1, Payment.State.CONFIRMED)]
    )
    assert payments(method) == expected
    assert status_changes(invoice.pk) == [
        (S.PENDING, S.PENDING, E.NONE, E.PAID_PARTIAL),
        (S.PENDING, S.PAID, E.PAID_PARTIAL, E.NONE),
        (S.PAID, S.COMPLETE, E.NONE, E.NONE),
    ]


def test_a_second_payment_after_complete_is_recorded_as_paid_over(open_invoice, sim):
    """btcpayserver#1828: the address of a complete invoice stays watched, so money sent to it again
    is recorded, reported (a status event, a webhook) and marks the invoice paid_over."""
    invoice, method = open_invoice(confirmations=1)
    first = sim.pay(method.address, 100_000)
    wait_for(lambda: state(invoice.pk)[0] == S.PAID, timeout=WAIT, what="paid")
    sim.mine(blocks=1)
    wait_for(lambda: state(invoice.pk)[0] == S.COMPLETE, timeout=WAIT, what="complete")

    second = sim.pay(method.address, 20_000)

    wait_for(lambda: state(invoice.pk)[1] == E.PAID_OVER, timeout=WAIT, what="paid_over after completion")
    assert state(invoice.pk) == (S.COMPLETE, E.PAID_OVER, Decimal("0.0012"))
    assert sorted(payments(method), key=lambda p: p[2], reverse=True) == [
        (first["txid"], first["vout"], 100_000, 1, Payment.State.CONFIRMED),
        (second["txid"], second["vout"], 20_000, 0, Payment.State.UNCONFIRMED),
    ]
    assert status_changes(invoice.pk) == [
        (S.PENDING, S.PAID, E.NONE, E.NONE),
        (S.PAID, S.COMPLETE, E.NONE, E.NONE),
        (S.COMPLETE, S.COMPLETE, E.NONE, E.PAID_OVER),
    ]
    last = Invoice.objects.get(pk=invoice.pk).events.filter(kind="status").latest("id")
    assert last.data["paid_after_complete"] == [
        {"txid": second["txid"], "vout": second["vout"], "amount": 20_000, "confirmations": 0}
    ]
    types = list(WebhookEvent.objects.filter(invoice=invoice).order_by("sequence").values_list("type", flat=True))
    assert types == ["invoice.created", "invoice.paid", "invoice.complete", "invoice.paid_over"]

    # Its confirmation is still followed (a daemon event for the address), with no new status event.
    sim.mine(blocks=1)
    wait_for(
        lambda: (second["txid"], second["vout"], 20_000, 1, "confirmed") in payments(method),
        timeout=WAIT,
        what="confirmed",
    )
    assert len(status_changes(invoice.pk)) == 3
