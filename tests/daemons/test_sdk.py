"""The `bitcart` SDK from PyPI, unchanged, against our daemon.

It runs in its own venv, in a subprocess (tests/daemons/sdk.py says why).
"""

import pytest

from daemons.btc.testing import start_daemon
from daemons.simulator.testing import start_simulator
from tests.daemons.sdk import sdk_runner
from wallets.keys import generate_xpub

pytestmark = pytest.mark.slow


SDK_SCRIPT = r"""
import asyncio, json, os, sys, urllib.request
from decimal import Decimal

from bitcart import BTC, APIManager

env = os.environ


def pay(address, amount_sat):
    request = urllib.request.Request(
        env["SIM_CONTROL"] + "/pay", data=json.dumps({"address": address, "amount_sat": amount_sat}).encode(),
        method="POST", headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


async def main():
    btc = BTC(
        rpc_url=env["DAEMON_URL"], rpc_user=env["DAEMON_LOGIN"], rpc_pass=env["DAEMON_PASSWORD"], xpub=env["XPUB"]
    )
    out = {"spec_version": (await btc.spec)["version"], "valid_key": await btc.validate_key(env["XPUB"])}
    request = await btc.add_request(0.001, "sdk order", 15)
    out["request"] = {k: str(v) for k, v in request.items()}
    fetched = await btc.get_request(request["address"])
    out["fetched"] = {k: str(v) for k, v in fetched.items()}
    out["balance"] = {k: str(v) for k, v in (await btc.balance()).items()}
    try:
        await btc.server.add_request(amount="0.000000001")
    except Exception as exc:
        out["precise_error"] = type(exc).__name__
    bad = BTC(rpc_url=env["DAEMON_URL"], rpc_user=env["DAEMON_LOGIN"], rpc_pass="wrong", xpub=env["XPUB"])
    try:
        await bad.balance()
    except Exception as exc:
        out["auth_error"] = type(exc).__name__

    payments = asyncio.Queue()

    @btc.on("new_payment")
    async def on_payment(event, address, status, status_str, tx_hashes, sent_amount):
        await payments.put({"address": address, "status": status, "status_str": status_str,
                            "tx_hashes": tx_hashes, "sent_amount": sent_amount})

    # Bitcart's merchants API worker, as it is wired: an APIManager listening on every wallet, the coin
    # registered under "" with credentials only, a handler with its exact signature
    # (api/services/payment_processor.py new_payment_handler), and the invoice's lookup_field chosen as
    # api/services/crud/invoices.py does: add_request's "request_id" if present, else the address.
    lookup_field = request["request_id"] if "request_id" in request else request["address"]
    manager = APIManager({"BTC": []})
    manager.wallets["BTC"][""] = BTC(rpc_url=env["DAEMON_URL"], rpc_user=env["DAEMON_LOGIN"],
                                     rpc_pass=env["DAEMON_PASSWORD"])
    worker_seen = asyncio.Queue()

    async def new_payment_handler(instance, event, address, status, status_str, tx_hashes=None,
                                  sent_amount=Decimal(0), contract=None):
        await worker_seen.put({"event": event, "address": address, "status": status, "status_str": status_str,
                               "tx_hashes": tx_hashes, "sent_amount": str(Decimal(sent_amount)),
                               "contract": contract, "matches_invoice": address == lookup_field,
                               "instance_xpub": instance.xpub})

    async def new_block_handler(instance, event, height):
        pass

    manager.add_event_handler("new_payment", new_payment_handler)
    manager.add_event_handler("new_block", new_block_handler)

    socket = asyncio.ensure_future(btc.start_websocket(auto_reconnect=False))
    worker_socket = asyncio.ensure_future(manager.start_websocket(auto_reconnect=False))
    await asyncio.sleep(0.5)  # the SDK registers its xpub on connect
    paid = pay(request["address"], 100_000)
    out["paid_txid"] = paid["txid"]
    out["event"] = await asyncio.wait_for(payments.get(), 20)
    out["worker"] = await asyncio.wait_for(worker_seen.get(), 20)
    out["lookup_field"] = lookup_field
    # The polling path (get_updates) replayed through the worker's handler: the same shape.
    polled = await btc.server.get_updates()
    out["polled_event"] = [u for u in polled if u.get("event") == "new_payment"]
    await manager.process_updates([dict(u) for u in out["polled_event"]], "BTC", env["XPUB"])
    out["worker_polled"] = await asyncio.wait_for(worker_seen.get(), 20)
    socket.cancel()
    worker_socket.cancel()
    print(json.dumps(out))


asyncio.run(main())
"""


def test_bitcart_sdk_creates_reads_and_hears_about_a_payment(tmp_path):
    sdk = sdk_runner(tmp_path)
    sim = start_simulator(tmp_path / "sim", initial_blocks=1)
    daemon = start_daemon(tmp_path, sim)
    try:
        xpub = generate_xpub("regtest", "p2wpkh")
        out = sdk.run(SDK_SCRIPT, daemon, {"XPUB": xpub, "SIM_CONTROL": sim.control_url}, timeout=60)
    finally:
        assert daemon.stop() == 0
        sim.stop()

    assert out["valid_key"] is True
    request = out["request"]
    assert (request["status"], request["status_str"], request["amount_BTC"]) == ("0", "Unpaid", "0.00100000")
    assert request["expiry"] == "900"
    assert out["fetched"]["address"] == request["address"]
    assert out["fetched"]["request_id"] == request["request_id"]
    assert out["balance"] == {"confirmed": "0E-8", "unconfirmed": "0E-8", "unmatured": "0E-8", "lightning": "0"}
    assert out["precise_error"] == "AmountTooPreciseError"
    assert out["auth_error"] == "UnauthorizedError"
    # Bitcart's daemon puts the request key in `address` (its worker matches it to the invoice).
    assert out["event"] == {
        "address": request["request_id"],
        "status": 7,
        "status_str": "Unconfirmed",
        "tx_hashes": [out["paid_txid"]],
        "sent_amount": "0.00100000",
    }
    worker = {
        "event": "new_payment",
        "address": request["request_id"],
        "status": 7,
        "status_str": "Unconfirmed",
        "tx_hashes": [out["paid_txid"]],
        "sent_amount": "0.00100000",
        "contract": None,
        "matches_invoice": True,
        "instance_xpub": xpub,
    }
    assert out["lookup_field"] == request["request_id"]
    assert out["worker"] == worker
    assert out["worker_polled"] == worker
    assert out["polled_event"] == [
        {
            "event": "new_payment",
            "address": request["request_id"],
            "status": 7,
            "status_str": "Unconfirmed",
            "tx_hashes": [out["paid_txid"]],
            "sent_amount": "0.00100000",
            "request_id": request["request_id"],
            "payment_address": request["address"],
            "addresses": [request["address"]],
        }
    ]
