"""Process helpers shared by the daemon's and the simulator's test harnesses, the tests and the
benchmarks. Stdlib only: it is imported under Debian's python3 too."""

import subprocess
import time
from collections.abc import Callable
from typing import Any


def terminate(process: subprocess.Popen, timeout: float) -> int:
    """SIGTERM (a clean shutdown), SIGKILL if it has not exited after `timeout`; the exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)
    return process.returncode


def wait_for(predicate: Callable[[], Any], *, timeout: float, what: str = "condition", interval: float = 0.05) -> Any:
    """Poll `predicate()` until it returns something truthy, at most `timeout` seconds; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
