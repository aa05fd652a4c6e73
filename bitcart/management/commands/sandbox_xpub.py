"""Print a fresh regtest account xpub for a sandbox wallet (its private key is thrown away).

A wallet's xpub is unique per network, so each new sandbox wallet needs its own; the simulator pays
any address, so nobody needs the key. Refused outside the sandbox: funds sent to such a key on a real
network would be lost.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from wallets.keys import generate_xpub


class Command(BaseCommand):
    help = "Print a fresh regtest xpub (sandbox only; nobody holds its private key)."

    def handle(self, *args, **options) -> None:
        if not settings.SANDBOX:
            raise CommandError(
                f"BTC_NETWORK is {settings.BTC_NETWORK}: use your own wallet's xpub (Electrum: Wallet → Information)."
            )
        self.stdout.write(generate_xpub(settings.BTC_NETWORK))
