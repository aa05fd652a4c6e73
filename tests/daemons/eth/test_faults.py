"""Faults: a node that stops answering (every call bounded by ETH_RPC_TIMEOUT), and no outbound connections."""

import os
import signal
import time

import pytest

from daemons.eth.testing import DaemonRPCError, start_daemon

pytestmark = pytest.mark.slow


def test_stalled_node_calls_time_out_and_recover(tmp_path, chain, merchant_address):
    daemon = start_daemon(tmp_path, chain.node, extra_env={"ETH_RPC_TIMEOUT": "1"})
    try:
        daemon.wait_for(daemon.synced, what="first scan")
        request = daemon.rpc("add_request", "0.3", xpub=merchant_address)
        os.kill(chain.node.process.pid, signal.SIGSTOP)  # the node accepts connections but never answers
        try:
            for method, args in (("getbalance", ()), ("get_tx_status", ("0x" + "ab" * 32,)), ("get_default_fee", ())):
                started = time.monotonic()
                with pytest.raises(DaemonRPCError) as info:
                    daemon.rpc(method, *args, xpub=merchant_address, timeout=10)
                assert info.value.code == -32020
                assert time.monotonic() - started < 3
            daemon.wait_for(lambda: daemon.rpc("get_tip")["connected"] is False, what="scanner notices", timeout=10)
            # requests are served from the store meanwhile
            assert daemon.rpc("get_request", request["request_id"], xpub=merchant_address)["status"] == 0
        finally:
            os.kill(chain.node.process.pid, signal.SIGCONT)
        daemon.wait_for(lambda: daemon.rpc("get_tip")["connected"], what="reconnect")
        chain.pay_eth(merchant_address, request["amount"])
        daemon.wait_for(
            lambda: daemon.rpc("get_request", request["request_id"], xpub=merchant_address)["status"] == 3,
            what="payment after recovery",
        )
    finally:
        assert daemon.stop() == 0


def test_node_has_no_outbound_connection(chain, daemon, merchant_address):
    chain.pay_eth(merchant_address, "0.001")
    chain.node.mine(1)
    assert chain.node.remote_peers() == []
    assert not any("fork" in arg for arg in chain.node.process.args)


def test_wrong_chain_is_refused(tmp_path, chain):
    # checked before listening: the daemon exits with code 2; start_daemon reports it with the log's tail
    with pytest.raises(RuntimeError, match=r"exit 2\)(.|\n)*ETH_SERVER is chain 1337, ETH_CHAIN_ID is 1"):
        start_daemon(tmp_path, chain.node, extra_env={"ETH_CHAIN_ID": "1"})


def test_daemon_starts_while_its_node_is_down(tmp_path):
    from daemons.eth.testing import free_port

    daemon = start_daemon(tmp_path, server=f"http://127.0.0.1:{free_port()}", extra_env={"ETH_RPC_TIMEOUT": "1"})
    try:
        tip = daemon.wait_for(lambda: (t := daemon.rpc("get_tip"))["error"] and t, what="first failure")
        assert (tip["connected"], tip["synchronized"], tip["height"]) == (False, False, None)
        with pytest.raises(DaemonRPCError) as info:
            daemon.rpc("getbalance", xpub="0x" + "33" * 20)
        assert info.value.code == -32020
    finally:
        assert daemon.stop() == 0
