"""The expiry sweep asks the daemon before expiring: a payment nothing saw (listener or daemon down
when it came) is applied in time, and without an answer from the daemon nothing expires."""

from decimal import Decimal

import pytest

from invoices import services, tasks
from invoices.models import ExceptionStatus, InvoiceStatus, Payment
from invoices.reconcile import PENDING_ROUNDS
from invoices.tasks import invoices_expire_task
from tests.chains import set_chain
from tests.e2e.checks import closed_port, expire_now, state, status_changes
from tests.e2e.clients import BudgetClient

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
S = InvoiceStatus
E = ExceptionStatus


def test_a_payment_made_while_no_listener_ran_counts_as_in_time(store, daemon_client, sim):
    # No listener at all: the address was never even registered with the daemon.
    paid_invoice = services.invoice_create(store=store, price="0.001", currency="BTC")
    unpaid_invoice = services.invoice_create(store=store, price="0.001", currency="BTC")
    method = paid_invoice.payment_methods.get()
    paid = sim.pay(method.address, 100_000)
    expire_now(paid_invoice)
    expire_now(unpaid_invoice)

    assert invoices_expire_task() == 1

    assert state(paid_invoice.pk) == (S.PAID, E.NONE, Decimal("0.001"))
    assert list(Payment.objects.filter(payment_method=method).values_list("txid", "vout", "amount")) == [
        (paid["txid"], paid["vout"], 100_000)
    ]
    assert status_changes(paid_invoice.pk) == [(S.PENDING, S.PAID, E.NONE, E.NONE)]
    assert state(unpaid_invoice.pk) == (S.EXPIRED, E.NONE, Decimal(0))
    assert invoices_expire_task() == 0  # nothing due any more


def test_nothing_expires_while_the_daemon_cannot_answer(store, daemon_client, settings):
    invoice = services.invoice_create(store=store, price="0.001", currency="BTC")
    expire_now(invoice)
    real_daemon = settings.COINS["btc"]["daemon_url"]
    set_chain(settings, "btc", daemon_url=f"http://127.0.0.1:{closed_port()}")

    assert invoices_expire_task() == 0
    assert state(invoice.pk) == (S.PENDING, E.NONE, Decimal(0))
    assert status_changes(invoice.pk) == []

    set_chain(settings, "btc", daemon_url=real_daemon)  # the daemon is back: the unpaid invoice expires
    assert invoices_expire_task() == 1
    assert state(invoice.pk) == (S.EXPIRED, E.NONE, Decimal(0))


def test_invoices_the_daemon_cannot_answer_for_yet_do_not_expire(store, daemon_client, sim, monkeypatch):
    # The daemon is up but still loading (after a restart): it answers `pending` for these addresses.
    paid_invoice = services.invoice_create(store=store, price="0.001", currency="BTC")
    sim.pay(paid_invoice.payment_methods.get().address, 100_000)
    expire_now(paid_invoice)
    monkeypatch.setattr(tasks, "DaemonClient", lambda chain: BudgetClient(daemon_client, starved=PENDING_ROUNDS))

    assert invoices_expire_task() == 0
    assert state(paid_invoice.pk) == (S.PENDING, E.NONE, Decimal(0))

    monkeypatch.undo()  # it has loaded them: the payment counts as in time
    assert invoices_expire_task() == 0
    assert state(paid_invoice.pk) == (S.PAID, E.NONE, Decimal("0.001"))
