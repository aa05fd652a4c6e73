"""Periodic reconciliation with the coin daemon (Celery beat)."""

import logging

from celery import shared_task
from django.core.cache import cache

from daemons.client import DaemonClient, DaemonError

logger = logging.getLogger(__name__)
LOCK_KEY = "lock:reconcile"
# Short, and renewed after every daemon batch: a worker killed mid-run (SIGKILL never reaches the
# `finally`) holds the next runs off for at most this long, not for a whole time limit. A run whose
# lock lapsed may overlap the next one, which is safe (syncing is idempotent and row-locked).
LOCK_SECONDS = 30


@shared_task(ignore_result=True, soft_time_limit=240, time_limit=300)
def invoices_reconcile_task() -> int:
    """Re-check every watched invoice against the daemon; a run at a time (cache lock)."""
    from invoices.reconcile import reconcile
    from invoices.watch import watch_all

    if not cache.add(LOCK_KEY, 1, LOCK_SECONDS):
        return 0
    try:
        with DaemonClient() as client:
            watch_all(client=client)
            cache.touch(LOCK_KEY, LOCK_SECONDS)
            return reconcile(client=client, cause="reconcile", progress=lambda: cache.touch(LOCK_KEY, LOCK_SECONDS))
    except DaemonError as exc:
        logger.warning("reconciliation skipped: %s", exc)
        return 0
    finally:
        cache.delete(LOCK_KEY)
