"""Payment detection against a real ganache node: native ETH, ERC-20 Transfer logs, confirmations,
under/over/late payments and payments that carry no tag."""

import json
import time
from decimal import Decimal

import pytest
from websockets.sync.client import connect

from tests.daemons.eth.conftest import updates

pytestmark = pytest.mark.slow


def test_eth_payment_is_paid_and_announced(daemon, chain, merchant_address):
    wallet = merchant_address
    assert updates(daemon, wallet) == []  # starts the wallet's polling queue
    with connect(daemon.ws_url, additional_headers={"Authorization": daemon.auth_header}, open_timeout=10) as ws:
        ws.send(json.dumps({"xpub": wallet}))
        request = daemon.rpc("add_request", "0.5", "order 1", 3600, xpub=wallet)
        assert request["status"] == 0 and request["status_str"] == "Unpaid"
        assert request["requested_amount"] == "0.500000000000000000"
        tag = request["tag"]
        # the amount to send is the price plus the tag in the digits just above 1e-8 ETH
        assert Decimal(request["amount_ETH"]) == Decimal("0.5") + Decimal(tag) / 10**8
        assert request["URI"] == f"ethereum:{wallet}@1337?value={int(Decimal(request['amount_ETH']) * 10**18)}"
        tx_hash, _raw = chain.pay_eth(wallet, request["amount_ETH"])

        seen = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(u["event"] == "new_payment" for u in seen):
            message = json.loads(ws.recv(timeout=20))
            assert message["currency"] == "ETH"
            seen.extend(message["updates"])
    events = {u["event"]: u for u in seen}
    assert events["new_transaction"]["tx"] == tx_hash
    assert events["new_transaction"]["amount"] == request["amount_ETH"]
    assert events["new_transaction"]["request_id"] == request["request_id"]
    payment = events["new_payment"]
    assert payment["address"] == request["request_id"]  # Bitcart's key for new_payment
    assert payment["payment_address"] == wallet
    assert (payment["status"], payment["status_str"]) == (3, "Paid")
    assert payment["tx_hashes"] == [tx_hash]
    assert payment["sent_amount"] == request["amount_ETH"]

    paid = daemon.rpc("get_request", request["request_id"], xpub=wallet)
    assert (paid["status"], paid["confirmations"], paid["late"]) == (3, 1, False)
    assert paid["due_amount"] == "0.000000000000000000"
    polled = [u["event"] for u in updates(daemon, wallet)]
    assert polled.count("new_payment") == 1 and "new_transaction" in polled

    height = chain.node.mine(2)
    daemon.wait_for(lambda: daemon.synced(height), what="scan of the mined blocks")
    assert daemon.rpc("get_request", request["request_id"], xpub=wallet)["confirmations"] == 3
    assert {"event": "new_block", "height": height} in updates(daemon, wallet)
