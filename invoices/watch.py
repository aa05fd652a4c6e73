"""Keeping the coin daemon's watch list equal to the invoices that can still receive payments."""

from collections import defaultdict

from invoices.models import PaymentMethod
from invoices.selectors import payment_methods_watched


def _entries(methods) -> dict[str, list[dict]]:
    by_xpub: dict[str, list[dict]] = defaultdict(list)
    for method in methods:
        by_xpub[method.wallet.xpub].append(
            {
                "address": method.address,
                "index": method.derivation_index,
                "until": int(method.invoice.monitor_until.timestamp()),
            }
        )
    return by_xpub


def invoice_watch(*, invoice_id: str, client=None) -> None:
    from daemons.client import get_client

    client = client or get_client()
    methods = PaymentMethod.objects.filter(invoice_id=invoice_id).select_related("wallet", "invoice")
    for xpub, entries in _entries(methods).items():
        client.watch_addresses(xpub=xpub, addresses=entries)


def watch_all(*, client, batch: int = 1000) -> int:
    """Register every watched address again (after a daemon restart or listener reconnect)."""
    count = 0
    pending: list = []
    for method in payment_methods_watched().iterator(chunk_size=batch):
        pending.append(method)
        if len(pending) >= batch:
            count += _flush(client, pending)
            pending = []
    if pending:
        count += _flush(client, pending)
    return count


def _flush(client, methods) -> int:
    for xpub, entries in _entries(methods).items():
        client.watch_addresses(xpub=xpub, addresses=entries)
    return len(methods)
