"""Event fan-out: websocket subscribers and the per-wallet queues read by `get_updates`.

Message shape (Bitcart's): {"updates": [event], "currency": <coin>, "wallet": <wallet key> or None}.
A subscriber may send {"xpub": ...} to get only that wallet's events (plus global ones such as new_block)
and {"extended": true} to also get the events a coin publishes as extended (daemons/btc's `unverified_tx` /
`removed_tx`, which the `bitcart` SDK does not know: it logs unknown events as errors), so they are opt-in.
"""

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable

from aiohttp import WSCloseCode, web

logger = logging.getLogger("daemons.protocol.events")

SEND_TIMEOUT = 10  # seconds a subscriber may take to accept one message
MAX_BACKLOG = 10_000  # messages queued for one subscriber before it is dropped as too slow


def wallet_filter(value) -> str | None:
    """A subscriber's {"xpub": ...} as events carry it: a non-empty string, else no filter."""
    return value if isinstance(value, str) and value else None


class Subscriber:
    def __init__(self, ws: web.WebSocketResponse):
        self.ws = ws
        self.wallet: str | None = None
        self.extended = False
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.writer: asyncio.Task | None = None

    def wants(self, wallet: str | None, extended: bool) -> bool:
        if extended and not self.extended:
            return False
        return wallet is None or self.wallet is None or self.wallet == wallet

    async def write_loop(self) -> None:
        while not self.ws.closed:
            text = await self.queue.get()
            try:
                await asyncio.wait_for(self.ws.send_str(text), SEND_TIMEOUT)
            except (TimeoutError, ConnectionError, RuntimeError):
                logger.info("dropping websocket subscriber that stopped reading")
                await self.ws.close(code=WSCloseCode.GOING_AWAY, message=b"too slow")
                return


class Hub:
    def __init__(self, currency: str, polling_cap: int, normalize: Callable[[object], str | None] = wallet_filter):
        self.currency = currency
        self.subscribers: set[Subscriber] = set()
        self.polling_cap = polling_cap
        self.updates: dict[str, deque] = {}
        self.normalize = normalize  # wallet filter as sent by a client -> the form events carry, or None

    def track_wallet(self, wallet: str) -> None:
        if wallet not in self.updates:
            self.updates[wallet] = deque(maxlen=self.polling_cap)

    def publish(self, wallet: str | None, data: dict, *, extended: bool = False) -> None:
        text = json.dumps({"updates": [data], "currency": self.currency, "wallet": wallet})
        for sub in list(self.subscribers):
            if sub.wants(wallet, extended):
                if sub.queue.qsize() >= MAX_BACKLOG:
                    self.subscribers.discard(sub)
                    asyncio.get_running_loop().create_task(sub.ws.close(code=WSCloseCode.GOING_AWAY))
                    continue
                sub.queue.put_nowait(text)
        if extended or not self.polling_cap:
            return
        for key, queue in self.updates.items():
            if wallet is None or key == wallet:
                queue.append(dict(data))

    def drain(self, wallet: str) -> list[dict]:
        """Events since the last call for this wallet; the first call starts the queue (returns [])."""
        self.track_wallet(wallet)
        queue = self.updates[wallet]
        items = list(queue)
        queue.clear()
        return items

    async def serve(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=64 * 1024)
        await ws.prepare(request)
        sub = Subscriber(ws)
        sub.writer = asyncio.get_running_loop().create_task(sub.write_loop())
        self.subscribers.add(sub)
        try:
            async for msg in ws:
                if msg.type != web.WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    continue
                if not isinstance(data, dict):
                    continue
                if "xpub" in data:
                    sub.wallet = self.normalize(data["xpub"])
                if "extended" in data:
                    sub.extended = bool(data["extended"])
        finally:
            self.subscribers.discard(sub)
            sub.writer.cancel()
        return ws

    async def close(self) -> None:
        for sub in list(self.subscribers):
            await sub.ws.close(code=WSCloseCode.GOING_AWAY, message=b"Server shutdown")
            if sub.writer:
                sub.writer.cancel()
        self.subscribers.clear()
