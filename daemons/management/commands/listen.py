import asyncio
import signal

from django.core.management.base import BaseCommand

from daemons.listener import Listener


class Command(BaseCommand):
    help = "Listen to the coin daemon's events and apply them to invoices (a supervisord process)."

    def handle(self, *args, **options) -> None:
        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            await Listener().run(stop=stop)

        asyncio.run(main())
