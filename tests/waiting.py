"""Bounded waiting for tests that watch real processes."""

from daemons.processes import wait_for as _wait_for


def wait_for(predicate, *, timeout: float = 20, what: str = "condition", interval: float = 0.05):
    """Poll `predicate()` until it returns something truthy, at most `timeout` seconds (20 by default)."""
    return _wait_for(predicate, timeout=timeout, what=what, interval=interval)
