"""The sandbox's simulated payment (invoices.sandbox), used by the checkout button and the command,
against a real regtest chain simulator process."""

import pytest
from django.core.management import CommandError, call_command

from bitcart.api import http_status
from bitcart.errors import ApplicationError
from daemons.simulator.primitives import address_to_script, parse_transaction
from daemons.simulator.testing import start_simulator
from invoices.sandbox import invoice_simulate_payment
from invoices.services import invoice_create, invoice_mark_complete, payment_apply

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def simulator(tmp_path_factory):
    process = start_simulator(tmp_path_factory.mktemp("sandbox-sim"))
    yield process
    process.stop()


@pytest.fixture
def sandbox(settings, simulator):
    settings.SANDBOX = True
    settings.SIMULATOR_HOST = simulator.host
    settings.SIMULATOR_CONTROL_PORT = simulator.control_port
    return simulator


@pytest.fixture
def invoice(store):
    return invoice_create(store=store, price="0.001", currency="BTC")


def paid_to(simulator, txid: str, address: str) -> list[int]:
    """The values of the mempool transaction's outputs to `address`."""
    info = simulator.client.tx(txid)
    assert info["status"] == "mempool"
    script = address_to_script(address, "regtest")
    return [out.value for out in parse_transaction(bytes.fromhex(info["hex"])).outputs if out.script == script]


def test_pays_what_is_due_on_the_invoice_address(sandbox, invoice):
    method = invoice.payment_methods.get()
    paid = invoice_simulate_payment(invoice_id=invoice.pk)
    assert (paid.invoice_id, paid.address, paid.amount_sat) == (invoice.pk, method.address, 100_000)
    assert paid_to(sandbox, paid.txid, method.address) == [100_000]


def test_after_a_partial_payment_pays_the_rest(sandbox, invoice):
    method = invoice.payment_methods.get()
    payment_apply(payment_method_id=method.pk, txid="a" * 64, vout=0, amount=40_000)
    paid = invoice_simulate_payment(invoice_id=invoice.pk)
    assert paid_to(sandbox, paid.txid, method.address) == [60_000]


def test_an_explicit_amount_is_sent_whatever_the_status(sandbox, invoice):
    invoice_mark_complete(invoice_id=invoice.pk, actor="test")
    paid = invoice_simulate_payment(invoice_id=invoice.pk, amount_sat=1_234)
    assert paid_to(sandbox, paid.txid, invoice.payment_methods.get().address) == [1_234]


@pytest.mark.parametrize(
    ("kwargs", "code", "status"),
    [
        ({"amount_sat": 0}, "invalid_amount", 422),
        ({"amount_sat": -5}, "invalid_amount", 422),
        ({"method_id": "NOPE"}, "payment_method_not_found", 404),
    ],
)
def test_refusals_send_nothing(sandbox, invoice, kwargs, code, status):
    before = sandbox.client.info()["mempool"]
    with pytest.raises(ApplicationError) as refused:
        invoice_simulate_payment(invoice_id=invoice.pk, **kwargs)
    assert (refused.value.code, http_status(refused.value)) == (code, status)
    assert sandbox.client.info()["mempool"] == before


def test_nothing_due_once_complete(sandbox, invoice):
    invoice_mark_complete(invoice_id=invoice.pk, actor="test")
    before = sandbox.client.info()["mempool"]
    with pytest.raises(ApplicationError) as refused:
        invoice_simulate_payment(invoice_id=invoice.pk)
    assert (refused.value.code, http_status(refused.value)) == ("nothing_due", 409)
    assert sandbox.client.info()["mempool"] == before


def test_unknown_invoice(sandbox, db):
    with pytest.raises(ApplicationError) as refused:
        invoice_simulate_payment(invoice_id="NOPE")
    assert refused.value.code == "invoice_not_found"


def test_only_in_the_sandbox(settings, invoice):
    settings.SANDBOX = False
    with pytest.raises(ApplicationError) as refused:
        invoice_simulate_payment(invoice_id=invoice.pk)
    assert (refused.value.code, http_status(refused.value)) == ("not_sandbox", 404)


def test_checkout_button_and_command_pay_the_same(sandbox, client, invoice, capsys):
    """The button and the command are one implementation: after a partial payment both pay the
    rest (the command used to pay the whole amount again)."""
    method = invoice.payment_methods.get()
    payment_apply(payment_method_id=method.pk, txid="b" * 64, vout=0, amount=25_000)

    response = client.post(f"/i/{invoice.pk}/simulate", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response.json()["outcome"] == "sent"
    call_command("simulate_payment", invoice.pk)
    out = capsys.readouterr().out
    assert out.startswith(f"paid 0.00075000 BTC to {method.address}: txid ")
    by_button = set(sandbox.client.info()["mempool"])
    txid = out.strip().rsplit(" ", 1)[1]
    assert txid in by_button
    by_button.discard(txid)
    amounts = [paid_to(sandbox, t, method.address) for t in by_button]
    assert [75_000] in amounts


def test_command_amount_and_refusals(sandbox, invoice, capsys):
    call_command("simulate_payment", invoice.pk, "0.00002")
    assert capsys.readouterr().out.startswith("paid 0.00002000 BTC to ")
    invoice_mark_complete(invoice_id=invoice.pk, actor="test")
    with pytest.raises(CommandError, match=r"^Nothing is left to pay on this invoice \(nothing_due\)$"):
        call_command("simulate_payment", invoice.pk)
    with pytest.raises(CommandError, match=r"\(invalid_amount\)$"):
        call_command("simulate_payment", invoice.pk, "0")


def test_simulator_down_is_a_retryable_503(settings, invoice, client):
    settings.SANDBOX = True
    settings.SIMULATOR_HOST = "127.0.0.1"
    settings.SIMULATOR_CONTROL_PORT = 9  # discard port: nothing listens
    with pytest.raises(ApplicationError) as refused:
        invoice_simulate_payment(invoice_id=invoice.pk)
    assert (refused.value.code, http_status(refused.value)) == ("simulator_unavailable", 503)
