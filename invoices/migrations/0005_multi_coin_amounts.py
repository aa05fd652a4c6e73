"""Amounts in any coin's smallest unit (NUMERIC(40, 0): 10^30 base units and more; int64 satoshis could not
hold 9.3 ETH in wei), each payment method with its coin's decimals and the daemon's key for it (`lookup`:
the address, or an Ethereum daemon's request id). Every existing row is bitcoin: 8 decimals, lookup = address,
amounts unchanged (the column type widens in place)."""

from django.db import migrations, models

import bitcart.models


def bitcoin_rows(apps, schema_editor):
    PaymentMethod = apps.get_model("invoices", "PaymentMethod")
    PaymentMethod.objects.update(lookup=models.F("address"))


class Migration(migrations.Migration):
    dependencies = [("invoices", "0004_invoice_stock"), ("wallets", "0002_wallet_any_chain")]

    operations = [
        migrations.AddField(
            model_name="paymentmethod",
            name="decimals",
            field=models.PositiveSmallIntegerField(
                default=8, help_text="The coin's decimals: amounts are in 10^-decimals units."
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="paymentmethod",
            name="lookup",
            field=models.CharField(
                default="", help_text="The daemon's key: the address, or its request id.", max_length=100
            ),
            preserve_default=False,
        ),
        migrations.RunPython(bitcoin_rows, migrations.RunPython.noop, elidable=False),
        migrations.RemoveConstraint(model_name="paymentmethod", name="payment_method_unique_address"),
        migrations.AddConstraint(
            model_name="paymentmethod",
            constraint=models.UniqueConstraint(
                fields=("wallet", "currency", "lookup"), name="payment_method_unique_lookup"
            ),
        ),
        migrations.AddIndex(
            model_name="paymentmethod", index=models.Index(fields=["lookup"], name="payment_method_lookup")
        ),
        migrations.AlterField(
            model_name="paymentmethod",
            name="amount",
            field=bitcart.models.UnitsField(help_text="Asked, in the coin's smallest unit."),
        ),
        migrations.AlterField(
            model_name="paymentmethod",
            name="currency",
            field=models.CharField(help_text="The coin paid with (coins.registry symbol).", max_length=10),
        ),
        migrations.AlterField(
            model_name="paymentmethod",
            name="derivation_index",
            field=models.PositiveBigIntegerField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="paymentmethod",
            name="rate",
            field=models.DecimalField(decimal_places=20, help_text="Invoice currency per 1 coin.", max_digits=40),
        ),
        migrations.AlterField(
            model_name="payment",
            name="amount",
            field=bitcart.models.UnitsField(help_text="In the coin's smallest unit."),
        ),
        migrations.AlterField(model_name="payment", name="txid", field=models.CharField(max_length=80)),
        migrations.AlterField(
            model_name="invoice",
            name="sent_amount",
            field=models.DecimalField(decimal_places=20, default=0, max_digits=50),
        ),
    ]
