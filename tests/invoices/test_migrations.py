"""Migrations that carry existing rows: each is run on rows written in the old shape."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from invoices.models import Invoice, Payment, PaymentMethod
from wallets.models import Wallet

OLD = [("invoices", "0004_invoice_stock"), ("wallets", "0001_initial")]


@pytest.mark.django_db(transaction=True)  # the migration alters the tables: no pending FK checks
def test_multi_coin_migration_carries_bitcoin_rows_over_unchanged(store, merchant):
    """invoices 0005 / wallets 0002: int64 satoshis become NUMERIC(40, 0) base units, every method gets 8 decimals
    and its address as its daemon lookup; amounts, addresses, indexes and the invoice's sent amount stay as
    they were. The largest satoshi amount an int64 column held survives exactly."""
    executor = MigrationExecutor(connection)
    executor.migrate(OLD)
    try:
        old = executor.loader.project_state(OLD).apps
        wallet = old.get_model("wallets", "Wallet").objects.create(
            name="Old", owner_id=merchant.pk, currency="BTC", network="regtest", xpub="vpub-old", next_index=2
        )
        old.get_model("stores", "Store").objects.get(pk=store.pk).wallets.add(wallet.pk)
        now = timezone.now()
        invoice = old.get_model("invoices", "Invoice").objects.create(
            store_id=store.pk,
            price=Decimal("10.00"),
            currency="USD",
            status="paid",
            sent_amount=Decimal("0.00123456"),
            paid_currency="BTC",
            expiration=15,
            expires_at=now + timedelta(minutes=15),
            monitor_until=now + timedelta(days=1),
            required_confirmations=1,
        )
        methods = old.get_model("invoices", "PaymentMethod")
        first = methods.objects.create(
            invoice_id=invoice.pk,
            wallet_id=wallet.pk,
            currency="BTC",
            amount=123456,
            rate=Decimal("8100.123456789012"),
            address="bcrt1qold0",
            payment_url="bitcoin:bcrt1qold0?amount=0.00123456",
            derivation_index=0,
        )
        second = methods.objects.create(
            invoice_id=invoice.pk,
            wallet_id=wallet.pk,
            currency="BTC",
            amount=2**63 - 1,
            rate=Decimal("1"),
            address="bcrt1qold1",
            payment_url="bitcoin:bcrt1qold1",
            derivation_index=1,
        )
        old.get_model("invoices", "Payment").objects.create(
            payment_method_id=first.pk, txid="ab" * 32, vout=3, amount=123456, height=101, confirmations=1
        )
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    rows = PaymentMethod.objects.order_by("derivation_index").values_list(
        "pk", "currency", "decimals", "amount", "rate", "address", "lookup", "derivation_index", "payment_url"
    )
    assert list(rows) == [
        (first.pk, "BTC", 8, 123456, Decimal("8100.123456789012"), "bcrt1qold0", "bcrt1qold0", 0,
         "bitcoin:bcrt1qold0?amount=0.00123456"),
        (second.pk, "BTC", 8, 2**63 - 1, Decimal(1), "bcrt1qold1", "bcrt1qold1", 1, "bitcoin:bcrt1qold1"),
    ]  # fmt: skip
    assert list(Payment.objects.values_list("txid", "vout", "amount", "height", "confirmations")) == [
        ("ab" * 32, 3, 123456, 101, 1)
    ]
    assert Invoice.objects.values_list("sent_amount", "paid_currency").get(pk=invoice.pk) == (
        Decimal("0.00123456"),
        "BTC",
    )
    assert Wallet.objects.values_list("currency", "network", "xpub", "next_index").get(pk=wallet.pk) == (
        "BTC",
        "regtest",
        "vpub-old",
        2,
    )
    # What the old columns could not hold: a wei amount past 2^63 (9.2 ETH), and 10^30 base units.
    PaymentMethod.objects.filter(pk=second.pk).update(amount=10**30 + 7)
    assert PaymentMethod.objects.get(pk=second.pk).amount == 10**30 + 7
