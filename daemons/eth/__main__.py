"""Run the ETH daemon: `ETH_SERVER=http://127.0.0.1:8545 .venv/bin/python -m daemons.eth` (the project venv)."""

import asyncio
import json
import logging
import os
import signal
import sys

from aiohttp import web

from daemons.eth.chain import redact
from daemons.eth.config import ConfigError, Settings, load_settings
from daemons.eth.server import Server
from daemons.eth.service import Service

logger = logging.getLogger("daemons.eth")

SHUTDOWN_TIMEOUT = 15


async def serve(settings: Settings) -> int:
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
    try:
        await service.start()
    except RuntimeError as exc:
        logger.critical("%s", exc)
        await service.stop()
        return 2
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
        tmp.replace(settings.ready_file)
    service.run()
    logger.info(
        "ETH daemon ready on http://%s:%s (network=%s, chain id=%s, node=%s, data=%s)",
        settings.host,
        port,
        settings.network,
        settings.chain_id,
        redact(settings.server),
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


# py_ecc (imported by web3's dependencies) raises the interpreter's recursion limit to 100 000 at import time.
# With it, json.loads of a deeply nested body ("[" * 100_000) overflows the C stack and the daemon segfaults
# instead of raising RecursionError (-32700). Nothing here recurses that deep: put Python's default back.
RECURSION_LIMIT = 1000


def main() -> int:
    sys.setrecursionlimit(RECURSION_LIMIT)
    try:
        settings = load_settings()
    except (ConfigError, OSError) as exc:
        print(f"daemon-eth: configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.DEBUG if settings.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return asyncio.run(serve(settings))


if __name__ == "__main__":
    sys.exit(main())
