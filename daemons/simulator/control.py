"""The control port: a tiny HTTP/1.1 JSON API that plays "the rest of the network".

POST /pay      {"address", "amount_sat"} or {"outputs": [{"address", "amount_sat"}, ...]}
POST /mine     {"blocks": 1, "address": optional}
POST /drop     {"txid"}
POST /reorg    {"depth": 1, "keep_txs": true, "drop_txids": [], "blocks": depth}
POST /broadcast {"hex"}
POST /tx       {"txid"}
POST /info     {}        (GET /info works too)

Answers are JSON; failures are {"error": {"code", "message"}} with status 400/404/405/413.
It runs on the same event loop as the Electrum server, so every call is applied atomically with
respect to Electrum sessions and its notifications go out before the HTTP answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from daemons.simulator.chain import Chain, ChainError
from daemons.simulator.server import ElectrumServer

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
MAX_HEAD_BYTES = 16 * 1024
READ_TIMEOUT = 10.0

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 413: "Payload Too Large"}


class HTTPError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _arg(body: dict[str, Any], name: str, default: Any = None, *, required: bool = False) -> Any:
    if required and name not in body:
        raise HTTPError(400, "missing_argument", f"missing argument {name!r}")
    return body.get(name, default)


class ControlServer:
    def __init__(self, chain: Chain, electrum: ElectrumServer) -> None:
        self.chain = chain
        self.electrum = electrum
        self._server: asyncio.Server | None = None
        self._routes: dict[str, Callable[[dict[str, Any]], Any]] = {
            "/pay": self.pay,
            "/mine": self.mine,
            "/drop": self.drop,
            "/reorg": self.reorg,
            "/broadcast": self.broadcast,
            "/tx": self.tx,
            "/info": self.info,
        }

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._serve, host, port, limit=MAX_HEAD_BYTES)
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # --- calls ------------------------------------------------------------------------------------

    def pay(self, body: dict[str, Any]) -> dict[str, Any]:
        if "outputs" in body:
            outputs = body["outputs"]
            if not isinstance(outputs, list) or not all(isinstance(item, dict) for item in outputs):
                raise HTTPError(400, "bad_outputs", "outputs must be a list of {address, amount_sat}")
            items = outputs
        else:
            items = [body]
        pairs = [(_arg(item, "address", required=True), _arg(item, "amount_sat", required=True)) for item in items]
        return self.chain.pay(pairs)

    def mine(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.chain.mine(_arg(body, "blocks", 1), _arg(body, "address"))

    def drop(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.chain.drop(_arg(body, "txid", required=True))

    def reorg(self, body: dict[str, Any]) -> dict[str, Any]:
        drop_txids = _arg(body, "drop_txids", [])
        if not isinstance(drop_txids, list):
            raise HTTPError(400, "bad_txid", "drop_txids must be a list of txids")
        keep_txs = _arg(body, "keep_txs", True)
        if not isinstance(keep_txs, bool):
            raise HTTPError(400, "bad_argument", "keep_txs must be a boolean")
        return self.chain.reorg(_arg(body, "depth", 1), keep_txs, drop_txids, _arg(body, "blocks"))

    def broadcast(self, body: dict[str, Any]) -> dict[str, Any]:
        raw_hex = _arg(body, "hex", required=True)
        try:
            raw = bytes.fromhex(raw_hex)
        except (TypeError, ValueError):
            raise HTTPError(400, "bad_hex", "hex must be a hex string")
        return {"txid": self.chain.broadcast(raw)}

    def tx(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.chain.tx_info(_arg(body, "txid", required=True))

    def info(self, body: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.chain.info(),
            "sessions": len(self.electrum.sessions),
            "requests": dict(self.electrum.request_counts),
        }

    # --- HTTP ---------------------------------------------------------------------------------------

    def dispatch(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        route = self._routes.get(path.split("?", 1)[0].rstrip("/") or "/")
        try:
            if route is None:
                raise HTTPError(404, "not_found", f"no such call {path!r}; try {sorted(self._routes)}")
            if method != "POST" and not (method == "GET" and route == self.info):
                raise HTTPError(405, "method_not_allowed", "use POST with a JSON object body")
            try:
                arguments = json.loads(body) if body.strip() else {}
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise HTTPError(400, "bad_json", "the body must be a JSON object")
            if not isinstance(arguments, dict):
                raise HTTPError(400, "bad_json", "the body must be a JSON object")
            try:
                result = route(arguments)
            finally:
                # Publish even after a failure midway: whatever was applied must reach subscribers.
                self.electrum.publish(self.chain.take_changes())
        except HTTPError as exc:
            return exc.status, {"error": {"code": exc.code, "message": exc.message}}
        except ChainError as exc:
            status = 404 if exc.code == "not_found" else 400
            return status, {"error": {"code": exc.code, "message": exc.message}}
        return 200, result

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, payload = await asyncio.wait_for(self._read_and_dispatch(reader), READ_TIMEOUT)
        except HTTPError as exc:
            status, payload = exc.status, {"error": {"code": exc.code, "message": exc.message}}
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        data = json.dumps(payload).encode()
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\nConnection: close\r\n\r\n"
        )
        try:
            writer.write(head.encode("ascii") + data)
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _read_and_dispatch(self, reader: asyncio.StreamReader) -> tuple[int, dict[str, Any]]:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            raise HTTPError(400, "bad_request", "malformed request line")
        method, path, _ = parts
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            raise HTTPError(400, "bad_request", "chunked bodies are not supported; send Content-Length")
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            raise HTTPError(400, "bad_request", "bad Content-Length")
        if not 0 <= length <= MAX_BODY_BYTES:
            raise HTTPError(413, "too_large", f"the body is limited to {MAX_BODY_BYTES} bytes")
        body = await reader.readexactly(length)
        return self.dispatch(method, path, body)
