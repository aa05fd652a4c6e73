"""Event fan-out: websocket subscribers and the per-wallet queues read by `get_updates`.

Message shape (Bitcart's): {"updates": [event], "currency": "BTC", "wallet": xpub or None}.
A subscriber may send {"xpub": ...} to get only that wallet's events (plus global ones such as new_block)
and {"extended": true} to also get `unverified_tx` / `removed_tx`, which the `bitcart` SDK does not know
(it logs unknown events as errors), so they are opt-in.
"""

import asyncio
import json
import logging
from collections import deque

from aiohttp import WSCloseCode, web

logger = logging.getLogger("daemons.btc.events")

SEND_TIMEOUT = 10  # seconds a subscriber may take to accept one message
MAX_BACKLOG = 10_000  # messages queued for one subscriber before it is dropped as too slow


class Subscriber:
    def __init__(self, ws: web.WebSocketResponse):
        self.ws = ws
        self.xpub: str | None = None
        self.extended = False
        self.queue: asyncio.Queue = asyncio.Queue()
        self.writer: asyncio.Task | None = None

    def wants(self, xpub: str | None, extended: bool) -> bool:
        if extended and not self.extended:
            return False
        return xpub is None or self.xpub is None or self.xpub == xpub

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
    def __init__(self, polling_cap: int):
        self.subscribers: set[Subscriber] = set()
        self.polling_cap = polling_cap
        self.updates: dict[str, deque] = {}

    def track_wallet(self, xpub: str) -> None:
        if xpub not in self.updates:
            self.updates[xpub] = deque(maxlen=self.polling_cap)

    def publish(self, xpub: str | None, data: dict, *, extended: bool = False) -> None:
        text = json.dumps({"updates": [data], "currency": "BTC", "wallet": xpub})
        for sub in list(self.subscribers):
            if sub.wants(xpub, extended):
                if sub.queue.qsize() >= MAX_BACKLOG:
                    self.subscribers.discard(sub)
                    asyncio.get_running_loop().create_task(sub.ws.close(code=WSCloseCode.GOING_AWAY))
                    continue
                sub.queue.put_nowait(text)
        if extended or not self.polling_cap:
            return
        for key, queue in self.updates.items():
            if xpub is None or key == xpub:
                queue.append(dict(data))

    def drain(self, xpub: str) -> list[dict]:
        self.track_wallet(xpub)
        queue = self.updates[xpub]
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
                    xpub = data["xpub"]
                    sub.xpub = xpub if isinstance(xpub, str) and xpub else None
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
