"""The Electrum protocol and control port, in process over real sockets (no Electrum needed)."""

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from coins.encoding import segwit_encode
from daemons.simulator.chain import Chain
from daemons.simulator.control import MAX_BODY_BYTES, ControlServer
from daemons.simulator.primitives import (
    GENESIS_HASH_HEX,
    address_to_script,
    history_status,
    merkle_root_from_branch,
    scripthash_of,
)
from daemons.simulator.server import ElectrumServer

ADDRESS = segwit_encode("bcrt", 0, hashlib.sha256(b"watched").digest()[:20])
OTHER = segwit_encode("bcrt", 0, hashlib.sha256(b"other").digest()[:20])
SH = scripthash_of(address_to_script(ADDRESS))
OTHER_SH = scripthash_of(address_to_script(OTHER))
TIMEOUT = 5


class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.next_id = 0

    async def send(self, payload: Any) -> None:
        self.writer.write(json.dumps(payload).encode() + b"\n")
        await self.writer.drain()

    async def read(self) -> Any:
        return json.loads(await asyncio.wait_for(self.reader.readline(), TIMEOUT))

    async def call(self, method: str, *params: Any) -> Any:
        self.next_id += 1
        await self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": list(params)})
        reply = await self.read()
        assert reply["id"] == self.next_id, f"expected the reply to {method}, got {reply}"
        assert reply["jsonrpc"] == "2.0"
        return reply

    async def result(self, method: str, *params: Any) -> Any:
        reply = await self.call(method, *params)
        assert "error" not in reply, reply
        return reply["result"]


def run(scenario: Callable[[Chain, ControlServer, Conn], Awaitable[None]], chain: Chain | None = None) -> None:
    async def main() -> None:
        sim = chain or Chain()
        electrum = ElectrumServer(sim)
        control = ControlServer(sim, electrum)
        port = await electrum.start("127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            await scenario(sim, control, Conn(reader, writer))
        finally:
            writer.close()
            await electrum.close()

    asyncio.run(main())


def post(control: ControlServer, path: str, body: Any) -> tuple[int, Any]:
    return control.dispatch("POST", path, json.dumps(body).encode())


def test_handshake_and_static_methods():
    async def scenario(chain, control, conn):
        assert await conn.result("server.version", "electrum/4.3.4", "1.4") == ["sim 0.1", "1.4"]
        assert isinstance(await conn.result("server.banner"), str)
        assert await conn.result("server.donation_address") == ""
        assert await conn.result("server.peers.subscribe") == []
        assert await conn.result("server.ping") is None
        assert (await conn.result("server.features"))["genesis_hash"] == GENESIS_HASH_HEX
        assert await conn.result("blockchain.estimatefee", 2) == 0.00001
        assert await conn.result("blockchain.relayfee") == 0.00001
        assert await conn.result("mempool.get_fee_histogram") == []

    run(scenario)


def test_headers_and_chunks():
    chain = Chain()
    chain.mine(20)

    async def scenario(chain, control, conn):
        tip = await conn.result("blockchain.headers.subscribe")
        assert tip == {"height": 20, "hex": chain.header_hex(20)}
        assert await conn.result("blockchain.block.header", 7) == chain.header_hex(7)
        chunk = await conn.result("blockchain.block.headers", 0, 2016)
        assert chunk == {"hex": chain.headers_hex(0, 21), "count": 21, "max": 2016}
        assert (await conn.result("blockchain.block.headers", 30, 5))["count"] == 0
        # Protocol 1.4 checkpoint proofs.
        proof = await conn.result("blockchain.block.header", 5, 20)
        assert proof["header"] == chain.header_hex(5)
        assert merkle_root_from_branch(chain.blocks[5].hash, proof["branch"], 5) == proof["root"]
        error = (await conn.call("blockchain.block.header", 21))["error"]
        assert "out of range" in error["message"]

    run(scenario, chain)


def test_scripthash_subscription_history_and_notifications_only_for_subscribed():
    async def scenario(chain, control, conn):
        assert await conn.result("blockchain.headers.subscribe")
        assert await conn.result("blockchain.scripthash.subscribe", SH) is None

        status, paid = post(control, "/pay", {"address": ADDRESS, "amount_sat": 5000})
        assert status == 200
        note = await conn.read()
        assert note == {
            "jsonrpc": "2.0",
            "method": "blockchain.scripthash.subscribe",
            "params": [SH, history_status([(paid["txid"], 0)])],
        }
        history = await conn.result("blockchain.scripthash.get_history", SH)
        assert history == [{"tx_hash": paid["txid"], "height": 0, "fee": paid["fee"]}]
        assert await conn.result("blockchain.scripthash.get_balance", SH) == {"confirmed": 0, "unconfirmed": 5000}

        # Paying an address this session did not subscribe to must not produce any notification:
        # the next line on the wire is the answer to the ping.
        assert post(control, "/pay", {"address": OTHER, "amount_sat": 7000})[0] == 200
        assert (await conn.call("server.ping"))["result"] is None

        status, mined = post(control, "/mine", {"blocks": 1})
        assert status == 200
        header_note = await conn.read()
        assert header_note["method"] == "blockchain.headers.subscribe"
        assert header_note["params"] == [{"height": 1, "hex": chain.header_hex(1)}]
        sh_note = await conn.read()
        assert sh_note["params"] == [SH, history_status([(paid["txid"], 1)])]
        assert (await conn.call("server.ping"))["result"] is None  # nothing for OTHER_SH

        merkle = await conn.result("blockchain.transaction.get_merkle", paid["txid"], 1)
        assert merkle["block_height"] == 1
        assert merkle_root_from_branch(paid["txid"], merkle["merkle"], merkle["pos"]) == (
            chain.blocks[1].header.merkle_root
        )
        assert await conn.result("blockchain.transaction.get", paid["txid"]) == paid["hex"]
        assert await conn.result("blockchain.transaction.id_from_pos", 1, merkle["pos"]) == paid["txid"]
        assert await conn.result("blockchain.scripthash.listunspent", SH) == [
            {"tx_hash": paid["txid"], "tx_pos": paid["vout"], "height": 1, "value": 5000}
        ]

        assert await conn.result("blockchain.scripthash.unsubscribe", SH) is True
        post(control, "/reorg", {"depth": 1, "keep_txs": False})
        assert (await conn.read())["method"] == "blockchain.headers.subscribe"
        assert (await conn.call("server.ping"))["result"] is None  # SH no longer subscribed

    run(scenario)


def test_drop_notifies_status_back_to_null():
    async def scenario(chain, control, conn):
        await conn.result("blockchain.scripthash.subscribe", SH)
        _, paid = post(control, "/pay", {"address": ADDRESS, "amount_sat": 5000})
        assert (await conn.read())["params"][1] is not None
        assert post(control, "/drop", {"txid": paid["txid"]}) == (200, {"dropped": [paid["txid"]]})
        assert (await conn.read())["params"] == [SH, None]
        assert await conn.result("blockchain.scripthash.get_history", SH) == []
        error = (await conn.call("blockchain.transaction.get", paid["txid"]))["error"]
        assert "No such mempool or blockchain transaction" in error["message"]

    run(scenario)


def test_broadcast_through_electrum_protocol():
    chain = Chain()
    paid = chain.pay([(ADDRESS, 5000)])

    async def scenario(chain, control, conn):
        await conn.result("blockchain.scripthash.subscribe", SH)
        # Re-broadcasting a mempool tx answers its txid, as Electrum expects.
        assert await conn.result("blockchain.transaction.broadcast", paid["hex"]) == paid["txid"]
        error = (await conn.call("blockchain.transaction.broadcast", "00"))["error"]
        assert "TX decode failed" in error["message"]
        assert list(chain.mempool) == [paid["txid"]]

    run(scenario, chain)


def test_batches_errors_and_bad_json_keep_the_session():
    async def scenario(chain, control, conn):
        await conn.send(
            [
                {"jsonrpc": "2.0", "id": 1, "method": "server.ping", "params": []},
                {"jsonrpc": "2.0", "id": 2, "method": "blockchain.block.header", "params": [0]},
                {"jsonrpc": "2.0", "method": "server.ping", "params": []},  # a notification: no reply
            ]
        )
        replies = await conn.read()
        assert [reply["id"] for reply in replies] == [1, 2]
        assert replies[1]["result"] == chain.header_hex(0)

        conn.writer.write(b"{not json\n")
        assert (await conn.read())["error"]["code"] == -32700
        assert (await conn.call("no.such.method"))["error"]["code"] == -32601
        assert (await conn.call("blockchain.block.header"))["error"]["code"] == -32602
        assert (await conn.call("blockchain.scripthash.subscribe", "zz"))["error"]["code"] == 1
        assert (await conn.call("blockchain.transaction.get", "ab" * 32, True))["error"]["code"] == 1
        assert await conn.result("server.ping") is None

    run(scenario)


def test_control_dispatch_errors():
    chain = Chain()
    electrum = ElectrumServer(chain)
    control = ControlServer(chain, electrum)
    assert control.dispatch("POST", "/nope", b"{}")[0] == 404
    assert control.dispatch("GET", "/pay", b"")[0] == 405
    assert control.dispatch("POST", "/pay", b"[1]") == (
        400,
        {"error": {"code": "bad_json", "message": "the body must be a JSON object"}},
    )
    assert control.dispatch("POST", "/pay", b"{")[1]["error"]["code"] == "bad_json"
    assert post(control, "/pay", {"address": ADDRESS})[1]["error"]["code"] == "missing_argument"
    assert post(control, "/pay", {"outputs": "x"})[1]["error"]["code"] == "bad_outputs"
    assert post(control, "/drop", {"txid": "ab" * 32}) == (
        404,
        {"error": {"code": "not_found", "message": f"unknown transaction {'ab' * 32}"}},
    )
    assert post(control, "/reorg", {"depth": 1, "keep_txs": "yes"})[1]["error"]["code"] == "bad_argument"
    assert chain.height == 0 and chain.mempool == {}
    status, info = control.dispatch("GET", "/info", b"")
    assert status == 200
    assert info["height"] == 0 and info["tip"] == GENESIS_HASH_HEX and info["mempool"] == []


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (f"POST /info HTTP/1.1\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n", 413),
        ("POST /info HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("garbage\r\n\r\n", 400),
    ],
)
def test_control_http_limits(head, status):
    async def main() -> bytes:
        chain = Chain()
        control = ControlServer(chain, ElectrumServer(chain))
        port = await control.start("127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head.encode())
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), TIMEOUT)
        writer.close()
        await control.close()
        return answer

    answer = asyncio.run(main())
    assert answer.startswith(f"HTTP/1.1 {status} ".encode())
