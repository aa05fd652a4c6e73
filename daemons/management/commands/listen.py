import asyncio
import signal

from django.core.management.base import BaseCommand, CommandError

from coins import registry
from daemons.client import DaemonClient
from daemons.listener import Listener


class Command(BaseCommand):
    help = "Listen to one chain's daemon events and apply them to invoices (a supervisord process per chain)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--chain", default="btc", help="an enabled chain of BITCART_CRYPTOS (default: btc)")

    def handle(self, *args, chain: str, **options) -> None:
        try:
            registry.chain(chain)
        except KeyError:
            enabled = ", ".join(c.key for c in registry.chains())
            raise CommandError(f"{chain!r} is not an enabled chain (BITCART_CRYPTOS: {enabled})") from None

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            with DaemonClient(chain=chain) as client:
                await Listener(client).run(stop=stop)

        asyncio.run(main())
