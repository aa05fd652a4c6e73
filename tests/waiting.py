"""Bounded waiting for tests that watch real processes."""

import time
from collections.abc import Callable
from typing import Any


def wait_for(predicate: Callable[[], Any], *, timeout: float = 20, what: str = "condition", interval: float = 0.05):
    """Poll `predicate()` until it returns something truthy, at most `timeout` seconds; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
