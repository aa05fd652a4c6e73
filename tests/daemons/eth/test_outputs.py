"""Django's reconciliation methods against a real ganache node: get_address_outputs keyed by request id
(exact txid, vout, value, height, confirmations; reorgs; unknown ids), and the no-op watch/unwatch."""

from decimal import Decimal

import pytest

from daemons.eth.testing import DaemonRPCError, free_port, start_daemon
from tests.daemons.eth.conftest import updates

pytestmark = pytest.mark.slow


def outputs(daemon, wallet, ids: list, **kwargs) -> dict:
    return daemon.rpc("get_address_outputs", addresses=ids, xpub=wallet, **kwargs)


def error_of(daemon, method, *args, **kwargs) -> int:
    with pytest.raises(DaemonRPCError) as info:
        daemon.rpc(method, *args, **kwargs)
    return info.value.code


def mined_in(chain, tx_hash: str) -> int:
    return chain.w3.eth.get_transaction_receipt(tx_hash)["blockNumber"]


def test_eth_payment_outputs_and_confirmations(daemon, chain, merchant_address):
    wallet = merchant_address
    assert updates(daemon, wallet) == []  # starts the wallet's polling queue
    request = daemon.rpc("add_request", "0.5", xpub=wallet)
    request_id = request["request_id"]
    daemon.wait_for(daemon.synced, what="scan")
    assert outputs(daemon, wallet, [request_id]) == {
        "height": daemon.rpc("get_tip")["cursor"],
        "outputs": {request_id: []},
        "pending": [],
        "unknown": [],
    }

    tx_hash, _raw = chain.pay_eth(wallet, request["amount"])
    block = mined_in(chain, tx_hash)
    daemon.wait_for(lambda: daemon.synced(block), what="scan of the payment")
    wei = request["amount_wei"]
    assert wei == int(Decimal(request["amount"]).scaleb(18))
    assert outputs(daemon, wallet, [request_id]) == {
        "height": block,
        "outputs": {
            request_id: [
                {"txid": tx_hash, "vout": 0, "value": wei, "value_sat": wei, "height": block, "confirmations": 1}
            ]
        },
        "pending": [],
        "unknown": [],
    }

    height = chain.node.mine(2)
    assert height == block + 2
    daemon.wait_for(lambda: daemon.synced(height), what="scan of the mined blocks")
    answer = outputs(daemon, wallet, [request_id], budget=0)
    assert answer["height"] == height
    assert [(o["height"], o["confirmations"]) for o in answer["outputs"][request_id]] == [(block, 3)]

    # The events Django's listener keys on, field by field.
    events = {u["event"]: u for u in updates(daemon, wallet)}
    assert events["new_transaction"] == {
        "event": "new_transaction",
        "tx": tx_hash,
        "address": wallet,
        "to": wallet,
        "from_address": chain.payer,
        "contract": None,
        "amount": request["amount"],
        "height": block,
        "log_index": -1,
        "request_id": request_id,
    }
    assert events["new_payment"] == {
        "event": "new_payment",
        "address": request_id,
        "request_id": request_id,
        "payment_address": wallet,
        "contract": None,
        "status": 3,
        "status_str": "Paid",
        "tx_hashes": [tx_hash],
        "sent_amount": request["amount"],
        "late": False,
    }


def test_token_payment_and_underpayment_outputs(daemon, chain, merchant_address):
    token_wallet = {"xpub": merchant_address, "contract": chain.usdt}
    paid = daemon.rpc("add_request", "12.5", xpub=token_wallet)
    under = daemon.rpc("add_request", "20", xpub=token_wallet)
    native = daemon.rpc("add_request", "0.1", xpub=merchant_address)  # the same address's ETH request
    short = Decimal(under["amount"]) - 1  # an exchange's flat 1 USDT fee: the tag digits survive
    paid_tx, _raw = chain.pay_token(merchant_address, paid["amount"])
    under_tx, _raw = chain.pay_token(merchant_address, str(short))
    paid_block, under_block = mined_in(chain, paid_tx), mined_in(chain, under_tx)
    assert under_block == paid_block + 1
    daemon.wait_for(lambda: daemon.synced(under_block), what="scan of the transfers")
    receipts = [chain.w3.eth.get_transaction_receipt(tx) for tx in (paid_tx, under_tx)]
    (paid_log,), (under_log,) = (r["logs"] for r in receipts)
    ids = [paid["request_id"], under["request_id"], native["request_id"]]

    expected = {
        "height": under_block,
        "outputs": {
            paid["request_id"]: [
                {
                    "txid": paid_tx,
                    "vout": paid_log["logIndex"],
                    "value": paid["amount_wei"],
                    "value_sat": paid["amount_wei"],
                    "height": paid_block,
                    "confirmations": 2,
                }
            ],
            under["request_id"]: [
                {
                    "txid": under_tx,
                    "vout": under_log["logIndex"],
                    "value": int(short.scaleb(6)),
                    "value_sat": int(short.scaleb(6)),
                    "height": under_block,
                    "confirmations": 1,
                }
            ],
            native["request_id"]: [],
        },
        "pending": [],
        "unknown": [],
    }
    # the plain address answers for every asset of it; the token wallet's form the same
    assert outputs(daemon, merchant_address, ids) == expected
    assert outputs(daemon, token_wallet, ids) == expected
    assert outputs(daemon, {"xpub": merchant_address, "contract": "USDT"}, ids) == expected
    assert daemon.rpc("get_request", under["request_id"], xpub=token_wallet)["status"] == 0  # listed, not paid


def test_reorg_removes_then_restores_the_output(daemon, chain, merchant_address):
    wallet = merchant_address
    request = daemon.rpc("add_request", "2", xpub=wallet)
    request_id = request["request_id"]
    snapshot = chain.node.snapshot()
    fork_height = int(chain.node.call("eth_blockNumber"), 16)
    tx_hash, raw = chain.pay_eth(wallet, request["amount"])
    height = chain.node.mine(2)
    daemon.wait_for(lambda: daemon.synced(height), what="scan")
    before = outputs(daemon, wallet, [request_id])
    assert before["height"] == height == fork_height + 3
    assert [(o["txid"], o["height"], o["confirmations"]) for o in before["outputs"][request_id]] == [
        (tx_hash, fork_height + 1, 3)
    ]

    # A longer chain without the payment replaces its block and the two after it.
    assert chain.node.revert(snapshot) is True
    new_height = chain.node.mine(4)
    daemon.wait_for(lambda: daemon.synced(new_height), what="scan of the new chain")
    assert outputs(daemon, wallet, [request_id]) == {
        "height": new_height,
        "outputs": {request_id: []},
        "pending": [],
        "unknown": [],
    }

    # The same signed transaction mined again: listed again, at its new block.
    assert chain.replay(raw) == tx_hash
    daemon.wait_for(lambda: daemon.synced(new_height + 1), what="scan of the re-mined payment")
    assert outputs(daemon, wallet, [request_id])["outputs"] == {
        request_id: [
            {
                "txid": tx_hash,
                "vout": 0,
                "value": request["amount_wei"],
                "value_sat": request["amount_wei"],
                "height": new_height + 1,
                "confirmations": 1,
            }
        ]
    }


def test_unknown_and_foreign_ids_and_bounds(daemon, chain, merchant_address):
    other = "0x" + "44" * 20
    mine = daemon.rpc("add_request", "1", xpub=merchant_address)["request_id"]
    foreign = daemon.rpc("add_request", "1", xpub=other)["request_id"]
    missing = "0" * 32
    answer = outputs(daemon, merchant_address, [foreign, mine, missing, "not an id", mine.upper(), mine])
    assert answer == {
        "height": daemon.rpc("get_tip")["cursor"],
        "outputs": {mine: []},  # asked three times (once in upper case): answered once, under its id
        "pending": [],
        "unknown": [foreign, missing, "not an id"],
    }
    assert outputs(daemon, other, [foreign, mine])["outputs"] == {foreign: []}
    assert outputs(daemon, merchant_address, []) == {
        "height": answer["height"],
        "outputs": {},
        "pending": [],
        "unknown": [],
    }
    # Django's watch_addresses shape is accepted as well
    assert outputs(daemon, merchant_address, [{"address": mine, "index": 0, "until": 0}])["outputs"] == {mine: []}

    at_most = [mine] + [f"{n:032x}" for n in range(999)]
    assert len(outputs(daemon, merchant_address, at_most)["unknown"]) == 999
    for bad in ([mine] * 1001, "abc", [5], [{"index": 0}]):
        assert error_of(daemon, "get_address_outputs", addresses=bad, xpub=merchant_address) == -32602
    for budget in (-1, 61, "5", True):
        assert error_of(daemon, "get_address_outputs", [mine], budget, xpub=merchant_address) == -32602
    assert error_of(daemon, "get_address_outputs", addresses=[mine]) == -32000
    assert error_of(daemon, "get_address_outputs", [mine], xpub={"xpub": merchant_address, "contract": "DOGE"}) == (
        -32022
    )


def test_watch_and_unwatch_change_nothing(daemon, chain, merchant_address):
    request = daemon.rpc("add_request", "0.3", xpub=merchant_address)
    request_id = request["request_id"]
    entries = [{"address": request_id, "index": 0, "until": 2_000_000_000}, "0" * 32]
    assert daemon.rpc("watch_addresses", addresses=entries, xpub=merchant_address) == {
        "watched": 0,
        "skipped_expired": 0,
        "conflicts": [],
    }
    assert daemon.rpc("unwatch_addresses", addresses=[request_id], xpub=merchant_address) == {"unwatched": 0}
    for method in ("watch_addresses", "unwatch_addresses"):
        assert error_of(daemon, method, addresses="x", xpub=merchant_address) == -32602
        assert error_of(daemon, method, addresses=[None], xpub=merchant_address) == -32602
        assert error_of(daemon, method, addresses=["x"] * 10_001, xpub=merchant_address) == -32602
        assert error_of(daemon, method, addresses=[request_id]) == -32000
    # still watched after the unwatch: the payment is attributed and listed
    tx_hash, _raw = chain.pay_eth(merchant_address, request["amount"])
    block = mined_in(chain, tx_hash)
    daemon.wait_for(lambda: daemon.synced(block), what="scan of the payment")
    assert [o["txid"] for o in outputs(daemon, merchant_address, [request_id])["outputs"][request_id]] == [tx_hash]
    assert daemon.rpc("get_request", request_id, xpub=merchant_address)["status"] == 3


def test_before_the_first_scan_ids_are_pending(tmp_path, merchant_address):
    daemon = start_daemon(tmp_path, server=f"http://127.0.0.1:{free_port()}", extra_env={"ETH_RPC_TIMEOUT": "1"})
    try:
        daemon.wait_for(lambda: daemon.rpc("get_tip")["error"], what="first failure")
        request_id = daemon.rpc("add_request", "1", xpub=merchant_address)["request_id"]
        assert daemon.rpc("get_tip")["cursor"] is None
        assert outputs(daemon, merchant_address, [request_id, "0" * 32]) == {
            "height": 0,
            "outputs": {},
            "pending": [request_id],
            "unknown": ["0" * 32],
        }
    finally:
        assert daemon.stop() == 0
