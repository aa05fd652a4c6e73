"""Ethereum payments end to end, every part real: a local EVM node (ganache, loopback only) with two ERC-20
stablecoins, the ETH daemon (daemons/eth), Django's invoices, the ETH chain's listener, the webhook and the
buyer's e-mail. A payment is a signed transaction on the node; nothing is simulated on Django's side."""

from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.core import mail
from eth_account import Account

from daemons.client import DaemonClient
from daemons.eth.testing import CHAIN_ID, compile_token, start_daemon
from daemons.processes import wait_for
from invoices import services
from invoices.checkout import checkout_methods
from invoices.models import ExceptionStatus, Invoice, InvoiceStatus, Payment
from rates.services import store_rate_rules_update
from tests.chains import enable_eth, listening, set_chain
from tests.e2e.checks import closed_port
from tests.evm import Chain, start_chain
from wallets.services import wallet_create
from webhooks.services import webhook_endpoint_create

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
WAIT = 20  # seconds; the daemon polls the node every 0.2 s in tests
S = InvoiceStatus


@pytest.fixture(scope="module")
def evm(tmp_path_factory) -> Iterator[Chain]:
    chain = start_chain(tmp_path_factory.mktemp("evm"), compile_token(), tokens=("USDT", "USDC"))
    try:
        yield chain
    finally:
        chain.node.stop()


@pytest.fixture
def eth_client(tmp_path, evm, settings):
    """The ETH daemon on the node, and Django configured for it (BITCART_CRYPTOS=btc,eth)."""
    daemon = start_daemon(tmp_path, evm.node, tokens=evm.tokens)
    try:
        daemon.wait_for(daemon.synced, what="first scan")
        tokens = {symbol: {"contract": contract, "decimals": 6} for symbol, contract in evm.tokens.items()}
        enable_eth(
            settings,
            daemon_url=daemon.url,
            login=daemon.login,
            password=daemon.password,
            chain_id=CHAIN_ID,
            tokens=tokens,
        )
        with DaemonClient(chain="eth") as client:
            yield client
    finally:
        daemon.stop()


@pytest.fixture
def eth_store(store, merchant, eth_client):
    """The store (it has a BTC wallet) with an ETH wallet too: the merchant's address."""
    address = Account.create().address
    store.wallets.add(wallet_create(owner=merchant, name="ETH", xpub=address.lower(), currency="ETH"))
    store.transaction_speed = 2
    store.save()
    return store


def status_of(invoice_id: str) -> tuple[str, str, Decimal, str]:
    invoice = Invoice.objects.get(pk=invoice_id)
    return invoice.status, invoice.exception_status, invoice.sent_amount, invoice.paid_currency


def test_a_usd_invoice_gets_a_method_per_coin_with_exact_amounts(eth_store, eth_client, evm):
    """A store with a BTC and an ETH wallet: a USD invoice asks BTC, ETH, USDC and USDT, each at its rate and
    in its own decimals; each Ethereum amount carries its request's tag (at most 10^4 tag units more)."""
    store_rate_rules_update(
        store=eth_store,
        fixed_rates={"USD": "50000", "ETH/USD": "2500", "USDT/USD": "1.0002", "USDC/USD": "0.9998"},
    )
    invoice = services.invoice_create(store=eth_store, price="100", currency="USD")

    methods = {m.currency: m for m in invoice.payment_methods.all()}
    assert sorted(methods) == ["BTC", "ETH", "USDC", "USDT"]
    assert [(c, methods[c].decimals, methods[c].rate) for c in ("BTC", "ETH", "USDC", "USDT")] == [
        ("BTC", 8, Decimal(50000)),
        ("ETH", 18, Decimal(2500)),
        ("USDC", 6, Decimal("0.9998")),
        ("USDT", 6, Decimal("1.0002")),
    ]
    assert methods["BTC"].amount == 200_000  # 100 / 50000 BTC in satoshis
    # floor(100 / rate × 10^decimals), then up to the tag: 10^10 wei (10^-8 ETH) and 1 token unit per tag unit.
    for currency, base, unit in (
        ("ETH", 40_000_000_000_000_000, 10**10),
        ("USDC", 100_020_004, 1),
        ("USDT", 99_980_003, 1),
    ):
        extra = methods[currency].amount - base
        assert 0 <= extra < 10**4 * unit and extra % unit == 0, (currency, methods[currency].amount)
    lookups = {methods[c].lookup for c in ("ETH", "USDC", "USDT")}
    assert len(lookups) == 3 and methods["BTC"].lookup == methods["BTC"].address  # request ids; the address


def test_an_invoice_is_made_without_ethereum_while_its_daemon_is_down(eth_store, settings):
    set_chain(settings, "eth", daemon_url=f"http://127.0.0.1:{closed_port()}")

    invoice = services.invoice_create(store=eth_store, price="0.001", currency="BTC")

    assert [m.currency for m in invoice.payment_methods.all()] == ["BTC"]


def test_a_usdc_invoice_is_paid_confirmed_and_completed_with_webhook_and_email(eth_store, eth_client, evm, receiver):
    webhook_endpoint_create(store=eth_store, url=receiver.url, events=["invoice.complete"])
    invoice = services.invoice_create(store=eth_store, price="12.5", currency="USDC", buyer_email="buyer@example.com")
    # Priced in USDC: no rate needed for it. ETH, USDT and BTC would need one, and there is none here, so the
    # invoice is made with the one method that can be priced.
    [method] = invoice.payment_methods.all()
    wallet = method.wallet
    assert (method.currency, method.decimals, method.address, method.derivation_index) == (
        "USDC",
        6,
        wallet.xpub,
        None,
    )
    tag = method.amount - 12_500_000
    assert 0 < tag < 10**4  # the payment tag, in the token's last four digits
    assert method.payment_url == (
        f"ethereum:{evm.tokens['USDC']}@{CHAIN_ID}/transfer?address={wallet.xpub}&uint256={method.amount}"
    )

    with listening(eth_client) as listener:
        wait_for(listener.connected.is_set, timeout=WAIT, what="ETH listener connected")
        tx, _raw = evm.pay_token(wallet.xpub, str(Decimal(method.amount).scaleb(-6)), contract=evm.tokens["USDC"])
        # Mined in its own block (ganache mines each transaction): one confirmation at once.
        wait_for(lambda: status_of(invoice.pk)[0] == S.CONFIRMED, timeout=WAIT, what="confirmed")
        payment = Payment.objects.get(payment_method=method)
        assert (payment.txid, payment.amount, payment.confirmations, payment.state) == (
            tx,
            method.amount,
            1,
            Payment.State.CONFIRMED,
        )
        evm.node.mine(1)
        wait_for(lambda: status_of(invoice.pk)[0] == S.COMPLETE, timeout=WAIT, what="complete")

    assert status_of(invoice.pk) == (S.COMPLETE, ExceptionStatus.NONE, Decimal(method.amount).scaleb(-6), "USDC")
    changes = list(Invoice.objects.get(pk=invoice.pk).events.filter(kind="status").values_list("new_status", flat=True))
    assert changes == [S.CONFIRMED, S.COMPLETE]
    [hook] = receiver.wait(1)
    body = hook.json()
    assert (body["type"], body["data"]["id"], body["data"]["paid_currency"]) == ("invoice.complete", invoice.pk, "USDC")
    [paid_method] = body["data"]["payments"]
    assert (paid_method["amount"], paid_method["divisibility"], paid_method["contract"]) == (
        f"{Decimal(method.amount).scaleb(-6):.6f}",
        6,
        evm.tokens["USDC"],
    )
    assert body["data"]["payments_received"][0]["amount_units"] == str(method.amount)
    wait_for(lambda: len(mail.outbox) == 1, timeout=WAIT, what="buyer e-mail")
    assert mail.outbox[0].to == ["buyer@example.com"]
    assert "Total: 12.500000 USDC" in mail.outbox[0].body  # the price, in USDC's six decimals


def test_an_eth_invoice_is_paid_in_wei_beyond_int64(eth_store, eth_client, evm):
    """10 ETH is 10^19 wei: past the int64 the amounts were stored in before."""
    invoice = services.invoice_create(store=eth_store, price="10", currency="ETH")
    [method] = invoice.payment_methods.all()
    assert method.amount > 2**63 and method.amount - 10 * 10**18 < 10**14  # the tag: at most 0.0001 ETH more
    assert method.payment_url == f"ethereum:{method.address}@{CHAIN_ID}?value={method.amount}"

    with listening(eth_client) as listener:
        wait_for(listener.connected.is_set, timeout=WAIT, what="ETH listener connected")
        tx, _raw = evm.send({"to": method.address, "value": method.amount})
        wait_for(lambda: status_of(invoice.pk)[0] == S.CONFIRMED, timeout=WAIT, what="confirmed")
        evm.node.mine(1)
        wait_for(lambda: status_of(invoice.pk)[0] == S.COMPLETE, timeout=WAIT, what="complete")

    assert Payment.objects.get(payment_method=method).amount == method.amount
    assert status_of(invoice.pk) == (S.COMPLETE, ExceptionStatus.NONE, Decimal(method.amount).scaleb(-18), "ETH")


def test_a_reorg_unconfirms_the_payment_and_the_new_chain_confirms_it_again(eth_store, eth_client, evm):
    eth_store.transaction_speed = 3
    eth_store.save()
    invoice = services.invoice_create(store=eth_store, price="0.25", currency="ETH")
    [method] = invoice.payment_methods.all()
    with listening(eth_client) as listener:
        wait_for(listener.connected.is_set, timeout=WAIT, what="ETH listener connected")
        snapshot = evm.node.snapshot()
        tx, raw = evm.send({"to": method.address, "value": method.amount})
        wait_for(lambda: status_of(invoice.pk)[0] == S.CONFIRMED, timeout=WAIT, what="confirmed")
        first_height = Payment.objects.get(payment_method=method).height

        # A longer chain without the payment: its block is gone, so is the payment.
        assert evm.node.revert(snapshot) is True
        evm.node.mine(3)
        wait_for(lambda: status_of(invoice.pk)[0] == S.PENDING, timeout=WAIT, what="back to pending")
        assert Payment.objects.get(payment_method=method).state == Payment.State.DROPPED

        # The same transaction mined in the new chain: applied again, with its new block.
        assert evm.replay(raw) == tx
        wait_for(lambda: status_of(invoice.pk)[0] == S.CONFIRMED, timeout=WAIT, what="confirmed again")
        payment = Payment.objects.get(payment_method=method)
        assert (payment.state, payment.confirmations) == (Payment.State.CONFIRMED, 1)
        assert payment.height == first_height + 3
        evm.node.mine(2)
        wait_for(lambda: status_of(invoice.pk)[0] == S.COMPLETE, timeout=WAIT, what="complete")

    changes = list(Invoice.objects.get(pk=invoice.pk).events.filter(kind="status").values_list("new_status", flat=True))
    assert changes == [S.CONFIRMED, S.PENDING, S.CONFIRMED, S.COMPLETE]
    assert Payment.objects.filter(payment_method=method).count() == 1  # one payment, never doubled


def test_an_underpaid_token_invoice_is_topped_up_with_the_tagged_rest(eth_store, eth_client, evm):
    """An exchange that keeps a flat 1 USDT fee delivers less, with the tag intact: paid_partial; the checkout
    then asks for the rest, rounded up to carry the tag again, and that completes the invoice."""

    eth_store.transaction_speed = 1
    eth_store.save()
    invoice = services.invoice_create(store=eth_store, price="20", currency="USDT")
    [method] = invoice.payment_methods.all()
    tag = method.amount - 20_000_000
    with listening(eth_client) as listener:
        wait_for(listener.connected.is_set, timeout=WAIT, what="ETH listener connected")
        evm.pay_token(method.address, str(Decimal(method.amount - 1_000_000).scaleb(-6)), contract=evm.tokens["USDT"])
        wait_for(lambda: status_of(invoice.pk)[1] == ExceptionStatus.PAID_PARTIAL, timeout=WAIT, what="partial")
        [view] = checkout_methods(Invoice.objects.select_related("store").get(pk=invoice.pk))
        assert view.remaining_units == 1_000_000 + tag  # the rest, tagged
        assert view.payment_url.endswith(f"&uint256={1_000_000 + tag}")
        evm.pay_token(method.address, view.remaining, contract=evm.tokens["USDT"])
        wait_for(lambda: status_of(invoice.pk)[0] == S.COMPLETE, timeout=WAIT, what="complete")

    # Both payments were attributed to this invoice. The rounding up to the tag is the only excess, and it is
    # what the buyer was asked: not an overpayment.
    assert status_of(invoice.pk) == (
        S.COMPLETE,
        ExceptionStatus.NONE,
        Decimal(method.amount + tag).scaleb(-6),
        "USDT",
    )
    assert Payment.objects.filter(payment_method=method).count() == 2


def test_a_payment_after_expiry_is_a_late_payment(eth_store, eth_client, evm):
    eth_store.transaction_speed = 1
    eth_store.save()
    invoice = services.invoice_create(store=eth_store, price="5", currency="USDC", expiration=1)
    [method] = invoice.payment_methods.all()
    Invoice.objects.filter(pk=invoice.pk).update(expires_at=invoice.created)
    assert services.invoices_expire() == 1
    with listening(eth_client) as listener:
        wait_for(listener.connected.is_set, timeout=WAIT, what="ETH listener connected")
        evm.pay_token(method.address, str(Decimal(method.amount).scaleb(-6)), contract=evm.tokens["USDC"])
        wait_for(lambda: status_of(invoice.pk)[0] == S.COMPLETE, timeout=WAIT, what="complete, late")
    assert status_of(invoice.pk)[:2] == (S.COMPLETE, ExceptionStatus.PAID_LATE)
