from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from bitcart.errors import TransitionNotAllowed, ValidationFailed
from invoices import services
from invoices.models import ExceptionStatus, Invoice, InvoiceEvent, InvoiceStatus, Payment, PaymentMethod
from invoices.services import TRANSITIONS, Output
from stores.models import Product
from stores.services import product_create
from tests.chains import enable_eth
from wallets.keys import derive_receive_address
from wallets.services import wallet_create

pytestmark = pytest.mark.django_db
S = InvoiceStatus
E = ExceptionStatus
TXID = "ab" * 32


def make_invoice(store, price="0.001", **kwargs) -> Invoice:
    return services.invoice_create(store=store, price=price, currency="BTC", **kwargs)


def method_of(invoice) -> PaymentMethod:
    return invoice.payment_methods.get()


def test_create_prices_in_btc_and_derives_a_fresh_address(store, wallet):
    first = make_invoice(store, "0.00123456")
    second = make_invoice(store, "1")
    m1, m2 = method_of(first), method_of(second)
    assert (m1.amount, m2.amount) == (123456, 100_000_000)
    assert (m1.derivation_index, m2.derivation_index) == (0, 1)
    assert m1.address == derive_receive_address(wallet.xpub, "regtest", 0)
    assert m1.address.startswith("bcrt1q")
    assert m1.payment_url == f"bitcoin:{m1.address}?amount=0.00123456&label=Shop%20{first.pk}"
    assert first.status == S.PENDING and first.exception_status == E.NONE
    assert first.required_confirmations == 1
    assert first.expires_at - first.created < timedelta(minutes=15, seconds=1)
    assert list(first.events.values_list("kind", "cause")) == [("created", "creation")]
    wallet.refresh_from_db()
    assert wallet.next_index == 2


@pytest.mark.parametrize(
    ("price", "currency", "code"),
    [
        ("-1", "BTC", "invalid_amount"),
        ("0", "BTC", "invalid_amount"),
        ("0.000000001", "BTC", "too_many_decimals"),
        ("1.001", "USD", "too_many_decimals"),
        ("1", "XYZ", "unknown_currency"),
        ("abc", "BTC", "invalid_amount"),
        ("NaN", "BTC", "invalid_amount"),
        (1.5, "BTC", "invalid_amount"),
        ("1e20", "BTC", "invalid_amount"),
    ],
)
def test_bad_prices_are_refused_and_create_nothing(store, wallet, price, currency, code):
    with pytest.raises(ValidationFailed) as info:
        services.invoice_create(store=store, price=price, currency=currency)
    assert info.value.code == code
    assert Invoice.objects.count() == 0
    wallet.refresh_from_db()
    assert wallet.next_index == 0


def test_oversized_text_is_refused(store):
    with pytest.raises(ValidationFailed) as info:
        make_invoice(store, notes="x" * 5001)
    assert info.value.code == "too_long"
    with pytest.raises(ValidationFailed):
        make_invoice(store, buyer_email="not-an-email")
    assert Invoice.objects.count() == 0


def test_store_without_wallet_refuses(store):
    store.wallets.clear()
    with pytest.raises(ValidationFailed) as info:
        make_invoice(store)
    assert info.value.code == "no_wallets"
    assert Invoice.objects.count() == 0


def test_products_and_promocode(store):
    from stores.models import Discount

    hat = product_create(store=store, name="Hat", price="0.001", quantity=5)
    pin = product_create(store=store, name="Pin", price="0.0002")
    Discount.objects.create(
        store=store, name="Ten", percent=10, promocode="TEN", end_date=timezone.now() + timedelta(days=1)
    )
    invoice = services.invoice_create(store=store, products={hat.pk: 2, pin.pk: 1}, promocode="TEN")
    assert invoice.price == Decimal("0.00198")  # (0.002 + 0.0002) * 0.9
    assert method_of(invoice).amount == 198000
    assert invoice.invoice_products.count() == 2
    with pytest.raises(ValidationFailed) as info:
        services.invoice_create(store=store, products={hat.pk: 6})
    assert info.value.code == "out_of_stock"
    with pytest.raises(ValidationFailed) as info:
        services.invoice_create(store=store, products={hat.pk: 1}, promocode="NOPE")
    assert info.value.code == "invalid_promocode"
    assert Invoice.objects.count() == 1


def test_stock_decrements_once_on_complete(store):
    hat = product_create(store=store, name="Hat", price="0.001", quantity=5)
    invoice = services.invoice_create(store=store, products={hat.pk: 2})
    services.invoice_mark_complete(invoice_id=invoice.pk)
    hat.refresh_from_db()
    assert hat.quantity == 3
    services.invoice_mark_complete(invoice_id=invoice.pk)  # already complete: a no-op
    assert Product.objects.get(pk=hat.pk).quantity == 3
    assert invoice.events.filter(new_status=S.COMPLETE).count() == 1


ALL = [s.value for s in S]


@pytest.mark.parametrize("source", ALL)
@pytest.mark.parametrize("target", ALL)
def test_transition_table(store, source, target):
    invoice = make_invoice(store)
    Invoice.objects.filter(pk=invoice.pk).update(status=source)
    events_before = InvoiceEvent.objects.filter(invoice=invoice).count()
    if source == target:
        services.invoice_set_status(invoice_id=invoice.pk, status=target, cause="test")
        assert InvoiceEvent.objects.filter(invoice=invoice).count() == events_before
    elif target in TRANSITIONS[source]:
        result = services.invoice_set_status(invoice_id=invoice.pk, status=target, cause="test")
        assert result.status == target
        event = InvoiceEvent.objects.filter(invoice=invoice).last()
        assert (event.old_status, event.new_status, event.cause) == (source, target, "test")
        assert InvoiceEvent.objects.filter(invoice=invoice).count() == events_before + 1
    else:
        with pytest.raises(TransitionNotAllowed):
            services.invoice_set_status(invoice_id=invoice.pk, status=target, cause="test")
        invoice.refresh_from_db()
        assert invoice.status == source
        assert InvoiceEvent.objects.filter(invoice=invoice).count() == events_before


def test_full_payment_moves_paid_confirmed_complete(store):
    store.transaction_speed = 2
    store.save()
    invoice = make_invoice(store, "0.001")
    method = method_of(invoice)
    services.payment_apply(payment_method_id=method.pk, txid=TXID, vout=0, amount=100_000)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.exception_status, invoice.sent_amount) == (S.PAID, E.NONE, Decimal("0.001"))
    assert invoice.paid_currency == "BTC" and invoice.paid_date is not None
    services.payment_apply(payment_method_id=method.pk, txid=TXID, vout=0, amount=100_000, height=101, confirmations=1)
    invoice.refresh_from_db()
    assert invoice.status == S.CONFIRMED
    services.payment_apply(payment_method_id=method.pk, txid=TXID, vout=0, amount=100_000, height=101, confirmations=2)
    invoice.refresh_from_db()
    assert invoice.status == S.COMPLETE
    assert Payment.objects.get().confirmations == 2
    statuses = list(invoice.events.filter(kind="status").values_list("old_status", "new_status"))
    assert statuses == [(S.PENDING, S.PAID), (S.PAID, S.CONFIRMED), (S.CONFIRMED, S.COMPLETE)]
    method.refresh_from_db()
    assert method.is_used and method.confirmations == 2


def test_same_payment_twice_is_a_no_op(store):
    invoice = make_invoice(store)
    method = method_of(invoice)
    for _ in range(3):
        services.payment_apply(payment_method_id=method.pk, txid=TXID, vout=0, amount=100_000)
    assert Payment.objects.count() == 1
    assert invoice.events.filter(kind="payment").count() == 1
    assert invoice.events.filter(kind="status").count() == 1


def test_partial_then_complete_and_overpayment(store):
    store.transaction_speed = 0
    store.save()
    invoice = make_invoice(store, "0.001")
    method = method_of(invoice)
    services.payment_apply(payment_method_id=method.pk, txid=TXID, vout=0, amount=40_000)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.exception_status, invoice.sent_amount) == (
        S.PENDING,
        E.PAID_PARTIAL,
        Decimal("0.0004"),
    )
    services.payment_apply(payment_method_id=method.pk, txid="cd" * 32, vout=1, amount=70_000)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.exception_status, invoice.sent_amount) == (
        S.COMPLETE,
        E.PAID_OVER,
        Decimal("0.0011"),
    )


def test_underpaid_tolerance(store):
    store.underpaid_percentage = Decimal("5")
    store.save()
    invoice = make_invoice(store, "0.001")
    services.payment_apply(payment_method_id=method_of(invoice).pk, txid=TXID, vout=0, amount=95_000)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.exception_status) == (S.PAID, E.NONE)


def test_dropped_zero_conf_goes_back_to_pending(store):
    invoice = make_invoice(store)
    method = method_of(invoice)
    services.payment_apply(payment_method_id=method.pk, txid=TXID, vout=0, amount=100_000)
    services.payment_method_sync(payment_method_id=method.pk, outputs=[], complete=True)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.sent_amount) == (S.PENDING, Decimal("0"))
    assert Payment.objects.get().state == Payment.State.DROPPED


def test_dropped_after_expiry_fails_confirm(store):
    invoice = make_invoice(store)
    method = method_of(invoice)
    services.payment_apply(payment_method_id=method.pk, txid=TXID, vout=0, amount=100_000)
    Invoice.objects.filter(pk=invoice.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    services.payment_method_sync(payment_method_id=method.pk, outputs=[], complete=True)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.exception_status) == (S.INVALID, E.FAILED_CONFIRM)


def test_expiry_sweep_expires_only_due_pending(store):
    due = make_invoice(store)
    not_due = make_invoice(store)
    paid = make_invoice(store)
    services.payment_apply(payment_method_id=method_of(paid).pk, txid=TXID, vout=0, amount=100_000)
    past = timezone.now() - timedelta(seconds=1)
    Invoice.objects.filter(pk__in=[due.pk, paid.pk]).update(expires_at=past)
    assert services.invoices_expire() == 1
    statuses = dict(Invoice.objects.values_list("pk", "status"))
    assert statuses == {due.pk: S.EXPIRED, not_due.pk: S.PENDING, paid.pk: S.PAID}
    assert services.invoices_expire() == 0


def test_payment_after_expiry_is_recorded_as_paid_late(store):
    invoice = make_invoice(store)
    Invoice.objects.filter(pk=invoice.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    services.invoices_expire()
    services.payment_apply(payment_method_id=method_of(invoice).pk, txid=TXID, vout=0, amount=100_000)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.exception_status) == (S.PAID, E.PAID_LATE)
    services.payment_apply(
        payment_method_id=method_of(invoice).pk, txid=TXID, vout=0, amount=100_000, height=5, confirmations=1
    )
    invoice.refresh_from_db()
    assert (invoice.status, invoice.exception_status) == (S.COMPLETE, E.PAID_LATE)


def test_invalid_invoice_still_records_payments(store):
    invoice = make_invoice(store)
    services.invoice_mark_invalid(invoice_id=invoice.pk)
    services.payment_apply(payment_method_id=method_of(invoice).pk, txid=TXID, vout=0, amount=100_000)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.sent_amount) == (S.INVALID, Decimal("0.001"))
    assert Payment.objects.count() == 1


def test_side_effects_only_after_commit(store, django_capture_on_commit_callbacks):
    invoice = make_invoice(store)
    with django_capture_on_commit_callbacks() as callbacks:
        services.payment_apply(payment_method_id=method_of(invoice).pk, txid=TXID, vout=0, amount=100_000)
    assert len(callbacks) == 1
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(TransitionNotAllowed):
        services.invoice_set_status(invoice_id=invoice.pk, status=S.REFUNDED, cause="test")
    assert callbacks == []


def test_outputs_with_bad_values_are_ignored(store):
    invoice = make_invoice(store)
    services.payment_method_sync(payment_method_id=method_of(invoice).pk, outputs=[Output(TXID, 0, 0, None, 0)])
    assert Payment.objects.count() == 0


def test_a_momentarily_unverified_block_does_not_unconfirm_a_payment(store):
    invoice = make_invoice(store)
    method = method_of(invoice)
    services.payment_apply(payment_method_id=method.pk, txid=TXID, vout=0, amount=100_000, height=7, confirmations=1)
    # The daemon re-verifying after a chain switch: same block, no confirmation counted yet.
    services.payment_apply(payment_method_id=method.pk, txid=TXID, vout=0, amount=100_000, height=7, confirmations=0)
    invoice.refresh_from_db()
    assert Payment.objects.get().confirmations == 1
    assert invoice.status == S.COMPLETE
    # A reorg that moves it back to the mempool does unconfirm it.
    store.transaction_speed = 2
    store.save()
    other = make_invoice(store)
    other_method = method_of(other)
    services.payment_apply(
        payment_method_id=other_method.pk, txid="cd" * 32, vout=0, amount=100_000, height=7, confirmations=1
    )
    services.payment_apply(
        payment_method_id=other_method.pk, txid="cd" * 32, vout=0, amount=100_000, height=None, confirmations=0
    )
    other.refresh_from_db()
    assert other.status == S.PAID


def test_an_ethereum_payment_over_by_less_than_a_tag_rounding_is_not_paid_over(store, merchant, settings):
    """A topped-up Ethereum rest is rounded up to carry the payment tag (< 10^4 tag units): paying it is exact.
    One tag unit beyond that rounding is an overpayment."""
    enable_eth(settings)
    eth = wallet_create(owner=merchant, name="ETH", xpub="0x52908400098527886E0F7030069857D2E4169EE7", currency="ETH")
    store.transaction_speed = 1
    store.save()
    for extra, expected in ((9_999, ExceptionStatus.NONE), (10_000, ExceptionStatus.PAID_OVER)):
        invoice = services.invoice_create(store=store, price="0.001", currency="BTC")
        method = PaymentMethod.objects.create(
            invoice=invoice, wallet=eth, currency="USDT", decimals=6, amount=20_001_234, rate=Decimal(1),
            address=eth.xpub, lookup=f"r-{extra}", payment_url="ethereum:x",
        )  # fmt: skip
        services.payment_apply(payment_method_id=method.pk, txid="0x" + "ab" * 32, vout=1,
                               amount=20_001_234 + extra, height=5, confirmations=1)  # fmt: skip
        invoice.refresh_from_db()
        assert (invoice.status, invoice.exception_status, invoice.paid_currency) == (
            InvoiceStatus.COMPLETE,
            expected,
            "USDT",
        )
