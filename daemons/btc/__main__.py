"""Run the BTC daemon: `cd /work/main && PYTHONPATH=. /usr/bin/python3 -P -m daemons.btc`.

Debian's python3 with python3-electrum 4.3.4 (and python3-aiohttp); never the Django venv.
"""

import asyncio
import json
import logging
import os
import signal
import sys

from aiohttp import web

from daemons.btc.chain import select_network
from daemons.btc.config import ConfigError, Settings, load_settings

logger = logging.getLogger("daemons.btc")

SHUTDOWN_TIMEOUT = 15


async def serve(settings: Settings) -> int:
    # Imported here: Electrum reads the active network (constants.net) at import time in places.
    from daemons.btc.server import Server
    from daemons.btc.service import Service

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    fatal: list[BaseException] = []

    def on_fatal(exc: BaseException) -> None:
        logger.critical("internal task died, shutting down", exc_info=exc)
        fatal.append(exc)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    service = Service(settings, on_fatal=on_fatal)
    await service.start()
    server = Server(settings, service)
    runner = web.AppRunner(server.build_app(), handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    try:
        await site.start()
    except OSError as exc:
        logger.critical("cannot listen on %s:%s: %s", settings.host, settings.port, exc)
        await runner.cleanup()
        await service.stop()
        return 2
    port = runner.addresses[0][1] if runner.addresses else settings.port
    if settings.ready_file is not None:
        tmp = settings.ready_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"port": port, "pid": os.getpid()}))
        tmp.replace(settings.ready_file)  # atomic: a reader never sees half a file
    service.connect()
    logger.info(
        "BTC daemon ready on http://%s:%s (network=%s, server=%s, data=%s)",
        settings.host,
        port,
        settings.network,
        settings.server or "auto",
        settings.data_path,
    )
    await stop.wait()
    logger.info("shutting down")
    try:
        await asyncio.wait_for(runner.cleanup(), SHUTDOWN_TIMEOUT)
    except TimeoutError:
        logger.warning("HTTP server did not close within %ss", SHUTDOWN_TIMEOUT)
    await service.stop()
    logger.info("stopped")
    return 1 if fatal else 0


def main() -> int:
    try:
        settings = load_settings()
    except (ConfigError, OSError) as exc:
        print(f"daemon-btc: configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.DEBUG if settings.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Electrum logs every subscription at INFO; keep its noise for BTC_DEBUG.
    logging.getLogger("electrum").setLevel(logging.DEBUG if settings.debug else logging.WARNING)
    select_network(settings.network)
    return asyncio.run(serve(settings))


if __name__ == "__main__":
    sys.exit(main())
