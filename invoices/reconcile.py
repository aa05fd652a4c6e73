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


# (payment method id, address, xpub): all reconciliation needs to know about a payment method.
Target = tuple[str, str, str]


def _sync_targets(targets: list[Target], *, client: DaemonClient, cause: str) -> int:
    by_xpub: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for method_id, address, xpub in targets:
        by_xpub[xpub].append((method_id, address))
    changed = 0
    for xpub, group in by_xpub.items():
        for start in range(0, len(group), BATCH):
            chunk = group[start : start + BATCH]
            _, outputs = client.get_address_outputs(xpub=xpub, addresses=[address for _, address in chunk])
            known = _known([method_id for method_id, _ in chunk])
            for method_id, address in chunk:
                seen = outputs.get(address, [])
                if _state(seen) == known.get(method_id, set()):
                    continue
                payment_method_sync(
                    payment_method_id=method_id,
                    outputs=[Output(o.txid, o.vout, o.value_sat, o.height or None, o.confirmations) for o in seen],
                    complete=True,
                    cause=cause,
                )
                changed += 1
    return changed


def _targets(queryset: QuerySet[PaymentMethod]) -> QuerySet:
    # Three columns, not model instances: building PaymentMethod + Wallet + Invoice objects was most
    # of the time of a reconciliation that finds nothing new.
    return queryset.values_list("pk", "address", "wallet__xpub")


def sync_methods(methods: list[PaymentMethod] | QuerySet[PaymentMethod], *, client: DaemonClient, cause: str) -> int:
    """Fetch the chain's view of these payment methods' addresses and apply the differences.

    Returns how many payment methods changed."""
    if isinstance(methods, QuerySet):
        targets = list(_targets(methods))
    else:
        targets = [(m.pk, m.address, m.wallet.xpub) for m in methods]
    return _sync_targets(targets, client=client, cause=cause)


def sync_addresses(*, xpub: str, addresses: list[str], client: DaemonClient, cause: str) -> int:
    targets = list(_targets(PaymentMethod.objects.filter(wallet__xpub=xpub, address__in=addresses)))
    return _sync_targets(targets, client=client, cause=cause) if targets else 0


def reconcile(*, client: DaemonClient, methods: QuerySet[PaymentMethod] | None = None, cause: str = "reconcile") -> int:
    """Re-check every watched invoice (open, or expired within its monitoring window)."""
    queryset = methods if methods is not None else payment_methods_watched()
    changed = 0
    chunk: list[Target] = []
    for target in _targets(queryset.order_by("pk")).iterator(chunk_size=BATCH):
        chunk.append(target)
        if len(chunk) >= BATCH:
            changed += _sync_targets(chunk, client=client, cause=cause)
            chunk = []
    if chunk:
        changed += _sync_targets(chunk, client=client, cause=cause)
    return changed


def waiting_for_confirmations() -> QuerySet[PaymentMethod]:
    """Payment methods with outputs whose confirmations still matter (a new block changes them)."""
    return payment_methods_watched().filter(is_used=True)
