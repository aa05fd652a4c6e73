"""Wallets of any enabled chain (coins.registry): the network is the chain's own name (an Ethereum network may
be "sepolia" or a local chain's), so the bitcoin-only check constraint goes and the registry validates it in
wallet_create. Existing rows are unchanged."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("wallets", "0001_initial")]

    operations = [
        migrations.RemoveConstraint(model_name="wallet", name="wallet_network_valid"),
        migrations.AlterField(model_name="wallet", name="network", field=models.CharField(max_length=20)),
        migrations.AlterField(
            model_name="wallet",
            name="currency",
            field=models.CharField(help_text="The chain's native coin (coins.registry).", max_length=10),
        ),
    ]
