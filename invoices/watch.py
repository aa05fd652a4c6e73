"""Keeping a bitcoin-family daemon's watch list equal to the invoices that can still receive payments.

(Ethereum-family daemons watch what they opened a request for: nothing to register.)"""

from collections import defaultdict

from coins import registry
from daemons.client import DaemonClient
from invoices.models import PaymentMethod
from invoices.selectors import payment_methods_watched

# Plain columns, not model instances (re-registering 100k addresses after a restart must be cheap).
COLUMNS = ("wallet__xpub", "address", "derivation_index", "invoice__monitor_until")


def _entries(rows) -> dict[str, list[dict]]:
    by_xpub: dict[str, list[dict]] = defaultdict(list)
    for xpub, address, index, monitor_until in rows:
        by_xpub[xpub].append({"address": address, "index": index, "until": int(monitor_until.timestamp())})
    return by_xpub


def _of(queryset, client):
    return queryset.filter(wallet__currency=registry.chain(client.chain).symbol)


def invoice_watch(*, invoice_id: str, client=None) -> None:
    own = client is None
    client = client or DaemonClient()
    rows = _of(PaymentMethod.objects.filter(invoice_id=invoice_id), client).values_list(*COLUMNS)
    try:
        for xpub, entries in _entries(rows).items():
            client.watch_addresses(xpub=xpub, addresses=entries)
    finally:
        if own:
            client.close()


def watch_recent(*, client, since, skip: set[str], batch: int = 5000) -> list[str]:
    """Register payment methods created since `since` (a datetime) that are not in `skip`;
    returns the ids registered.

    The listener calls this every fraction of a second, so a new invoice's address is watched
    without a task per invoice. Registration is idempotent: overlapping windows are harmless.
    """
    recent = _of(PaymentMethod.objects.filter(created__gte=since), client).exclude(pk__in=skip).order_by("created")
    rows = list(recent.values_list("pk", *COLUMNS)[:batch])
    if rows:
        _flush(client, [row[1:] for row in rows])
    return [row[0] for row in rows]


def watch_all(*, client, batch: int = 5000) -> int:
    """Register every watched address again (after a daemon restart or listener reconnect).

    `batch` is the daemon's advised maximum per call (~100 bytes an entry, 1 MB request limit)."""
    # One plain query, not .iterator(): see invoices.reconcile._targets (server-side cursor plans).
    rows = list(_of(payment_methods_watched(), client).values_list(*COLUMNS))
    for start in range(0, len(rows), batch):
        _flush(client, rows[start : start + batch])
    return len(rows)


def _flush(client, rows) -> int:
    for xpub, entries in _entries(rows).items():
        client.watch_addresses(xpub=xpub, addresses=entries)
    return len(rows)
