"""Keeping the coin daemon's watch list equal to the invoices that can still receive payments."""

from collections import defaultdict

from invoices.models import PaymentMethod
from invoices.selectors import payment_methods_watched

# Plain columns, not model instances (re-registering 100k addresses after a restart must be cheap).
COLUMNS = ("wallet__xpub", "address", "derivation_index", "invoice__monitor_until")


def _entries(rows) -> dict[str, list[dict]]:
    by_xpub: dict[str, list[dict]] = defaultdict(list)
    for xpub, address, index, monitor_until in rows:
        by_xpub[xpub].append({"address": address, "index": index, "until": int(monitor_until.timestamp())})
    return by_xpub


def invoice_watch(*, invoice_id: str, client=None) -> None:
    from daemons.client import get_client

    client = client or get_client()
    rows = PaymentMethod.objects.filter(invoice_id=invoice_id).values_list(*COLUMNS)
    for xpub, entries in _entries(rows).items():
        client.watch_addresses(xpub=xpub, addresses=entries)


def watch_all(*, client, batch: int = 5000) -> int:
    """Register every watched address again (after a daemon restart or listener reconnect).

    `batch` is the daemon's advised maximum per call (~100 bytes an entry, 1 MB request limit)."""
    count = 0
    pending: list = []
    for row in payment_methods_watched().values_list(*COLUMNS).iterator(chunk_size=batch):
        pending.append(row)
        if len(pending) >= batch:
            count += _flush(client, pending)
            pending = []
    if pending:
        count += _flush(client, pending)
    return count


def _flush(client, rows) -> int:
    for xpub, entries in _entries(rows).items():
        client.watch_addresses(xpub=xpub, addresses=entries)
    return len(rows)
