from django.conf import settings
from django.db import models

from bitcart.models import UlidField


class Wallet(models.Model):
    """A merchant's watch-only wallet of one chain (coins.registry): for bitcoin-family chains an account
    xpub, whose addresses are derived m/0/next_index; for Ethereum-family chains the merchant's address,
    which takes the native coin and the chain's tokens."""

    owner_path = "owner"  # the merchant who owns a row, for bitcart.ownership.owned

    id = UlidField()
    name = models.CharField(max_length=200)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="wallets")
    currency = models.CharField(max_length=10, help_text="The chain's native coin (coins.registry).")
    network = models.CharField(max_length=20)
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
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.currency} {self.network})"
