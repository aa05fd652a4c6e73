"""Start the BTC daemon as a subprocess for tests and tools (pytest-independent, stdlib only).

    sim = start_simulator(tmp_path)            # daemons.simulator.testing
    daemon = start_daemon(tmp_path, sim)
    try:
        daemon.rpc("watch_addresses", addresses=[...], xpub=xpub)
        ... connect to daemon.url / daemon.ws_url with (daemon.login, daemon.password) ...
    finally:
        daemon.stop()
        sim.stop()

The process handling is daemons/protocol/testing.py's, shared with the ETH daemon.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from daemons.protocol.testing import PROJECT_ROOT, DaemonProcess, DaemonRPCError, start_daemon_process

__all__ = ["DAEMON_PYTHON", "PROJECT_ROOT", "DaemonProcess", "DaemonRPCError", "start_daemon"]

DAEMON_PYTHON = "/usr/bin/python3"  # Debian's, with python3-electrum 4.3.4


def start_daemon(
    directory: Path,
    simulator: Any = None,
    *,
    network: str = "regtest",
    login: str = "bitcart",
    password: str | None = None,
    extra_env: dict[str, str] | None = None,
    timeout: float = 30,
) -> DaemonProcess:
    """Spawn `python3 -P -m daemons.btc` on a free port and wait (bounded) until it answers.

    `simulator` is a daemons.simulator.testing handle (its `electrum_server` is used) or None for no server.
    The data dir is `directory/daemon-btc` and the log `directory/daemon-btc.log`.
    """
    env = {"BTC_NETWORK": network}
    if simulator is not None:
        env["BTC_SERVER"] = f"127.0.0.1:{simulator.electrum_port}:t"
        env["BTC_ONESERVER"] = "true"
    return start_daemon_process(
        directory,
        prefix="BTC",
        command=[DAEMON_PYTHON, "-P", "-m", "daemons.btc"],
        env={**env, **(extra_env or {})},
        login=login,
        password=password or secrets.token_urlsafe(16),
        timeout=timeout,
        handle=DaemonProcess,
    )
