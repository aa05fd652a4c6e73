"""The run of unused addresses a merchant's own wallet (gap limit 20) must look across."""

import pytest

from invoices import services
from invoices.models import Payment, PaymentMethod
from stores.models import Store
from wallets.keys import generate_xpub
from wallets.models import Wallet
from wallets.selectors import wallet_annotate_unused_run, wallet_unused_run

pytestmark = pytest.mark.django_db


def invoices(store: Store, count: int) -> list[PaymentMethod]:
    created = [services.invoice_create(store=store, price="0.001", currency="BTC") for _ in range(count)]
    return [invoice.payment_methods.get() for invoice in created]


def pay(method: PaymentMethod, txid: str) -> None:
    services.payment_apply(payment_method_id=method.pk, txid=txid, vout=0, amount=method.amount)


def test_a_new_wallet_has_no_unused_run(wallet):
    assert wallet_unused_run(wallet_id=wallet.pk) == 0


def test_every_address_counts_until_one_is_paid_then_only_those_after_it(store, wallet):
    methods = invoices(store, 25)
    assert [m.derivation_index for m in methods] == list(range(25))
    assert wallet_unused_run(wallet_id=wallet.pk) == 25

    pay(methods[2], "a1" * 32)
    assert wallet_unused_run(wallet_id=wallet.pk) == 22  # indexes 3..24
    pay(methods[0], "a2" * 32)  # an older address paid late changes nothing
    assert wallet_unused_run(wallet_id=wallet.pk) == 22

    pay(methods[24], "a3" * 32)
    assert wallet_unused_run(wallet_id=wallet.pk) == 0


def test_a_dropped_payment_leaves_no_history_to_count(store, wallet):
    methods = invoices(store, 5)
    pay(methods[1], "b1" * 32)
    pay(methods[3], "b2" * 32)
    Payment.objects.filter(txid="b2" * 32).update(state=Payment.State.DROPPED)

    assert wallet_unused_run(wallet_id=wallet.pk) == 3  # indexes 2..4


def test_one_query_for_a_page_of_wallets(store, wallet, merchant, django_assert_num_queries):
    methods = invoices(store, 4)
    pay(methods[1], "c1" * 32)
    others = [
        Wallet.objects.create(
            name=f"W{i}", owner=merchant, currency="BTC", network="regtest", xpub=generate_xpub("regtest")
        )
        for i in range(3)
    ]
    Wallet.objects.filter(pk=others[0].pk).update(next_index=7)  # handed out, no invoice rows: still unused

    with django_assert_num_queries(1):
        runs = {w.pk: w.unused_run for w in wallet_annotate_unused_run(queryset=Wallet.objects.all())}

    assert runs == {wallet.pk: 2, others[0].pk: 7, others[1].pk: 0, others[2].pk: 0}
