"""Make the database agree with the chain, in bulk.

Used by the listener after every (re)connect and on every new block, and by Celery beat. It asks
the daemon for the authoritative outputs of many addresses per call, compares them with the
Payment rows in memory, and runs the (idempotent, locking) sync service only where they differ.
"""

import logging
from collections import defaultdict
from collections.abc import Iterable

from django.db.models import QuerySet

from daemons.client import ChainOutput, DaemonClient
from invoices.models import Payment, PaymentMethod
from invoices.selectors import payment_methods_watched
from invoices.services import Output, payment_method_sync

logger = logging.getLogger(__name__)
BATCH = 1000


def _state(outputs: Iterable[ChainOutput]) -> set[tuple[str, int, int, int]]:
    return {(o.txid, o.vout, o.value_sat, o.confirmations) for o in outputs}


def _known(method_ids: list[str]) -> dict[str, set[tuple[str, int, int, int]]]:
    known: dict[str, set[tuple[str, int, int, int]]] = defaultdict(set)
    rows = Payment.objects.filter(payment_method_id__in=method_ids).exclude(state=Payment.State.DROPPED)
    for method_id, txid, vout, amount, confirmations in rows.values_list(
        "payment_method_id", "txid", "vout", "amount", "confirmations"
    ):
        known[method_id].add((txid, vout, amount, confirmations))
    return known


def sync_methods(methods: list[PaymentMethod], *, client: DaemonClient, cause: str) -> int:
    """Fetch the chain's view of these payment methods' addresses and apply the differences.

    Returns how many payment methods changed."""
    by_xpub: dict[str, list[PaymentMethod]] = defaultdict(list)
    for method in methods:
        by_xpub[method.wallet.xpub].append(method)
    changed = 0
    for xpub, group in by_xpub.items():
        for start in range(0, len(group), BATCH):
            chunk = group[start : start + BATCH]
            _, outputs = client.get_address_outputs(xpub=xpub, addresses=[m.address for m in chunk])
            known = _known([m.pk for m in chunk])
            for method in chunk:
                seen = outputs.get(method.address, [])
                if _state(seen) == known.get(method.pk, set()):
                    continue
                payment_method_sync(
                    payment_method_id=method.pk,
                    outputs=[Output(o.txid, o.vout, o.value_sat, o.height or None, o.confirmations) for o in seen],
                    complete=True,
                    cause=cause,
                )
                changed += 1
    return changed


def sync_addresses(*, xpub: str, addresses: list[str], client: DaemonClient, cause: str) -> int:
    methods = list(
        PaymentMethod.objects.filter(wallet__xpub=xpub, address__in=addresses).select_related("wallet", "invoice")
    )
    return sync_methods(methods, client=client, cause=cause) if methods else 0


def reconcile(*, client: DaemonClient, methods: QuerySet[PaymentMethod] | None = None, cause: str = "reconcile") -> int:
    """Re-check every watched invoice (open, or expired within its monitoring window)."""
    queryset = methods if methods is not None else payment_methods_watched()
    changed = 0
    chunk: list[PaymentMethod] = []
    for method in queryset.order_by("pk").iterator(chunk_size=BATCH):
        chunk.append(method)
        if len(chunk) >= BATCH:
            changed += sync_methods(chunk, client=client, cause=cause)
            chunk = []
    if chunk:
        changed += sync_methods(chunk, client=client, cause=cause)
    return changed


def waiting_for_confirmations() -> QuerySet[PaymentMethod]:
    """Payment methods with outputs whose confirmations still matter (a new block changes them)."""
    return payment_methods_watched().filter(is_used=True)
