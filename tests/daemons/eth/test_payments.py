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


def test_token_transfer_pays_a_token_request(daemon, chain, merchant_address):
    wallet = {"xpub": merchant_address, "contract": chain.usdt}
    request = daemon.rpc("add_request", "12.5", xpub=wallet)
    assert (request["symbol"], request["contract"], request["decimals"]) == ("USDT", chain.usdt, 6)
    tag = request["tag"]
    assert Decimal(request["amount_USDT"]) == Decimal("12.5") + Decimal(tag) / 10**6
    units = int(Decimal(request["amount_USDT"]) * 10**6)
    assert request["URI"] == f"ethereum:{chain.usdt}@1337/transfer?address={merchant_address}&uint256={units}"
    # an ETH payment of the same digits does not pay a USDT request (the tag is per asset)
    chain.pay_eth(merchant_address, request["amount_USDT"])
    tx_hash, _raw = chain.pay_token(merchant_address, request["amount_USDT"])
    paid = daemon.wait_for(
        lambda: (r := daemon.rpc("get_request", request["request_id"], xpub=wallet))["status"] == 3 and r,
        what="token payment",
    )
    assert paid["tx_hashes"] == [tx_hash]
    assert paid["sent_amount"] == request["amount_USDT"]
    assert paid["confirmations"] == 1
    assert daemon.rpc("readcontract", chain.usdt, "symbol") == "USDT"
    assert daemon.rpc("readcontract", "USDT", "decimals") == 6
    balance = daemon.rpc("getbalance", xpub=wallet)
    assert balance["confirmed"] == request["amount_USDT"]
    history = daemon.rpc("history", xpub=merchant_address)
    assert [(h["contract"], h["request_id"]) for h in history] == [
        (chain.usdt, request["request_id"]),
        (None, None),  # the ETH transfer carried USDT's tag digits but no ETH request holds that tag
    ]


def test_under_then_topped_up_and_over_payment(daemon, chain, merchant_address):
    wallet = {"xpub": merchant_address, "contract": "USDT"}
    under = daemon.rpc("add_request", "20", xpub=wallet)
    over = daemon.rpc("add_request", "20", xpub=wallet)
    assert under["tag"] != over["tag"] and under["amount"] != over["amount"]

    # an exchange that takes a flat 1 USDT fee from the amount: the tag digits survive
    short = Decimal(under["amount"]) - 1
    chain.pay_token(merchant_address, str(short))
    partial = daemon.wait_for(
        lambda: (r := daemon.rpc("get_request", under["request_id"], xpub=wallet))["tx_hashes"] and r,
        what="partial payment",
    )
    assert partial["status"] == 0
    assert Decimal(partial["sent_amount"]) == short
    due = Decimal(partial["due_amount"])  # what is left, rounded up so that it carries the tag again
    assert Decimal("1") <= due < Decimal("1.01")
    assert int(due * 10**6) % 10**4 == under["tag"]
    chain.pay_token(merchant_address, str(due))
    topped = daemon.wait_for(
        lambda: (r := daemon.rpc("get_request", under["request_id"], xpub=wallet))["status"] == 3 and r,
        what="top-up",
    )
    assert Decimal(topped["sent_amount"]) == short + due
    assert len(topped["tx_hashes"]) == 2

    chain.pay_token(merchant_address, str(Decimal(over["amount"]) + 5))
    paid = daemon.wait_for(
        lambda: (r := daemon.rpc("get_request", over["request_id"], xpub=wallet))["status"] == 3 and r,
        what="overpayment",
    )
    assert Decimal(paid["sent_amount"]) == Decimal(over["amount"]) + 5
    assert paid["due_amount"] == "0.000000"


def test_payment_without_a_live_tag_is_not_attributed(daemon, chain, merchant_address):
    request = daemon.rpc("add_request", "1", xpub=merchant_address)
    other_tag = request["tag"] % 9999 + 1  # held by no request of this wallet
    bare, _raw = chain.pay_eth(merchant_address, "1")  # the bare price: tag 0, which no request holds
    stray, _raw = chain.pay_eth(merchant_address, str(Decimal(1) + Decimal(other_tag) / 10**8))
    daemon.wait_for(lambda: len(daemon.rpc("history", xpub=merchant_address)) == 2, what="both transfers")
    history = {h["tx_hash"]: h for h in daemon.rpc("history", xpub=merchant_address)}
    assert {tx: (h["tag"], h["request_id"]) for tx, h in history.items()} == {bare: (0, None), stray: (other_tag, None)}
    state = daemon.rpc("get_request", request["request_id"], xpub=merchant_address)
    assert (state["status"], state["tx_hashes"], Decimal(state["sent_amount"])) == (0, [], 0)


def test_payment_after_expiry_is_a_late_payment(daemon, chain, merchant_address):
    assert updates(daemon, merchant_address) == []
    request = daemon.rpc("add_request", "0.1", "late", 1, xpub=merchant_address)
    expired = daemon.wait_for(
        lambda: (r := daemon.rpc("get_request", request["request_id"], xpub=merchant_address))["status"] == 1 and r,
        what="expiry",
        timeout=10,
    )
    assert expired["status_str"] == "Expired"
    time.sleep(1)  # the block timestamp must be past the expiry (ganache stamps in whole seconds)
    chain.pay_eth(merchant_address, request["amount"])
    late = daemon.wait_for(
        lambda: (r := daemon.rpc("get_request", request["request_id"], xpub=merchant_address))["status"] == 3 and r,
        what="late payment",
    )
    assert late["late"] is True
    events = [u for u in updates(daemon, merchant_address) if u["event"] == "new_payment"]
    assert [(e["status"], e["late"]) for e in events] == [(1, False), (3, True)]
