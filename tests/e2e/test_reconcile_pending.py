"""Reconciliation and the daemon's `pending` answers (addresses it could not answer within the call's
time budget, e.g. while it re-loads 100k watched addresses after a restart): nothing is concluded
about them, and they are asked again within the same pass."""

import pytest

from invoices import services
from invoices.models import Invoice, InvoiceStatus, Payment, PaymentMethod
from invoices.reconcile import PENDING_ROUNDS, reconcile
from tests.e2e.clients import BudgetClient

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _two_invoices(store, sim) -> tuple[Invoice, Invoice, PaymentMethod]:
    # Not registered with the daemon (no listener runs): it has to ask the server about both addresses.
    paid, unpaid = (services.invoice_create(store=store, price="0.001", currency="BTC") for _ in range(2))
    method = paid.payment_methods.get()
    sim.pay(method.address, method.amount)
    return paid, unpaid, method


def test_pending_addresses_are_asked_again_in_the_same_pass(store, daemon_client, sim):
    paid, unpaid, method = _two_invoices(store, sim)
    client = BudgetClient(daemon_client, starved=1)
    try:
        changed = reconcile(client=client, methods=PaymentMethod.objects.filter(invoice__in=[paid, unpaid]))
    finally:
        client.close()
    assert [sorted(a.pending) for a in client.answers] == [
        sorted([method.address, unpaid.payment_methods.get().address]),
        [],
    ]
    assert changed == 1
    assert Invoice.objects.get(pk=paid.pk).status == InvoiceStatus.PAID
    assert Invoice.objects.get(pk=unpaid.pk).status == InvoiceStatus.PENDING
    assert list(Payment.objects.filter(payment_method=method).values_list("amount", flat=True)) == [method.amount]


def test_nothing_is_concluded_about_addresses_that_stay_pending(store, daemon_client, sim):
    paid, unpaid, method = _two_invoices(store, sim)
    methods = PaymentMethod.objects.filter(invoice__in=[paid, unpaid])
    assert reconcile(client=daemon_client, methods=methods) == 1
    before = list(Payment.objects.filter(payment_method=method).values_list("txid", "vout", "amount", "state"))
    assert [row[2:] for row in before] == [(method.amount, Payment.State.UNCONFIRMED)]

    # The daemon answers `pending` for both every time: the known payment must not look dropped.
    client = BudgetClient(daemon_client, starved=PENDING_ROUNDS)
    try:
        changed = reconcile(client=client, methods=methods)
    finally:
        client.close()
    assert len(client.answers) == PENDING_ROUNDS  # bounded: left for the next pass
    assert all(len(a.pending) == 2 and a.outputs == {} for a in client.answers)
    assert changed == 0
    assert Invoice.objects.get(pk=paid.pk).status == InvoiceStatus.PAID
    assert list(Payment.objects.filter(payment_method=method).values_list("txid", "vout", "amount", "state")) == before
