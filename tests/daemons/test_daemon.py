"""The BTC daemon as a process: real Electrum 4.3.4 against the regtest simulator, over HTTP and websockets."""

import base64
import json
import threading
import time
import urllib.error
import urllib.request

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from daemons.btc.testing import PROJECT_ROOT, start_daemon
from daemons.processes import wait_for
from daemons.simulator.testing import start_simulator
from wallets.keys import derive_receive_address, generate_xpub

pytestmark = pytest.mark.slow

EVENT_WAIT = 15  # seconds: generous bound for notify -> Electrum -> event (measured: tens of ms)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    simulator = start_simulator(tmp_path_factory.mktemp("sim"), initial_blocks=1)
    yield simulator
    simulator.stop()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, sim):
    process = start_daemon(tmp_path_factory.mktemp("daemon"), sim, extra_env={"BTC_SWEEP_INTERVAL": "0.5"})
    wait_for(lambda: process.rpc("get_tip")["synchronized"], timeout=EVENT_WAIT)
    yield process
    assert process.stop() == 0, process.log()[-3000:]


@pytest.fixture
def xpub():
    return generate_xpub("regtest", "p2wpkh")


class EventStream:
    """A /ws subscriber collecting messages on a thread, so tests can wait for one with a bound."""

    def __init__(self, daemon, subscribe: dict | None):
        self.ws = connect(
            daemon.ws_url, additional_headers={"Authorization": daemon.auth_header}, open_timeout=5, legacy=True
        )
        self.messages: list[dict] = []
        self.arrivals: list[float] = []  # time.time() each message was read
        self.lock = threading.Condition()
        if subscribe is not None:
            self.ws.send(json.dumps(subscribe))
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        time.sleep(0.2)  # the subscription message is processed before events we trigger next

    def _read(self):
        for text in self.ws:
            with self.lock:
                self.arrivals.append(time.time())
                self.messages.append(json.loads(text))
                self.lock.notify_all()

    def wait(self, predicate, timeout: float = EVENT_WAIT) -> dict:
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                for message, arrived in zip(self.messages, self.arrivals, strict=True):
                    for update in message["updates"]:
                        if predicate(update, message):
                            return {
                                **update,
                                "_wallet": message["wallet"],
                                "_currency": message["currency"],
                                "_arrived": arrived,
                            }
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no matching event within {timeout}s; got {self.messages}")
                self.lock.wait(remaining)

    def wait_all(self, predicate, count: int, timeout: float = EVENT_WAIT) -> list[dict]:
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                found = [u for m in self.messages for u in m["updates"] if predicate(u, m)]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{len(found)} of {count} matching events within {timeout}s: {self.messages}")
                self.lock.wait(remaining)

    def close(self):
        self.ws.close()


@pytest.fixture
def events(daemon):
    streams = []

    def open_stream(subscribe=None):
        stream = EventStream(daemon, subscribe)
        streams.append(stream)
        return stream

    yield open_stream
    for stream in streams:
        stream.close()


def public(event: dict) -> dict:
    """An update as the daemon sent it (without EventStream's _wallet/_currency/_arrived)."""
    return {key: value for key, value in event.items() if not key.startswith("_")}


def rpc_error(daemon, body, **kwargs):
    status, data = daemon.post(body if isinstance(body, bytes) else json.dumps(body).encode(), **kwargs)
    return status, data["error"]["code"], data


# protocol, auth, bad input


def test_spec_requires_auth_and_describes_every_code(daemon):
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(daemon.url + "/spec", timeout=5)
    assert excinfo.value.code == 401
    assert json.loads(excinfo.value.read())["error"]["code"] == -32600

    request = urllib.request.Request(daemon.url + "/spec", headers={"Authorization": daemon.auth_header})
    with urllib.request.urlopen(request, timeout=5) as response:
        spec = json.loads(response.read())
    assert isinstance(spec["version"], str)
    assert spec["exceptions"]["-32600"] == {"exc_name": "UnauthorizedError", "docstring": "Unauthorized"}
    assert spec["exceptions"]["-32005"]["exc_name"] == "LoadingWalletError"
    assert spec["exceptions"]["-32016"]["exc_name"] == "AmountTooPreciseError"
    assert spec["electrum_map"]["Request not found"] == -32003
    assert spec["capabilities"] == {"lightning": False}


def test_wrong_password_is_401_with_spec_code(daemon):
    bad = "Basic " + base64.b64encode(f"{daemon.login}:wrong".encode()).decode()
    status, code, data = rpc_error(daemon, {"jsonrpc": "2.0", "id": 7, "method": "get_tip"}, auth=bad)
    assert (status, code) == (401, -32600)
    assert "result" not in data


def test_websocket_requires_auth(daemon):
    with pytest.raises(InvalidStatus) as excinfo:
        connect(daemon.ws_url, open_timeout=5)
    assert excinfo.value.response.status_code == 401


@pytest.mark.parametrize(
    ("body", "expected_status", "expected_code"),
    [
        (b"{not json", 200, -32700),
        (b"\xff\xfe", 200, -32700),
        (b"[" * 200_000, 200, -32700),
        (b'[{"jsonrpc": "2.0", "id": 1, "method": "get_tip"}]', 200, -32018),
        (b'"just a string"', 200, -32602),
        ({"jsonrpc": "2.0", "id": 1, "method": "no_such_method"}, 200, -32601),
        ({"jsonrpc": "2.0", "id": 1, "method": 42}, 200, -32601),
        ({"jsonrpc": "2.0", "id": 1, "method": "get_tip", "params": "x"}, 200, -32602),
        ({"jsonrpc": "2.0", "id": 1, "method": "get_tip", "params": {"surprise": 1}}, 200, -32602),
        ({"jsonrpc": "2.0", "id": 1, "method": "getbalance", "params": []}, 200, -32000),
        ({"jsonrpc": "2.0", "id": 1, "method": "getbalance", "params": {"xpub": "xpubNOPE"}}, 200, -32005),
        ({"jsonrpc": "2.0", "id": 1, "method": "getbalance", "params": {"xpub": 5}}, 200, -32005),
        ({"jsonrpc": "2.0", "id": 1, "method": "validateaddress", "params": [1, 2, 3]}, 200, -32602),
        ({"jsonrpc": "2.0", "id": 1, "method": "get_transaction", "params": ["zz"]}, 200, -32001),
        ({"jsonrpc": "2.0", "id": 1, "method": "payto", "params": ["addr", "1"]}, 200, -32019),
        (b"{" + b'"pad": "' + b"x" * (1024 * 1024 + 10) + b'"}', 413, -32017),
    ],
)
def test_bad_input_gets_a_spec_code_and_the_daemon_survives(daemon, body, expected_status, expected_code):
    status, code, data = rpc_error(daemon, body)
    assert (status, code) == (expected_status, expected_code), data
    assert daemon.rpc("get_tip")["synchronized"] is True


@pytest.mark.parametrize("method", ["broadcast", "get_tx_size", "get_tx_hash", "get_default_fee"])
@pytest.mark.parametrize(
    "raw",
    ["00", "0200000000", "02000000000100", "zz", "abc", "0g", "", "70736274ff", "cHNidP8BAA==", 5.5, True, None, [1]],
)
def test_malformed_transactions_are_invalid_params_and_the_daemon_survives(daemon, method, raw):
    # Electrum parses lazily and raises its own SerializationError: none of it may reach the caller as -32603.
    status, code, data = rpc_error(daemon, {"jsonrpc": "2.0", "id": 9, "method": method, "params": [raw]})
    assert (status, code) == (200, -32602), data
    assert data["error"]["message"] != "Internal error"
    assert daemon.rpc("get_tip")["synchronized"] is True


@pytest.mark.parametrize(
    ("params", "expected_code"),
    [
        ({"amount": "0.000000001"}, -32016),
        ({"amount": 1e-9}, -32016),
        ({"amount": "-1"}, -32602),
        ({"amount": "NaN"}, -32602),
        ({"amount": [1]}, -32602),
        ({"amount": "1", "expiry": "soon"}, -32602),
        ({"amount": "1", "memo": {"a": 1}}, -32602),
        ({"amount": "1", "lightning": True}, -32011),
    ],
)
def test_add_request_rejects_bad_amounts_without_allocating(daemon, xpub, params, expected_code):
    status, code, data = rpc_error(
        daemon, {"jsonrpc": "2.0", "id": 3, "method": "add_request", "params": {**params, "xpub": xpub}}
    )
    assert (status, code) == (200, expected_code), data
    assert data["id"] == 3
    watched = daemon.rpc("get_watched", xpub=xpub)
    assert (watched["count"], watched["requests"]) == (0, 0)


def test_watch_rejects_addresses_of_another_xpub(daemon, xpub):
    other = derive_receive_address(generate_xpub("regtest"), "regtest", 4)
    status, code, _data = rpc_error(
        daemon,
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "watch_addresses",
            "params": {"addresses": [{"address": other, "index": 4}], "xpub": xpub},
        },
    )
    assert (status, code) == (200, -32602)
    assert daemon.rpc("get_watched", xpub=xpub)["count"] == 0


# watching addresses for Django


def test_watched_payment_is_pushed_then_confirmed(daemon, sim, xpub, events):
    addresses = [derive_receive_address(xpub, "regtest", i) for i in range(3)]
    until = time.time() + 3600
    result = daemon.rpc(
        "watch_addresses",
        addresses=[{"address": a, "index": i, "until": until} for i, a in enumerate(addresses)],
        xpub=xpub,
    )
    assert result == {"watched": 3, "skipped_expired": 0, "conflicts": []}
    # idempotent: the same batch again changes nothing
    daemon.rpc("watch_addresses", addresses=[{"address": addresses[0], "index": 0, "until": until}], xpub=xpub)
    assert daemon.rpc("get_watched", xpub=xpub)["count"] == 3
    stream = events({"xpub": xpub})

    paid = sim.client.pay(addresses[1], 25_000)
    event = stream.wait(lambda u, m: u["event"] == "new_transaction" and u["tx"] == paid["txid"])
    # Bitcart's daemon's fields (tx; height; height), plus our `addresses`
    assert public(event) == {"event": "new_transaction", "tx": paid["txid"], "addresses": [addresses[1]]}
    assert event["_wallet"] == xpub and event["_currency"] == "BTC"

    outputs = daemon.rpc("get_address_outputs", addresses=[addresses[1], addresses[2]], xpub=xpub)
    assert outputs["outputs"][addresses[1]] == [
        {"txid": paid["txid"], "vout": paid["vout"], "value_sat": 25_000, "height": 0, "confirmations": 0}
    ]
    assert outputs["outputs"][addresses[2]] == []

    mined = sim.client.mine(1)
    height = outputs["height"] + 1
    event = stream.wait(lambda u, m: u["event"] == "verified_tx" and u["tx"] == paid["txid"])
    assert public(event) == {"event": "verified_tx", "tx": paid["txid"], "height": height, "addresses": [addresses[1]]}
    block = stream.wait(lambda u, m: u["event"] == "new_block" and u["height"] == height)
    assert (public(block), block["_wallet"]) == ({"event": "new_block", "height": height}, None)
    assert mined  # the simulator answered
    outputs = daemon.rpc("get_address_outputs", addresses=[addresses[1]], xpub=xpub)
    assert outputs["height"] == height
    assert outputs["outputs"][addresses[1]] == [
        {"txid": paid["txid"], "vout": paid["vout"], "value_sat": 25_000, "height": height, "confirmations": 1}
    ]


def test_dropped_transaction_is_reported_to_extended_subscribers(daemon, sim, xpub, events):
    address = derive_receive_address(xpub, "regtest", 0)
    daemon.rpc("watch_addresses", addresses=[{"address": address, "index": 0}], xpub=xpub)
    stream = events({"xpub": xpub, "extended": True})
    paid = sim.client.pay(address, 10_000)
    stream.wait(lambda u, m: u["event"] == "new_transaction" and u["tx"] == paid["txid"])
    sim.client.drop(paid["txid"])
    event = stream.wait(lambda u, m: u["event"] == "removed_tx")
    assert (event["tx"], event["addresses"]) == (paid["txid"], [address])
    wait_for(
        lambda: daemon.rpc("get_address_outputs", addresses=[address], xpub=xpub)["outputs"][address] == [],
        timeout=EVENT_WAIT,
    )


def test_outputs_of_unwatched_addresses_come_from_the_server(daemon, sim, xpub):
    address = derive_receive_address(xpub, "regtest", 900)
    paid = sim.client.pay(address, 7_000)
    sim.client.mine(1)
    wait_for(lambda: daemon.rpc("get_tip")["height"] == sim.client.info()["height"], timeout=EVENT_WAIT)
    outputs = daemon.rpc("get_address_outputs", addresses=[address], xpub=xpub)
    assert outputs["outputs"][address] == [
        {
            "txid": paid["txid"],
            "vout": paid["vout"],
            "value_sat": 7_000,
            "height": outputs["height"],
            "confirmations": 1,
        }
    ]
    assert daemon.rpc("get_watched", xpub=xpub)["count"] == 0


def test_unwatch_and_expired_until_bound_the_watched_set(daemon, xpub):
    addresses = [derive_receive_address(xpub, "regtest", i) for i in range(4)]
    entries = [{"address": a, "index": i} for i, a in enumerate(addresses)]
    entries[3]["until"] = time.time() - 1  # already over: never watched
    assert daemon.rpc("watch_addresses", addresses=entries, xpub=xpub)["skipped_expired"] == 1
    assert daemon.rpc("unwatch_addresses", addresses=[addresses[0]], xpub=xpub) == {"unwatched": 1}
    watched = daemon.rpc("get_watched", limit=10, xpub=xpub)
    assert watched["count"] == 2
    assert [w["address"] for w in watched["addresses"]] == addresses[1:3]


def test_addresses_are_dropped_when_their_until_passes(daemon, xpub):
    address = derive_receive_address(xpub, "regtest", 0)
    daemon.rpc("watch_addresses", addresses=[{"address": address, "index": 0, "until": time.time() + 1}], xpub=xpub)
    assert daemon.rpc("get_watched", xpub=xpub)["count"] == 1
    wait_for(lambda: daemon.rpc("get_watched", xpub=xpub)["count"] == 0, timeout=10)


# SDK-style payment requests over plain JSON-RPC


def test_add_request_and_get_request(daemon, sim, xpub, events):
    # Django registered index 7: the daemon's own requests must start above it
    daemon.rpc(
        "watch_addresses", addresses=[{"address": derive_receive_address(xpub, "regtest", 7), "index": 7}], xpub=xpub
    )
    body = {"amount": "0.0005", "memo": "Order #1", "expiry": 900, "force": True, "xpub": xpub}
    first = daemon.rpc("add_request", **body)
    second = daemon.rpc("add_request", **{**body, "amount": 0.0002})
    assert (first["index"], second["index"]) == (8, 9)
    assert first["address"] == derive_receive_address(xpub, "regtest", 8)
    assert (first["status"], first["status_str"], first["amount_BTC"], first["amount_sat"]) == (
        0,
        "Unpaid",
        "0.00050000",
        50_000,
    )
    assert first["expiration"] == first["timestamp"] + 900
    assert first["URI"].startswith(f"bitcoin:{first['address']}?amount=0.0005&message=Order%20%231")
    assert second["amount_sat"] == 20_000

    stream = events({"xpub": xpub})
    partial = sim.client.pay(first["address"], 30_000)
    stream.wait(lambda u, m: u["event"] == "new_transaction" and u["tx"] == partial["txid"])
    request = daemon.rpc("get_request", first["address"], xpub=xpub)  # list params + trailing kwargs
    assert (request["status"], request["sent_amount"], request["tx_hashes"]) == (0, "0.00030000", [partial["txid"]])

    rest = sim.client.pay(first["address"], 20_000)
    event = stream.wait(lambda u, m: u["event"] == "new_payment" and u["status"] == 7)
    del event["_arrived"]
    # Bitcart's daemon's fields, in its meaning (`address` is the request key), then ours.
    assert event == {
        "event": "new_payment",
        "address": first["request_id"],
        "status": 7,
        "status_str": "Unconfirmed",
        "tx_hashes": sorted([partial["txid"], rest["txid"]]),
        "sent_amount": "0.00050000",
        "request_id": first["request_id"],
        "payment_address": first["address"],
        "addresses": [first["address"]],
        "_wallet": xpub,
        "_currency": "BTC",
    }
    sim.client.mine(1)
    event = stream.wait(lambda u, m: u["event"] == "new_payment" and u["status"] == 3)
    assert (event["address"], event["payment_address"]) == (first["request_id"], first["address"])
    by_id = daemon.rpc("getrequest", first["request_id"], xpub=xpub)
    assert (by_id["status"], by_id["status_str"], by_id["confirmations"]) == (3, "Paid", 1)
    assert daemon.rpc("get_request", second["address"], xpub=xpub)["status"] == 0
    balance = daemon.rpc("getbalance", xpub=xpub)
    assert balance == {"confirmed": "0.00050000", "unconfirmed": "0.00000000", "unmatured": "0.00000000"}
    updates = daemon.rpc("get_updates", xpub=xpub)
    assert [u["status"] for u in updates if u["event"] == "new_payment"] == [7, 3]
    assert daemon.rpc("get_updates", xpub=xpub) == []


@pytest.mark.parametrize("script", ["p2pkh", "p2wpkh-p2sh", "p2wpkh"])
def test_daemon_and_django_derive_the_same_addresses_for_every_script_type(daemon, script):
    xpub = generate_xpub("regtest", script)
    expected = derive_receive_address(xpub, "regtest", 3)
    assert daemon.rpc("watch_addresses", addresses=[{"address": expected, "index": 3}], xpub=xpub)["watched"] == 1
    request = daemon.rpc("add_request", amount="0.01", xpub=xpub)
    assert (request["index"], request["address"]) == (4, derive_receive_address(xpub, "regtest", 4))


def test_expired_request_is_announced_and_reads_expired(daemon, xpub, events):
    stream = events({"xpub": xpub})
    request = daemon.rpc("add_request", amount="0.001", expiry=1, xpub=xpub)
    event = stream.wait(lambda u, m: u["event"] == "new_payment" and u["address"] == request["request_id"])
    assert (event["status"], event["status_str"], event["tx_hashes"]) == (1, "Expired", [])
    assert event["payment_address"] == request["address"]
    fetched = daemon.rpc("get_request", request["request_id"], xpub=xpub)
    assert (fetched["status"], fetched["status_str"]) == (1, "Expired")


def test_requests_expire_on_time_whatever_the_sweep_interval(tmp_path, sim, xpub):
    process = start_daemon(tmp_path, sim)  # the default 15 s sweep interval
    try:
        stream = EventStream(process, {"xpub": xpub})
        # Created out of deadline order: the timer must re-arm for an earlier deadline.
        requests = [process.rpc("add_request", amount="0.001", expiry=expiry, xpub=xpub) for expiry in (3, 1, 2)]
        for request in requests:
            event = stream.wait(
                lambda u, m, key=request["request_id"]: u["event"] == "new_payment" and u["address"] == key, timeout=5
            )
            assert (event["status"], event["status_str"]) == (1, "Expired")
            late = event["_arrived"] - request["expiration"]
            assert 0 < late <= 1.0, (request["expiry"], late)
        stream.close()
    finally:
        assert process.stop() == 0, process.log()[-3000:]


def test_unknown_request_is_request_not_found(daemon, xpub):
    status, code, _ = rpc_error(
        daemon, {"jsonrpc": "2.0", "id": 1, "method": "get_request", "params": ["nope", {"xpub": xpub}]}
    )
    assert (status, code) == (200, -32003)


def test_reorg_back_to_mempool_unverifies_then_reconfirms(daemon, sim, xpub, events):
    address = derive_receive_address(xpub, "regtest", 0)
    daemon.rpc("watch_addresses", addresses=[{"address": address, "index": 0}], xpub=xpub)
    stream = events({"xpub": xpub, "extended": True})
    paid = sim.client.pay(address, 50_000)
    sim.client.mine(1)
    first = stream.wait(lambda u, m: u["event"] == "verified_tx" and u["tx"] == paid["txid"])
    sim.client.reorg(1, keep_txs=False)  # the block is replaced by one without the payment
    event = stream.wait(lambda u, m: u["event"] == "unverified_tx" and u["tx"] == paid["txid"])
    assert event["addresses"] == [address]
    wait_for(
        lambda: daemon.rpc("get_address_outputs", addresses=[address], xpub=xpub)["outputs"][address][0]["height"] == 0,
        timeout=EVENT_WAIT,
    )
    assert (
        daemon.rpc("get_address_outputs", addresses=[address], xpub=xpub)["outputs"][address][0]["confirmations"] == 0
    )
    sim.client.mine(1)
    verified = stream.wait_all(lambda u, m: u["event"] == "verified_tx" and u["tx"] == paid["txid"], count=2)
    # the reorged-out block was at first["height"]; the replacement chain mined it one block later
    assert [v["height"] for v in verified] == [first["height"], first["height"] + 1]


# restart


def test_restart_keeps_watched_set_and_delivers_events_without_calls(tmp_path, sim, xpub):
    first = start_daemon(tmp_path, sim)
    try:
        addresses = [derive_receive_address(xpub, "regtest", i) for i in range(5)]
        first.rpc("watch_addresses", addresses=[{"address": a, "index": i} for i, a in enumerate(addresses)], xpub=xpub)
        first.rpc("unwatch_addresses", addresses=addresses[:1], xpub=xpub)
        request = first.rpc("add_request", amount="0.001", expiry=600, xpub=xpub)
        sim.client.pay(request["address"], 100_000)
        wait_for(lambda: first.rpc("get_request", request["address"], xpub=xpub)["status"] == 7, timeout=EVENT_WAIT)
    finally:
        assert first.stop() == 0  # SIGTERM: clean shutdown
    assert "stopped" in first.log()

    second = start_daemon(tmp_path, sim)
    try:
        stream = EventStream(second, {"xpub": xpub})
        watched = second.rpc("get_watched", limit=100, xpub=xpub)
        assert watched["count"] == 5  # 4 left watched + the request's address
        assert {w["address"] for w in watched["addresses"]} == {*addresses[1:], request["address"]}
        assert second.rpc("add_request", amount="0.001", xpub=xpub)["index"] == request["index"] + 1
        paid = sim.client.pay(addresses[4], 1_000)
        event = stream.wait(lambda u, m: u["event"] == "new_transaction" and u["tx"] == paid["txid"])
        assert event["addresses"] == [addresses[4]]
        wait_for(lambda: second.rpc("get_watched", xpub=xpub)["synchronized"], timeout=EVENT_WAIT)
        assert second.rpc("get_request", request["request_id"], xpub=xpub)["status"] == 7
        # re-loading the history after the restart must not announce the paid request as unpaid on the way
        assert [u for m in stream.messages for u in m["updates"] if u["event"] == "new_payment"] == []
        stream.close()
    finally:
        assert second.stop() == 0


def test_mass_unwatch_rebuilds_the_synchronizer_and_only_watched_addresses_report(daemon, sim, xpub, events):
    addresses = [derive_receive_address(xpub, "regtest", i) for i in range(1300)]
    daemon.rpc("watch_addresses", addresses=[{"address": a, "index": i} for i, a in enumerate(addresses)], xpub=xpub)
    wait_for(lambda: daemon.rpc("get_watched", xpub=xpub)["synchronized"], timeout=EVENT_WAIT)
    # more than 1000 stale addresses: the daemon swaps in a fresh AddressSynchronizer with the 200 left
    assert daemon.rpc("unwatch_addresses", addresses=addresses[:1100], xpub=xpub) == {"unwatched": 1100}
    assert daemon.rpc("get_watched", xpub=xpub)["count"] == 200
    stream = events({"xpub": xpub})
    ignored = sim.client.pay(addresses[5], 3_000)
    paid = sim.client.pay(addresses[1250], 4_000)
    event = stream.wait(lambda u, m: u["event"] == "new_transaction" and u["tx"] == paid["txid"])
    assert event["addresses"] == [addresses[1250]]
    time.sleep(0.5)  # the unwatched payment was broadcast first; give it every chance to (wrongly) show up
    assert not [u for m in stream.messages for u in m["updates"] if u.get("tx") == ignored["txid"]]
    assert "rebuilt address synchronizer" in daemon.log()


# events are never lost

# Loaded by the daemon's interpreter (sitecustomize, through PYTHONPATH) to pin down an interleaving that
# otherwise happens about once in a few hundred payments: Electrum's synchronizer notes "processed a
# notification" when it dequeues a status, and registers the history request only when the spawned task
# runs. A 100 ms synchronizer tick landing in between fires "up to date" with nothing pending and clears the
# note; the history and transaction then arrive, and nothing makes Electrum fire "up to date" again.
# Delaying the task by more than one tick makes that tick land there every time.
TICK_BEFORE_HISTORY_REQUEST = """
import asyncio
from electrum import synchronizer

_on_address_status = synchronizer.Synchronizer._on_address_status


async def _after_a_tick(self, addr, status):
    await asyncio.sleep(0.15)
    await _on_address_status(self, addr, status)


synchronizer.Synchronizer._on_address_status = _after_a_tick
"""


def pay_right_after_creating(daemon, sim, xpub: str, rounds: int) -> list[float]:
    """add_request, pay at once, wait (bounded) for that request's new_payment: no block, no other request
    created meanwhile to wake the daemon. Returns pay -> event seconds per round."""
    stream = EventStream(daemon, {"xpub": xpub})
    latencies = []
    try:
        for n in range(rounds):
            request = daemon.rpc("add_request", amount="0.0001", expiry=600, xpub=xpub)
            started = time.monotonic()
            paid = sim.client.pay(request["address"], 10_000)
            event = stream.wait(
                lambda u, m, key=request["request_id"]: u["event"] == "new_payment" and u["address"] == key, timeout=5
            )
            latencies.append(time.monotonic() - started)
            assert (event["status"], event["tx_hashes"], event["payment_address"]) == (
                7,
                [paid["txid"]],
                request["address"],
            ), n
    finally:
        stream.close()
    return latencies


def test_requests_paid_right_after_creation_always_announce_unconfirmed_without_a_block(daemon, sim, xpub):
    latencies = pay_right_after_creating(daemon, sim, xpub, rounds=150)
    assert sorted(latencies)[len(latencies) // 2] < 1, latencies


def test_a_synchronizer_tick_before_the_history_request_loses_no_payment(tmp_path, sim, xpub):
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(TICK_BEFORE_HISTORY_REQUEST)
    process = start_daemon(tmp_path, sim, extra_env={"PYTHONPATH": f"{hook}:{PROJECT_ROOT}"})
    try:
        wait_for(lambda: process.rpc("get_tip")["synchronized"], timeout=EVENT_WAIT)
        pay_right_after_creating(process, sim, xpub, rounds=20)
    finally:
        assert process.stop() == 0, process.log()[-3000:]
