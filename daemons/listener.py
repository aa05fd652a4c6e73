"""The listener: holds one websocket to one chain's daemon and turns its events into invoice updates.

One listener per enabled chain (coins.registry; supervisord runs `manage.py listen --chain <key>` for each), so
a chain whose daemon is down holds up nothing of another chain's.

Events are only a trigger. For every event the listener asks the daemon for the authoritative
outputs of the addresses concerned and applies them through the idempotent sync service; after
every (re)connect it re-registers the watch list and re-checks every watched invoice (while it
already applies new events). So an event lost while anything was down is found again, and nothing
is ever acknowledged before its effect is committed (nothing is acknowledged at all).

The after-commit effects of those changes (live pushes, task enqueues) go to the listener's event
loop (effects.BackgroundEffects), so the thread applying events goes on to the next one at once.
"""

import asyncio
import base64
import json
import logging
import random
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import websockets
from asgiref.sync import sync_to_async
from django.db import close_old_connections
from django.utils import timezone

from coins import registry
from coins.registry import Family
from daemons.client import DaemonClient, DaemonError
from invoices import effects, reconcile
from invoices.watch import watch_all, watch_recent

logger = logging.getLogger(__name__)

# removed_tx / unverified_tx (dropped or reorged transactions) are opt-in: see run_once.
ADDRESS_EVENTS = frozenset({"new_transaction", "verified_tx", "new_payment", "removed_tx", "unverified_tx"})
MAX_BACKOFF = 30.0
WATCH_INTERVAL = 0.5  # seconds between looks for new invoices' addresses
WATCH_OVERLAP = timedelta(seconds=10)  # re-look this far back: commits land out of creation order
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
EFFECTS_DRAIN = 5.0  # seconds, on stop, to send the live pushes and task enqueues still queued


def ws_url(daemon_url: str) -> str:
    parts = urlsplit(daemon_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/ws", "", ""))


class Listener:
    def __init__(self, client: DaemonClient | None = None):
        self.client = client or DaemonClient()
        # Bitcoin-family daemons watch the addresses Django registers; Ethereum-family ones watch what they
        # opened a request for, and name it by request id in their events.
        self.registers_addresses = registry.chain(self.client.chain).family == Family.BITCOIN
        self.connected = asyncio.Event()
        self.resyncs = 0
        self.watch_cursor: datetime = timezone.now()
        self.registered: dict[str, datetime] = {}  # recently registered payment methods
        # While run() runs, after-commit effects go to its event loop (see effects.BackgroundEffects).
        self.effects: effects.BackgroundEffects | None = None

    # --- blocking work, run in a thread so the websocket keeps being read ---

    def _db(self, function, *args, **kwargs):
        close_old_connections()
        try:
            with effects.effects_in_background(self.effects):
                return function(*args, **kwargs)
        finally:
            close_old_connections()

    def resync(self) -> int:
        self.watch_cursor = timezone.now() - WATCH_OVERLAP
        if self.registers_addresses:
            watch_all(client=self.client)
        changed = reconcile.reconcile(client=self.client, cause="reconnect")
        self.resyncs += 1
        return changed

    def on_addresses(self, xpub: str, addresses: list[str]) -> int:
        """`addresses`: the payment methods' lookups (addresses, or request ids) named by the events."""
        return reconcile.sync_addresses(xpub=xpub, addresses=addresses, client=self.client, cause="daemon")

    def watch_new(self) -> int:
        """Register addresses of invoices created since the last look (with an overlap)."""
        started = timezone.now()
        registered = watch_recent(client=self.client, since=self.watch_cursor, skip=set(self.registered))
        self.registered.update(dict.fromkeys(registered, started))
        if registered:
            logger.info("registered %s new address(es) with the daemon", len(registered))
        self.watch_cursor = started - WATCH_OVERLAP
        # Forget what fell out of the overlap window: the set stays as small as one window.
        self.registered = {pk: at for pk, at in self.registered.items() if at >= self.watch_cursor}
        return len(registered)

    async def watch_loop(self) -> None:
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            try:
                await sync_to_async(self._db, thread_sensitive=False)(self.watch_new)
            except DaemonError as exc:
                logger.warning("registering new addresses failed (%s); retrying", exc)

    def on_block(self) -> int:
        # One bulk query per block for every invoice whose confirmations still matter (also
        # catches reorgs: heights and dropped outputs come from the daemon's view).
        return reconcile.sync_methods(reconcile.waiting_for_confirmations(), client=self.client, cause="block")

    # --- the websocket loop ---

    async def handle(self, message: dict) -> None:
        xpub = message.get("wallet")
        addresses: set[str] = set()
        block = False
        for update in message.get("updates") or []:
            if not isinstance(update, dict):
                continue
            event = update.get("event")
            if event == "new_block":
                block = True
            elif event in ADDRESS_EVENTS:
                addresses.update(self.lookups(update))
        if addresses and isinstance(xpub, str):
            await sync_to_async(self._db, thread_sensitive=False)(self.on_addresses, xpub, sorted(addresses))
        if block:
            await sync_to_async(self._db, thread_sensitive=False)(self.on_block)

    def lookups(self, update: dict) -> list[str]:
        """The payment methods an address event is about, by their lookup."""
        if not self.registers_addresses:
            # Ethereum-family: the request id (null for a transfer that matched no request).
            request_id = update.get("request_id")
            return [request_id] if isinstance(request_id, str) and request_id else []
        # Bitcoin addresses are in `addresses` for every address event. Not `address`: in `new_payment`
        # that is the SDK request's key (Bitcart's contract), not an address.
        found = update.get("addresses") or []
        return [a for a in found if isinstance(a, str)] if isinstance(found, list) else []

    async def run_once(self) -> None:
        login, password = self.client.auth
        token = base64.b64encode(f"{login}:{password}".encode()).decode()
        async with websockets.connect(
            ws_url(self.client.url),
            additional_headers={"Authorization": f"Basic {token}"},
            open_timeout=10,
            ping_interval=20,
            ping_timeout=20,
            max_size=MAX_MESSAGE_BYTES,
        ) as ws:
            await ws.send(json.dumps({"extended": True}))
            # Make the daemon watch everything and catch up, while already reading new events: a
            # full pass over 100k invoices takes a while, and the events that arrive meanwhile are
            # exactly the payments to apply first. Both paths are idempotent and lock the invoice.
            reader = asyncio.ensure_future(self._read(ws))
            resync = asyncio.ensure_future(sync_to_async(self._db, thread_sensitive=False)(self.resync))
            # If the connection ends first, the pass still finishes in its thread; its outcome no longer matters.
            resync.add_done_callback(lambda future: future.cancelled() or future.exception())
            try:
                await asyncio.wait({reader, resync}, return_when=asyncio.FIRST_COMPLETED)
                if not resync.done():
                    reader.result()  # the connection ended first: its error, if any, reconnects
                    return
                changed = resync.result()  # a daemon error here reconnects, and so resyncs again
                logger.info("listener connected; resync changed %s payment methods", changed)
                self.connected.set()
                watcher = asyncio.ensure_future(
                    self.watch_loop() if self.registers_addresses else asyncio.Event().wait()
                )
                try:
                    await reader
                finally:
                    watcher.cancel()
            finally:
                if not reader.done():
                    reader.cancel()
                    try:
                        await reader
                    except asyncio.CancelledError:
                        pass

    async def _read(self, ws) -> None:
        async for raw in ws:
            try:
                message = json.loads(raw)
            except ValueError:
                logger.warning("ignoring a non-JSON message from the daemon")
                continue
            if isinstance(message, dict):
                await self.handle(message)

    async def run(self, *, stop: asyncio.Event | None = None) -> None:
        runner = effects.BackgroundEffects(asyncio.get_running_loop())
        effects_task = asyncio.ensure_future(runner.run())
        effects_task.add_done_callback(self._effects_stopped)
        self.effects = runner
        try:
            await self._run(stop=stop or asyncio.Event())
        finally:
            self.effects = None
            if not effects_task.done():
                try:
                    await asyncio.wait_for(runner.queue.join(), timeout=EFFECTS_DRAIN)
                except TimeoutError:
                    logger.warning("listener stopping with %s effect(s) unsent", runner.queue.qsize())
                effects_task.cancel()

    def _effects_stopped(self, task: asyncio.Task) -> None:
        self.effects = None  # from now on effects run in the committing thread again
        if not task.cancelled() and task.exception() is not None:
            logger.error("background effects stopped (%r); running them in place", task.exception())

    async def _run(self, *, stop: asyncio.Event) -> None:
        backoff = 0.5
        while not stop.is_set():
            connection = asyncio.ensure_future(self.run_once())
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait({connection, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not connection.done():
                connection.cancel()
                try:
                    await connection
                except asyncio.CancelledError:
                    pass
                break
            try:
                connection.result()
                backoff = 0.5
            except (TimeoutError, OSError, websockets.WebSocketException, DaemonError) as exc:
                logger.warning("listener: %s; reconnecting in %.1fs", exc, backoff)
            self.connected.clear()
            try:
                await asyncio.wait_for(stop.wait(), timeout=backoff * (0.5 + random.random()))
            except TimeoutError:
                pass
            backoff = min(backoff * 2, MAX_BACKOFF)
        self.connected.clear()
