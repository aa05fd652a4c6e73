"""The block cursor against a real ganache node: reorgs (evm_snapshot/evm_revert) and restarts."""

import re
import sqlite3

import pytest

from daemons.eth.testing import start_daemon
from tests.daemons.eth.conftest import updates

pytestmark = pytest.mark.slow


def request_state(daemon, request, wallet):
    return daemon.rpc("get_request", request["request_id"], xpub=wallet)


def test_reorg_unconfirms_and_reapplies_a_payment(daemon, chain, merchant_address):
    wallet = merchant_address
    assert updates(daemon, wallet) == []
    request = daemon.rpc("add_request", "2", xpub=wallet)
    snapshot = chain.node.snapshot()
    fork_height = int(chain.node.call("eth_blockNumber"), 16)
    tx_hash, raw = chain.pay_eth(wallet, request["amount"])
    height = chain.node.mine(2)
    daemon.wait_for(lambda: daemon.synced(height), what="scan")
    assert request_state(daemon, request, wallet)["confirmations"] == 3

    # The payment's block and the two after it are replaced by a longer chain without the payment.
    assert chain.node.revert(snapshot) is True
    new_height = chain.node.mine(4)
    assert new_height == fork_height + 4 > height
    daemon.wait_for(lambda: daemon.synced(new_height), what="scan of the new chain")
    state = request_state(daemon, request, wallet)
    assert (state["status"], state["tx_hashes"], state["sent_amount"]) == (0, [], "0.000000000000000000")
    assert "confirmations" not in state
    assert daemon.rpc("history", xpub=wallet) == []

    # The same signed transaction mined again in the new chain: applied again, counted from its new block.
    assert chain.replay(raw) == tx_hash
    daemon.wait_for(lambda: request_state(daemon, request, wallet)["status"] == 3, what="re-applied payment")
    state = request_state(daemon, request, wallet)
    assert (state["tx_hashes"], state["confirmations"]) == ([tx_hash], 1)
    assert [h["height"] for h in daemon.rpc("history", xpub=wallet)] == [new_height + 1]
    statuses = [u["status"] for u in updates(daemon, wallet) if u["event"] == "new_payment"]
    assert statuses == [3, 0, 3]


def test_reorg_to_a_shorter_chain_is_noticed(daemon, chain, merchant_address):
    wallet = {"xpub": merchant_address, "contract": chain.usdt}
    request = daemon.rpc("add_request", "3", xpub=wallet)
    snapshot = chain.node.snapshot()
    chain.pay_token(merchant_address, request["amount"])
    daemon.wait_for(lambda: request_state(daemon, request, wallet)["status"] == 3, what="payment")
    chain.node.revert(snapshot)  # the tip goes back below the daemon's cursor, nothing new mined
    daemon.wait_for(lambda: request_state(daemon, request, wallet)["status"] == 0, what="rollback")
    assert request_state(daemon, request, wallet)["tx_hashes"] == []


def test_restart_resumes_from_the_cursor(tmp_path, chain, merchant_address):
    env = {"ETH_DEBUG": "true", "ETH_MAX_BLOCK_RANGE": "3"}
    first = start_daemon(tmp_path, chain.node, tokens={"USDT": chain.usdt}, extra_env=env)
    try:
        first.wait_for(first.synced, what="first scan")
        request = first.rpc("add_request", "1.5", xpub=merchant_address)
        chain.pay_eth(merchant_address, "0.1")  # seen by the first run (unattributed)
        first.wait_for(lambda: len(first.rpc("history", xpub=merchant_address)) == 1, what="first payment")
        cursor = first.rpc("get_tip")["cursor"]
    finally:
        assert first.stop() == 0

    # While the daemon is down: the payment and 7 more blocks.
    tx_hash, _raw = chain.pay_eth(merchant_address, request["amount"])
    height = chain.node.mine(7)
    assert height == cursor + 8
    log_before = first.log()

    second = start_daemon(tmp_path, chain.node, tokens={"USDT": chain.usdt}, extra_env=env)
    try:
        second.wait_for(lambda: second.synced(height), what="catch-up")
        state = second.rpc("get_request", request["request_id"], xpub=merchant_address)
        assert (state["status"], state["tx_hashes"], state["confirmations"]) == (3, [tx_hash], 8)
        assert len(second.rpc("history", xpub=merchant_address)) == 2
        ranges = [
            (int(a), int(b)) for a, b in re.findall(r"scanned blocks (\d+)\.\.(\d+)", second.log()[len(log_before) :])
        ]
    finally:
        second.stop()
    # resumed right after the committed cursor, in steps of at most ETH_MAX_BLOCK_RANGE, no block twice
    assert ranges[0][0] == cursor + 1
    assert all(b - a + 1 <= 3 for a, b in ranges)
    assert [a for a, _ in ranges[1:]] == [b + 1 for _, b in ranges[:-1]]
    assert ranges[-1][1] == height


def test_payment_scanned_after_the_window_still_goes_to_its_request(tmp_path, chain, merchant_address):
    """The daemon's node is unreachable while a request's watch window ends and its tag is freed; the payment
    made inside the window is attributed by its block's time once the node is back."""
    from daemons.eth.testing import free_port

    env = {"ETH_WATCH_WINDOW": "2"}
    first = start_daemon(tmp_path, chain.node, extra_env=env)
    try:
        first.wait_for(first.synced, what="first scan")
        request = first.rpc("add_request", "0.2", "", 1, xpub=merchant_address)
    finally:
        first.stop()
    tx_hash, _raw = chain.pay_eth(merchant_address, request["amount"])  # within expiry + window
    blind = start_daemon(tmp_path, server=f"http://127.0.0.1:{free_port()}", extra_env={**env, "ETH_RPC_TIMEOUT": "1"})
    try:  # the sweep runs, the scanner cannot: the request leaves its window and its tag is freed
        blind.wait_for(
            lambda: blind.rpc("get_request", request["request_id"], xpub=merchant_address)["status"] == 1,
            what="expiry",
        )
        db = sqlite3.connect(blind.data_path / "daemon.sqlite3")
        try:  # white-box: the point of the test is that the tag is free again before the payment is scanned
            blind.wait_for(
                lambda: (
                    db.execute("SELECT live FROM requests WHERE request_id = ?", (request["request_id"],)).fetchone()
                    == (0,)
                ),
                what="tag freed",
            )
        finally:
            db.close()
        retaken = blind.rpc("add_request", "0.2", "", 1, xpub=merchant_address)
        assert retaken["tag"] != request["tag"]  # round-robin: the freed tag is not the next one
    finally:
        blind.stop()
    second = start_daemon(tmp_path, chain.node, extra_env=env)
    try:
        state = second.wait_for(
            lambda: (r := second.rpc("get_request", request["request_id"], xpub=merchant_address))["status"] == 3 and r,
            what="late attribution",
        )
    finally:
        second.stop()
    assert state["tx_hashes"] == [tx_hash]
