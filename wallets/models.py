from django.conf import settings
from django.db import models

from bitcart.models import UlidField
from wallets.keys import NETWORKS


class Wallet(models.Model):
    """A merchant's watch-only wallet (an account xpub). Addresses are derived m/0/next_index."""

    owner_path = "owner"  # the merchant who owns a row, for bitcart.ownership.owned

    class Network(models.TextChoices):
        MAINNET = "mainnet"
        TESTNET = "testnet"
        REGTEST = "regtest"

    id = UlidField()
    name = models.CharField(max_length=200)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="wallets")
    currency = models.CharField(max_length=10, default="BTC")
    network = models.CharField(max_length=10, choices=Network.choices, default=Network.MAINNET)
    xpub = models.CharField(max_length=120)
    label = models.CharField(max_length=200, blank=True)
    # Overrides the store's required confirmations for invoices paid to this wallet.
    transaction_speed = models.PositiveSmallIntegerField(null=True, blank=True)
    # The next unused derivation index; only ever grows, allocated with F() under a row lock.
    next_index = models.PositiveBigIntegerField(default=0, editable=False)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            # One key, one index counter: the same xpub twice would hand out its addresses twice.
            models.UniqueConstraint(fields=["currency", "network", "xpub"], name="wallet_unique_xpub"),
            models.CheckConstraint(condition=models.Q(network__in=NETWORKS), name="wallet_network_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.currency} {self.network})"
