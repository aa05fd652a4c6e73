"""Make the database agree with the chain, in bulk.

Used by the listener after every (re)connect and on every new block, and by Celery beat. It asks
the daemon for the authoritative outputs of many addresses per call, compares them with the
Payment rows in memory, and runs the (idempotent, locking) sync service only where they differ.

One chain at a time: the client's (DaemonClient.chain). Payment methods are named to the daemon by
their `lookup` (the address for bitcoin-family coins, the request id for Ethereum-family ones).
"""

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import NamedTuple

from django.db.models import QuerySet

from coins import registry
from daemons.client import ChainOutput, DaemonClient
from invoices.models import InvoiceStatus, Payment, PaymentMethod
from invoices.selectors import payment_methods_watched
from invoices.services import Output, payment_method_sync
from wallets.models import Wallet

logger = logging.getLogger(__name__)
BATCH = 1000
PENDING_ROUNDS = 5  # passes over addresses the daemon answered as `pending` (each call is time-bounded)


def _state(outputs: Iterable[ChainOutput]) -> set[tuple[str, int, int, int]]:
    return {(o.txid, o.vout, o.value, o.confirmations) for o in outputs}


Known = dict[str, set[tuple[str, int, int, int]]]


def _known(method_ids: list[str] | QuerySet) -> Known:
    """What the database holds, per payment method: ids, or a subquery of them (one query for a
    whole reconciliation instead of one per batch, each with 1000 parameters to build)."""
    known: Known = defaultdict(set)
    rows = Payment.objects.filter(payment_method_id__in=method_ids).exclude(state=Payment.State.DROPPED)
    for method_id, txid, vout, amount, confirmations in rows.values_list(
        "payment_method_id", "txid", "vout", "amount", "confirmations"
    ):
        known[method_id].add((txid, vout, amount, confirmations))
    return known


# (payment method id, lookup, xpub): all reconciliation needs to know about a payment method.
Target = tuple[str, str, str]


class Synced(NamedTuple):
    changed: int  # payment methods that changed
    unresolved: list[str]  # payment methods the daemon could not answer for: nothing was concluded


def _sync_targets(
    targets: list[Target],
    *,
    client: DaemonClient,
    cause: str,
    progress: Callable[[], object] | None = None,
    known: Known | None = None,
) -> Synced:
    """Compare the daemon's outputs with `known` (read per batch if not given) and sync what differs.
    A payment written after `known` was read only makes an extra, idempotent sync."""
    by_xpub: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for method_id, address, xpub in targets:
        by_xpub[xpub].append((method_id, address))
    changed = 0
    unresolved: list[str] = []
    for xpub, group in by_xpub.items():
        # Addresses the daemon could not answer in time (still loading them after a restart: it takes
        # them ahead of its queue when asked) are asked again after the pass, a bounded number of times.
        for _round in range(PENDING_ROUNDS):
            pending: list[tuple[str, str]] = []
            for start in range(0, len(group), BATCH):
                chunk = group[start : start + BATCH]
                answer = client.get_address_outputs(xpub=xpub, addresses=[address for _, address in chunk])
                outputs, unknown = answer.outputs, set(answer.unknown)
                held = known if known is not None else _known([method_id for method_id, _ in chunk])
                for method_id, address in chunk:
                    if address in unknown:
                        # Asking again cannot help: nothing is concluded, and the operator must look.
                        logger.error("the %s daemon has no record of %s (its data was lost?)", client.chain, address)
                        unresolved.append(method_id)
                        continue
                    if address not in outputs:
                        pending.append((method_id, address))
                        continue
                    seen = outputs[address]
                    if _state(seen) == held.get(method_id, set()):
                        continue
                    payment_method_sync(
                        payment_method_id=method_id,
                        outputs=[Output(o.txid, o.vout, o.value, o.height or None, o.confirmations) for o in seen],
                        complete=True,
                        cause=cause,
                    )
                    changed += 1
                if progress is not None:
                    progress()
            group = pending
            if not group:
                break
        if group:
            logger.warning(
                "%s address(es) of %s… still loading in the daemon; left for the next pass", len(group), xpub[:16]
            )
            unresolved += [method_id for method_id, _ in group]
    return Synced(changed, unresolved)


def _targets(queryset: QuerySet[PaymentMethod]) -> list[Target]:
    """Three columns in one plain query, not model instances: building PaymentMethod + Wallet +
    Invoice objects was most of the time of a reconciliation that finds nothing new. Not
    .iterator() either: PostgreSQL plans a server-side cursor for a fast start, and with stale
    statistics (right after many invoices were created) that plan took 3.6 s for 10k rows
    instead of 30 ms."""
    rows = list(queryset.values_list("pk", "lookup", "wallet_id"))
    xpubs = dict(Wallet.objects.filter(pk__in={wallet_id for _, _, wallet_id in rows}).values_list("pk", "xpub"))
    return [(method_id, address, xpubs[wallet_id]) for method_id, address, wallet_id in rows]


def on_chain(queryset: QuerySet[PaymentMethod], client: DaemonClient) -> QuerySet[PaymentMethod]:
    """The payment methods of the client's chain (its wallets' currency is the chain's symbol)."""
    return queryset.filter(wallet__currency=registry.chain(client.chain).symbol)


def sync_methods(methods: list[PaymentMethod] | QuerySet[PaymentMethod], *, client: DaemonClient, cause: str) -> int:
    """Fetch the chain's view of these payment methods' addresses and apply the differences.

    Returns how many payment methods changed."""
    if isinstance(methods, QuerySet):
        targets = _targets(on_chain(methods, client))
    else:
        symbol = registry.chain(client.chain).symbol
        targets = [(m.pk, m.lookup, m.wallet.xpub) for m in methods if m.wallet.currency == symbol]
    return _sync_targets(targets, client=client, cause=cause).changed


def sync_invoices(invoice_ids: list[str], *, client: DaemonClient, cause: str) -> set[str]:
    """Apply the chain's view of these invoices' addresses (those of the client's chain); returns the invoices
    the daemon could not (yet) answer for, about which nothing may be concluded."""
    targets = _targets(on_chain(PaymentMethod.objects.filter(invoice_id__in=invoice_ids), client))
    unresolved = set(_sync_targets(targets, client=client, cause=cause).unresolved)
    if not unresolved:
        return set()
    return set(PaymentMethod.objects.filter(pk__in=unresolved).values_list("invoice_id", flat=True))


def sync_addresses(*, xpub: str, addresses: list[str], client: DaemonClient, cause: str) -> int:
    """The listener's path for a daemon event: the wallet is known, so one query finds the targets.
    `addresses` are lookups: addresses, or request ids."""
    rows = on_chain(PaymentMethod.objects.filter(wallet__xpub=xpub, lookup__in=addresses), client).values_list(
        "pk", "lookup"
    )
    targets = [(method_id, address, xpub) for method_id, address in rows]
    return _sync_targets(targets, client=client, cause=cause).changed if targets else 0


def reconcile(
    *,
    client: DaemonClient,
    methods: QuerySet[PaymentMethod] | None = None,
    cause: str = "reconcile",
    progress: Callable[[], object] | None = None,
) -> int:
    """Re-check every watched invoice (open, or expired or complete within its monitoring window).

    `progress` is called after every daemon batch (the periodic task renews its lock there)."""
    queryset = on_chain(methods if methods is not None else payment_methods_watched(), client)
    targets = _targets(queryset.order_by("pk"))
    known = _known(queryset.order_by().values("pk"))
    return _sync_targets(targets, client=client, cause=cause, progress=progress, known=known).changed


def waiting_for_confirmations() -> QuerySet[PaymentMethod]:  # of every chain: callers pass it with their client
    """Payment methods with outputs whose confirmations still matter (a new block changes them).

    Not those of complete invoices: their status no longer depends on confirmations, and a new
    payment to them comes as a daemon event (or the periodic reconciliation finds it)."""
    return payment_methods_watched().filter(is_used=True).exclude(invoice__status=InvoiceStatus.COMPLETE)
