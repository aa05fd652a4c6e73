"""The listener: holds one websocket to the coin daemon and turns its events into invoice updates.

Events are only a trigger. For every event the listener asks the daemon for the authoritative
outputs of the addresses concerned and applies them through the idempotent sync service; after
every (re)connect it re-registers the watch list and re-checks every watched invoice before it
reads new events. So an event lost while anything was down is found again, and nothing is ever
acknowledged before its effect is committed (nothing is acknowledged at all).
"""

import asyncio
import base64
import json
import logging
import random
from urllib.parse import urlsplit, urlunsplit

import websockets
from asgiref.sync import sync_to_async
from django.db import close_old_connections

from daemons.client import DaemonClient, DaemonError
from invoices import reconcile
from invoices.watch import watch_all

logger = logging.getLogger(__name__)

# removed_tx / unverified_tx (dropped or reorged transactions) are opt-in: see run_once.
ADDRESS_EVENTS = frozenset({"new_transaction", "verified_tx", "new_payment", "removed_tx", "unverified_tx"})
MAX_BACKOFF = 30.0
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


def ws_url(daemon_url: str) -> str:
    parts = urlsplit(daemon_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/ws", "", ""))


class Listener:
    def __init__(self, client: DaemonClient | None = None):
        self.client = client or DaemonClient()
        self.connected = asyncio.Event()
        self.resyncs = 0

    # --- blocking work, run in a thread so the websocket keeps being read ---

    def _db(self, function, *args, **kwargs):
        close_old_connections()
        try:
            return function(*args, **kwargs)
        finally:
            close_old_connections()

    def resync(self) -> int:
        watch_all(client=self.client)
        changed = reconcile.reconcile(client=self.client, cause="reconnect")
        self.resyncs += 1
        return changed

    def on_addresses(self, xpub: str, addresses: list[str]) -> int:
        return reconcile.sync_addresses(xpub=xpub, addresses=addresses, client=self.client, cause="daemon")

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
                found = update.get("addresses") or ([update["address"]] if update.get("address") else [])
                addresses.update(a for a in found if isinstance(a, str))
        if addresses and isinstance(xpub, str):
            await sync_to_async(self._db, thread_sensitive=False)(self.on_addresses, xpub, sorted(addresses))
        if block:
            await sync_to_async(self._db, thread_sensitive=False)(self.on_block)

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
            # Before reading new events: make the daemon watch everything and catch up.
            changed = await sync_to_async(self._db, thread_sensitive=False)(self.resync)
            logger.info("listener connected; resync changed %s payment methods", changed)
            self.connected.set()
            async for raw in ws:
                try:
                    message = json.loads(raw)
                except ValueError:
                    logger.warning("ignoring a non-JSON message from the daemon")
                    continue
                if isinstance(message, dict):
                    await self.handle(message)

    async def run(self, *, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
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
