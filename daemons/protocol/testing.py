"""Run a coin daemon as a subprocess for tests and tools (pytest-independent, stdlib only: the benches import
it under Debian's python3 too).

A coin's `testing.start_daemon` gives its command line and its own environment to `start_daemon_process`,
which binds port 0, learns the port from the ready file (so parallel runs never race for ports), waits
(bounded) until `get_tip` answers and returns a `DaemonProcess` handle. Starting again with the same directory
reuses the data dir: a restart.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from daemons.processes import terminate, wait_for

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOG_TAIL = 3000  # characters of the daemon's log in a start failure


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

    def _send(self, request: urllib.request.Request, timeout: float) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def post(self, body: bytes, *, auth: str | None = None, timeout: float = 30) -> tuple[int, Any]:
        """Raw POST / -> (HTTP status, parsed JSON body)."""
        headers = {"Content-Type": "application/json", "Authorization": auth or self.auth_header}
        return self._send(urllib.request.Request(self.url + "/", data=body, method="POST", headers=headers), timeout)

    def get(self, path: str, timeout: float = 10) -> tuple[int, Any]:
        """Raw GET `path` -> (HTTP status, parsed JSON body)."""
        return self._send(urllib.request.Request(self.url + path, headers={"Authorization": self.auth_header}), timeout)

    def rpc(self, method: str, *args: Any, timeout: float = 30, **kwargs: Any) -> Any:
        """Call like the bitcart SDK does (args, kwargs, or args + trailing kwargs dict); raise on error."""
        params: Any = list(args) + [kwargs] if args and kwargs else (list(args) if args else kwargs)
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
        _status, data = self.post(body, timeout=timeout)
        if "error" in data:
            raise DaemonRPCError(data["error"]["code"], data["error"]["message"])
        return data["result"]

    def wait_for(self, predicate, *, timeout: float = 20, what: str = "condition") -> Any:
        return wait_for(predicate, timeout=timeout, what=what, interval=0.05)

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM (clean shutdown), SIGKILL after `timeout`; returns the exit code."""
        return terminate(self.process, timeout)


Handle = TypeVar("Handle", bound=DaemonProcess)


def start_daemon_process(
    directory: Path,
    *,
    prefix: str,
    command: list[str],
    env: dict[str, str],
    login: str,
    password: str,
    timeout: float,
    handle: type[Handle],
) -> Handle:
    """Spawn `command` with `<prefix>_*` set for loopback, port 0, `login`/`password`, the data dir
    `directory/daemon-<prefix>` and the log `directory/daemon-<prefix>.log`, plus `env` (the coin's own
    variables, which win); wait at most `timeout` seconds for it to answer."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    name = f"daemon-{prefix.lower()}"
    data_path = directory / name
    log_path = directory / f"{name}.log"
    ready_file = directory / f"{name}-ready-{time.monotonic_ns()}.json"
    full_env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        f"{prefix}_HOST": "127.0.0.1",
        f"{prefix}_PORT": "0",
        f"{prefix}_LOGIN": login,
        f"{prefix}_PASSWORD": password,
        f"{prefix}_DATA_PATH": str(data_path),
        f"{prefix}_READY_FILE": str(ready_file),
        **env,
    }
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT)

    def answering() -> Handle | None:
        if process.poll() is not None:
            raise RuntimeError("the process ended")
        if not ready_file.exists():
            return None
        port = json.loads(ready_file.read_text())["port"]
        daemon = handle(process, port, login, password, data_path, log_path)
        try:
            daemon.rpc("get_tip", timeout=5)
        except (urllib.error.URLError, ConnectionError, OSError):
            return None
        return daemon

    try:
        return wait_for(answering, timeout=timeout, what=f"the {prefix} daemon to answer")
    except (TimeoutError, RuntimeError) as exc:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        tail = log_path.read_text(errors="replace")[-LOG_TAIL:]
        why = f"{exc}; exit {process.returncode}"
        raise RuntimeError(f"{prefix} daemon did not start within {timeout}s ({why}):\n{tail}") from None
