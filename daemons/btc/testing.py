"""Start the BTC daemon as a subprocess for tests and tools (pytest-independent, stdlib only).

    sim = start_simulator(tmp_path)            # daemons.simulator.testing
    daemon = start_daemon(tmp_path, sim)
    try:
        daemon.rpc("watch_addresses", addresses=[...], xpub=xpub)
        ... connect to daemon.url / daemon.ws_url with (daemon.login, daemon.password) ...
    finally:
        daemon.stop()
        sim.stop()

The daemon binds port 0 and reports the port through a ready file, so parallel runs never race for ports.
Calling start_daemon again with the same directory reuses the data dir (watched set, requests): a restart.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemons.processes import terminate, wait_for

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DAEMON_PYTHON = "/usr/bin/python3"  # Debian's, with python3-electrum 4.3.4


class DaemonRPCError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class DaemonProcess:
    process: subprocess.Popen
    port: int
    login: str
    password: str
    data_path: Path
    log_path: Path
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    @property
    def auth_header(self) -> str:
        return "Basic " + base64.b64encode(f"{self.login}:{self.password}".encode()).decode()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def post(self, body: bytes, *, auth: str | None = None, timeout: float = 30) -> tuple[int, Any]:
        """Raw POST / -> (HTTP status, parsed JSON body)."""
        request = urllib.request.Request(
            self.url + "/",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": auth or self.auth_header},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def rpc(self, method: str, *args: Any, timeout: float = 30, **kwargs: Any) -> Any:
        """Call like the bitcart SDK does (args, kwargs, or args + trailing kwargs dict); raise on error."""
        params: Any = list(args) + [kwargs] if args and kwargs else (list(args) if args else kwargs)
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
        _status, data = self.post(body, timeout=timeout)
        if "error" in data:
            raise DaemonRPCError(data["error"]["code"], data["error"]["message"])
        return data["result"]

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM (clean shutdown), SIGKILL after `timeout`; returns the exit code."""
        return terminate(self.process, timeout)


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
    """Spawn `python3 -P -m daemons.btc` on a free port and wait (bounded) until /spec answers.

    `simulator` is a daemons.simulator.testing handle (its `electrum_server` is used) or None for no server.
    The data dir is `directory/daemon-btc` and the log `directory/daemon-btc.log`.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    data_path = directory / "daemon-btc"
    log_path = directory / "daemon-btc.log"
    ready_file = directory / f"daemon-ready-{time.monotonic_ns()}.json"
    password = password or secrets.token_urlsafe(16)
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "BTC_NETWORK": network,
        "BTC_HOST": "127.0.0.1",
        "BTC_PORT": "0",
        "BTC_LOGIN": login,
        "BTC_PASSWORD": password,
        "BTC_DATA_PATH": str(data_path),
        "BTC_READY_FILE": str(ready_file),
    }
    if simulator is not None:
        env["BTC_SERVER"] = f"127.0.0.1:{simulator.electrum_port}:t"
        env["BTC_ONESERVER"] = "true"
    env.update(extra_env or {})
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [DAEMON_PYTHON, "-P", "-m", "daemons.btc"], cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )

    def answering() -> DaemonProcess | None:
        if process.poll() is not None:
            raise RuntimeError(f"BTC daemon exited with {process.returncode}")
        if not ready_file.exists():
            return None
        port = json.loads(ready_file.read_text())["port"]
        handle = DaemonProcess(process, port, login, password, data_path, log_path)
        try:
            handle.rpc("get_tip", timeout=5)
        except (urllib.error.URLError, ConnectionError, OSError):
            return None
        return handle

    try:
        return wait_for(answering, timeout=timeout, what="the BTC daemon to answer")
    except (TimeoutError, RuntimeError) as exc:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        tail = log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"BTC daemon did not start within {timeout}s ({exc}):\n{tail}") from None
