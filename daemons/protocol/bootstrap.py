"""What a coin daemon's `__main__` does: settings, logging, signals, listen, ready file, clean shutdown.

    sys.exit(run(prog="daemon-xyz", load_settings=load_settings, serve=serve))

where the coin's `serve(settings)` builds its service and calls `serve_daemon`.
"""

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol, TypeVar

from aiohttp import web

from daemons.protocol.config import ConfigError, DaemonSettings
from daemons.protocol.events import Hub
from daemons.protocol.methods import BaseMethods
from daemons.protocol.server import Server

SHUTDOWN_TIMEOUT = 15
# py_ecc (imported by web3's dependencies, daemons/eth) raises the interpreter's recursion limit to 100 000 at
# import time. With it, json.loads of a deeply nested body ("[" * 100_000) overflows the C stack and the daemon
# segfaults instead of raising RecursionError (-32700). Nothing here recurses that deep: put Python's default
# back, after the coin's imports and before serving.
RECURSION_LIMIT = 1000


class DaemonService(Protocol):
    hub: Hub

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


S = TypeVar("S", bound=DaemonSettings)
Service = TypeVar("Service", bound=DaemonService)


def write_ready_file(path: Path, port: int) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"port": port, "pid": os.getpid()}))
    tmp.replace(path)  # atomic: a reader never sees half a file


async def serve_daemon(
    settings: DaemonSettings,
    *,
    logger: logging.Logger,
    service_class: Callable[..., Service],
    methods_class: Callable[[Service], BaseMethods],
    spec: dict,
    begin: Callable[[Service], None],
    describe: Callable[[int], str],
    start_errors: tuple[type[Exception], ...] = (),
) -> int:
    """Serve until SIGTERM/SIGINT or a fatal internal error; the exit code (0 clean, 1 fatal, 2 cannot start).

    `service_class(settings, on_fatal=...)` makes the service, which is started, then the HTTP app
    (daemons.protocol.server over the service's hub and `methods_class(service)`) listens, the ready file is
    written, `begin(service)` starts its background work and `describe(port)` is logged as the ready line.
    An exception of `start_errors` from `service.start()` is logged as the reason the daemon cannot start.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    fatal: list[BaseException] = []

    def on_fatal(exc: BaseException) -> None:
        logger.critical("internal task died, shutting down", exc_info=exc)
        fatal.append(exc)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    service = service_class(settings, on_fatal=on_fatal)
    try:
        await service.start()
    except start_errors as exc:
        logger.critical("%s", exc)
        await service.stop()
        return 2
    server = Server(
        login=settings.login, password=settings.password, hub=service.hub, methods=methods_class(service), spec=spec
    )
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
        write_ready_file(settings.ready_file, port)
    begin(service)
    logger.info("%s", describe(port))
    await stop.wait()
    logger.info("shutting down")
    try:
        await asyncio.wait_for(runner.cleanup(), SHUTDOWN_TIMEOUT)
    except TimeoutError:
        logger.warning("HTTP server did not close within %ss", SHUTDOWN_TIMEOUT)
    await service.stop()
    logger.info("stopped")
    return 1 if fatal else 0


def run(
    *,
    prog: str,
    load_settings: Callable[[], S],
    serve: Callable[[S], Coroutine[Any, Any, int]],
    configure: Callable[[S], Any] | None = None,
) -> int:
    """Load settings (exit 2 on a configuration error), set up logging, `configure(settings)`, serve."""
    sys.setrecursionlimit(RECURSION_LIMIT)
    try:
        settings = load_settings()
    except (ConfigError, OSError) as exc:
        print(f"{prog}: configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.DEBUG if settings.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if configure is not None:
        configure(settings)
    return asyncio.run(serve(settings))
