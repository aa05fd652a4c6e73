"""The Electrum protocol (1.4) side: newline-delimited JSON-RPC 2.0 over plain TCP.

Electrum (aiorpcx) pipelines requests on one connection and treats any notification it did not
subscribe to as a protocol violation that closes the session, so every notification here is gated on
the session's own subscriptions and sent only when the status actually changed.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import json
import logging
from collections.abc import Callable
from typing import Any

from daemons.simulator.chain import Chain, ChainError, Changes

logger = logging.getLogger(__name__)

SERVER_VERSION = "sim 0.1"
PROTOCOL_VERSION = "1.4"
MAX_LINE_BYTES = 4 * 1024 * 1024  # a broadcast of a 400 kB tx is 800 kB of hex inside the JSON
MAX_BATCH = 1000
MAX_SESSIONS = 256
MAX_HEADERS_PER_CALL = 2016
MAX_WRITE_BUFFER = 16 * 1024 * 1024  # a client that stops reading is cut off rather than buffered forever

# JSON-RPC error codes (aiorpcx's JSONRPC constants); 1/2 are ElectrumX's "bad request"/"daemon error".
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
BAD_REQUEST = 1


class RPCError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _hash_param(value: Any, what: str) -> str:
    if not isinstance(value, str) or len(value) != 64:
        raise RPCError(BAD_REQUEST, f"{what} should be a 64-character hex string")
    try:
        bytes.fromhex(value)
    except ValueError:
        raise RPCError(BAD_REQUEST, f"{what} should be a 64-character hex string")
    return value


def _int_param(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RPCError(BAD_REQUEST, f"{what} should be a non-negative integer")
    return value


class Session:
    def __init__(self, server: ElectrumServer, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.writer = writer
        self.peer = writer.get_extra_info("peername")
        self.headers_subscribed = False
        # scripthash (lower-case) -> (the exact string the client sent, last status sent to it)
        self.scripthashes: dict[str, tuple[str, str | None]] = {}

    def send(self, message: dict[str, Any] | list[dict[str, Any]]) -> None:
        if self.writer.is_closing():
            return
        self.writer.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
        if self.writer.transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            logger.warning("closing %s: not reading its notifications", self.peer)
            self.writer.transport.abort()

    def notify(self, method: str, params: list[Any]) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def on_changes(self, changes: Changes) -> None:
        chain = self.server.chain
        if changes.tip_changed and self.headers_subscribed:
            tip = {"height": chain.height, "hex": chain.header_hex(chain.height)}
            self.notify("blockchain.headers.subscribe", [tip])
        for scripthash in changes.scripthashes:
            entry = self.scripthashes.get(scripthash)
            if entry is None:
                continue
            sent_as, last_status = entry
            status = chain.status(scripthash)
            if status != last_status:
                self.scripthashes[scripthash] = (sent_as, status)
                self.notify("blockchain.scripthash.subscribe", [sent_as, status])


class ElectrumServer:
    def __init__(self, chain: Chain, *, batches: bool = True) -> None:
        self.chain = chain
        self.batches = batches
        self.sessions: set[Session] = set()
        # Per-method request counts: lets tests see what Electrum asked (e.g. a merkle re-fetch after a reorg).
        self.request_counts: collections.Counter[str] = collections.Counter()
        self._server: asyncio.Server | None = None
        self._handlers: dict[str, Callable[..., Any]] = {
            "server.version": self.server_version,
            "server.banner": lambda session: "Bitcart regtest simulator. No real funds: this chain is a test double.",
            "server.donation_address": lambda session: "",
            "server.peers.subscribe": lambda session: [],
            "server.ping": lambda session: None,
            "server.features": self.server_features,
            "blockchain.headers.subscribe": self.headers_subscribe,
            "blockchain.block.header": self.block_header,
            "blockchain.block.headers": self.block_headers,
            # Electrum hard-codes regtest fees; these answers only need the right shape (BTC/kvB).
            "blockchain.estimatefee": lambda session, number, mode=None: 0.00001,
            "blockchain.relayfee": lambda session: 0.00001,
            "mempool.get_fee_histogram": lambda session: [],
            "blockchain.scripthash.subscribe": self.scripthash_subscribe,
            "blockchain.scripthash.unsubscribe": self.scripthash_unsubscribe,
            "blockchain.scripthash.get_history": self.scripthash_history,
            "blockchain.scripthash.get_mempool": self.scripthash_mempool,
            "blockchain.scripthash.listunspent": self.scripthash_listunspent,
            "blockchain.scripthash.get_balance": self.scripthash_balance,
            "blockchain.transaction.get": self.transaction_get,
            "blockchain.transaction.get_merkle": self.transaction_merkle,
            "blockchain.transaction.id_from_pos": self.transaction_id_from_pos,
            "blockchain.transaction.broadcast": self.transaction_broadcast,
        }
        self._signatures = {name: inspect.signature(handler) for name, handler in self._handlers.items()}

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._serve, host, port, limit=MAX_LINE_BYTES)
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions):
            session.writer.close()
        if self._server is not None:
            await self._server.wait_closed()

    def publish(self, changes: Changes) -> None:
        """Push one operation's changes to every subscribed session."""
        if not changes.tip_changed and not changes.scripthashes:
            return
        for session in list(self.sessions):
            session.on_changes(changes)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self.sessions) >= MAX_SESSIONS:
            writer.close()
            return
        session = Session(self, writer)
        self.sessions.add(session)
        logger.info("electrum session from %s", session.peer)
        try:
            while True:
                try:
                    line = await reader.readuntil(b"\n")
                except asyncio.IncompleteReadError:
                    break  # clean EOF
                except asyncio.LimitOverrunError:
                    logger.warning("closing %s: request line over %d bytes", session.peer, MAX_LINE_BYTES)
                    break
                if line.strip():
                    reply = self.handle_line(session, line)
                    if reply is not None:
                        session.send(reply)
                    await writer.drain()
        except (ConnectionError, OSError) as exc:
            logger.info("session %s ended: %r", session.peer, exc)
        finally:
            self.sessions.discard(session)
            writer.close()
            logger.info("electrum session from %s closed", session.peer)

    def handle_line(self, session: Session, line: bytes) -> dict[str, Any] | list[dict[str, Any]] | None:
        try:
            message = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return self._error(None, PARSE_ERROR, "invalid JSON")
        if isinstance(message, list):
            if not self.batches:  # every request of the batch refused, each under its own id
                return [
                    self._error(item.get("id") if isinstance(item, dict) else None, INVALID_REQUEST, "no batches")
                    for item in message[:MAX_BATCH]
                ] or self._error(None, INVALID_REQUEST, "no batches")
            if not message or len(message) > MAX_BATCH:
                return self._error(None, INVALID_REQUEST, f"a batch holds 1..{MAX_BATCH} requests")
            replies = [reply for item in message if (reply := self.handle_request(session, item)) is not None]
            return replies or None
        return self.handle_request(session, message)

    def handle_request(self, session: Session, message: Any) -> dict[str, Any] | None:
        if not isinstance(message, dict) or not isinstance(message.get("method"), str):
            return self._error(None, INVALID_REQUEST, "not a JSON-RPC request")
        msg_id = message.get("id")
        is_notification = "id" not in message
        method = message["method"]
        params = message.get("params", [])
        handler = self._handlers.get(method)
        try:
            if handler is None:
                raise RPCError(METHOD_NOT_FOUND, f"unknown method {method!r}")
            self.request_counts[method] += 1
            try:
                if isinstance(params, list):
                    bound = self._signatures[method].bind(session, *params)
                elif isinstance(params, dict):
                    bound = self._signatures[method].bind(session, **params)
                else:
                    raise RPCError(INVALID_PARAMS, "params must be a list or an object")
            except TypeError as exc:
                raise RPCError(INVALID_PARAMS, f"invalid params for {method}: {exc}")
            result = handler(*bound.args, **bound.kwargs)
        except RPCError as exc:
            return None if is_notification else self._error(msg_id, exc.code, exc.message)
        except ChainError as exc:
            return None if is_notification else self._error(msg_id, BAD_REQUEST, exc.message)
        return None if is_notification else {"jsonrpc": "2.0", "id": msg_id, "result": result}

    @staticmethod
    def _error(msg_id: Any, code: int, message: str) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}}

    # --- methods ----------------------------------------------------------------------------------

    def server_version(self, session: Session, client_name: str = "", protocol_version: Any = None) -> list[str]:
        return [SERVER_VERSION, PROTOCOL_VERSION]

    def server_features(self, session: Session) -> dict[str, Any]:
        return {
            "genesis_hash": self.chain.blocks[0].hash,
            "hosts": {},
            "protocol_max": PROTOCOL_VERSION,
            "protocol_min": PROTOCOL_VERSION,
            "pruning": None,
            "server_version": SERVER_VERSION,
            "hash_function": "sha256",
        }

    def headers_subscribe(self, session: Session) -> dict[str, Any]:
        session.headers_subscribed = True
        return {"height": self.chain.height, "hex": self.chain.header_hex(self.chain.height)}

    def _check_cp_height(self, height: int, cp_height: int) -> None:
        if not height <= cp_height <= self.chain.height:
            raise RPCError(BAD_REQUEST, f"cp_height {cp_height} must be between {height} and {self.chain.height}")

    def block_header(self, session: Session, height: Any, cp_height: Any = 0) -> Any:
        height = _int_param(height, "height")
        cp_height = _int_param(cp_height, "cp_height")
        if height > self.chain.height:
            raise RPCError(BAD_REQUEST, f"height {height} out of range")
        header = self.chain.header_hex(height)
        if not cp_height:
            return header
        self._check_cp_height(height, cp_height)
        root, branch = self.chain.header_merkle(height, cp_height)
        return {"header": header, "root": root, "branch": branch}

    def block_headers(self, session: Session, start_height: Any, count: Any, cp_height: Any = 0) -> dict[str, Any]:
        start_height = _int_param(start_height, "start_height")
        count = min(_int_param(count, "count"), MAX_HEADERS_PER_CALL, max(self.chain.height + 1 - start_height, 0))
        cp_height = _int_param(cp_height, "cp_height")
        result: dict[str, Any] = {
            "hex": self.chain.headers_hex(start_height, count),
            "count": count,
            "max": MAX_HEADERS_PER_CALL,
        }
        if cp_height and count:
            last = start_height + count - 1
            self._check_cp_height(last, cp_height)
            result["root"], result["branch"] = self.chain.header_merkle(last, cp_height)
        return result

    def scripthash_subscribe(self, session: Session, scripthash: Any) -> str | None:
        scripthash = _hash_param(scripthash, "scripthash")
        status = self.chain.status(scripthash)
        session.scripthashes[scripthash.lower()] = (scripthash, status)
        return status

    def scripthash_unsubscribe(self, session: Session, scripthash: Any) -> bool:
        scripthash = _hash_param(scripthash, "scripthash")
        return session.scripthashes.pop(scripthash.lower(), None) is not None

    def scripthash_history(self, session: Session, scripthash: Any) -> list[dict[str, Any]]:
        return self.chain.history(_hash_param(scripthash, "scripthash"))

    def scripthash_mempool(self, session: Session, scripthash: Any) -> list[dict[str, Any]]:
        return [item for item in self.chain.history(_hash_param(scripthash, "scripthash")) if item["height"] <= 0]

    def scripthash_listunspent(self, session: Session, scripthash: Any) -> list[dict[str, Any]]:
        return self.chain.listunspent(_hash_param(scripthash, "scripthash"))

    def scripthash_balance(self, session: Session, scripthash: Any) -> dict[str, int]:
        return self.chain.balance(_hash_param(scripthash, "scripthash"))

    def transaction_get(self, session: Session, tx_hash: Any, verbose: Any = False) -> str:
        tx_hash = _hash_param(tx_hash, "tx_hash")
        if verbose:
            raise RPCError(BAD_REQUEST, "verbose transactions are not supported by the simulator")
        raw = self.chain.get_raw_tx(tx_hash)
        if raw is None:
            raise RPCError(2, f"daemon error: No such mempool or blockchain transaction: {tx_hash}")
        return raw.hex()

    def transaction_merkle(self, session: Session, tx_hash: Any, height: Any = None) -> dict[str, Any]:
        # `height` is only a hint in the protocol; the chain knows where the tx is.
        return self.chain.merkle_proof(_hash_param(tx_hash, "tx_hash"))

    def transaction_id_from_pos(self, session: Session, height: Any, tx_pos: Any, merkle: Any = False) -> Any:
        height = _int_param(height, "height")
        tx_pos = _int_param(tx_pos, "tx_pos")
        if height > self.chain.height or tx_pos >= len(self.chain.blocks[height].txids):
            raise RPCError(BAD_REQUEST, f"no transaction at {height}:{tx_pos}")
        txid = self.chain.blocks[height].txids[tx_pos]
        if not merkle:
            return txid
        return {"tx_hash": txid, "merkle": self.chain.merkle_proof(txid)["merkle"]}

    def transaction_broadcast(self, session: Session, raw_tx: Any) -> str:
        if not isinstance(raw_tx, str):
            raise RPCError(BAD_REQUEST, "raw_tx should be a hex string")
        try:
            raw = bytes.fromhex(raw_tx)
        except ValueError:
            raise RPCError(BAD_REQUEST, "raw_tx should be a hex string")
        txid = self.chain.broadcast(raw)
        # Other subscribers (and this session) learn about it like from any other mempool change.
        asyncio.get_running_loop().call_soon(self.publish, self.chain.take_changes())
        return txid
