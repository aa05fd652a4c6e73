"""Side effects of invoice changes, run only after the transaction commits: the one fan-out.

Everything durable is written inside the transaction: the InvoiceEvent row and its outbox messages
(webhooks, the buyer's e-mail, merchant notifications; webhooks.services). On commit,
`on_invoice_changed` is the only hook: it pushes the live state to the checkout page and queues
invoice_event_task, which queues each outbox message's delivery. In the listener both leave from
its event loop (BackgroundEffects). All of it is best-effort delivery of what the database already
holds: the page polls, and the outbox sweep re-queues every message still due.
"""

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import close_old_connections, transaction
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError

from bitcart.celery import task_enqueue
from invoices.consumers import invoice_group
from invoices.payloads import sent_amount_text

logger = logging.getLogger(__name__)


def invoice_public_state(invoice) -> dict:
    """Bitcart's live-update message shape."""
    return {
        "status": invoice.status,
        "exception_status": invoice.exception_status,
        "sent_amount": sent_amount_text(invoice),
        "paid_currency": invoice.paid_currency,
        "payment_id": None,
    }


def invoice_push(invoice_id: str, state: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(invoice_group(invoice_id), {"type": "invoice.update", "data": state})
    except (RedisError, OSError) as exc:  # the page falls back to polling; nothing is lost
        logger.warning("live push for invoice %s failed: %s", invoice_id, exc)


def invoice_event_dispatch(event_id: int) -> None:
    # By name: invoices.tasks imports the services that call this module.
    try:
        task_enqueue("invoices.tasks.invoice_event_task", event_id)
    except BrokerError as exc:  # its messages are rows: the outbox sweep delivers them later
        logger.warning("could not queue invoice event %s: %s", event_id, exc)


def deliver(invoice_id: str, state: dict, event_id: int | None) -> None:
    """The effects of one committed change, in this thread."""
    invoice_push(invoice_id, state)
    if event_id is not None:
        invoice_event_dispatch(event_id)


class BackgroundEffects:
    """After-commit effects handed to a long-running event loop (the listener's) instead of run in
    the committing thread, so they never hold up the next change.

    Live pushes go out in commit order over the loop's one channel-layer connection (in a thread,
    async_to_sync starts a thread and an event loop, and connects to Redis, for every push); task
    enqueues run in the loop's executor. Whatever is still queued when the process stops is lost
    without harm: the page polls, and the outbox sweep queues every message still due.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, *, limit: int = 10_000):
        self.loop = loop
        self.queue: asyncio.Queue[tuple[str, dict, int | None]] = asyncio.Queue(limit)

    def submit(self, invoice_id: str, state: dict, event_id: int | None) -> None:
        """Thread-safe; returns at once."""
        try:
            self.loop.call_soon_threadsafe(self._put, (invoice_id, state, event_id))
        except RuntimeError:  # the loop has closed (the process is stopping): deliver here
            deliver(invoice_id, state, event_id)

    def _put(self, item: tuple[str, dict, int | None]) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            logger.warning("effects queue full: no live push for invoice %s (event %s: swept)", item[0], item[2])

    async def run(self) -> None:
        layer = get_channel_layer()
        while True:
            invoice_id, state, event_id = await self.queue.get()
            try:
                if layer is not None:
                    try:
                        await layer.group_send(invoice_group(invoice_id), {"type": "invoice.update", "data": state})
                    except (RedisError, OSError) as exc:
                        logger.warning("live push for invoice %s failed: %s", invoice_id, exc)
                if event_id is not None:
                    await self.loop.run_in_executor(None, _dispatch_in_worker_thread, event_id)
            finally:
                self.queue.task_done()


def _dispatch_in_worker_thread(event_id: int) -> None:
    try:
        invoice_event_dispatch(event_id)
    finally:
        close_old_connections()  # an eager task (tests) used this pool thread's connection: give it back


_background: ContextVar[BackgroundEffects | None] = ContextVar("invoice_background_effects", default=None)


@contextmanager
def effects_in_background(runner: BackgroundEffects | None) -> Iterator[None]:
    """Changes committed in this block hand their effects to `runner` (None: run them in place)."""
    token = _background.set(runner)
    try:
        yield
    finally:
        _background.reset(token)


def on_invoice_changed(invoice, event_id: int | None) -> None:
    """Schedule the after-commit effects of a change made in the current transaction."""
    state = invoice_public_state(invoice)
    invoice_id = invoice.pk
    background = _background.get()

    def _after_commit() -> None:
        if background is not None:
            background.submit(invoice_id, state, event_id)
        else:
            deliver(invoice_id, state, event_id)

    transaction.on_commit(_after_commit, robust=True)
