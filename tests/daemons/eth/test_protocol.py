"""Bitcart's daemon protocol and bad input: every failure is a spec error and the daemon keeps serving."""

import json

import pytest

from daemons.eth.errors import EXCEPTIONS
from daemons.eth.testing import DaemonRPCError

pytestmark = pytest.mark.slow

GOOD = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"  # EIP-55's own example
BAD_CHECKSUM = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"


def error_of(daemon, method, *args, **kwargs) -> int:
    with pytest.raises(DaemonRPCError) as info:
        daemon.rpc(method, *args, **kwargs)
    return info.value.code


def test_spec_lists_every_code(daemon):
    status, spec = daemon.get("/spec")
    assert status == 200
    assert {int(code) for code in spec["exceptions"]} == set(EXCEPTIONS)
    assert spec["exceptions"]["-32022"]["exc_name"] == "UnknownTokenError"


def test_addresses(daemon):
    assert daemon.rpc("validateaddress", GOOD) is True
    assert daemon.rpc("validateaddress", GOOD.lower()) is True  # no checksum to check
    assert daemon.rpc("validateaddress", BAD_CHECKSUM) is False
    assert daemon.rpc("validateaddress", "0x1234") is False
    assert daemon.rpc("normalizeaddress", GOOD.lower()) == GOOD
    assert error_of(daemon, "normalizeaddress", BAD_CHECKSUM) == -32004
    assert error_of(daemon, "add_request", "1", xpub=BAD_CHECKSUM) == -32004
    assert error_of(daemon, "get_request", "x", xpub="not an address") == -32004


def test_bad_amounts_tokens_and_requests(daemon, chain):
    assert error_of(daemon, "add_request", "0.0000000000000000001", xpub=GOOD) == -32016  # 19 decimals
    assert error_of(daemon, "add_request", "1.0000001", xpub={"xpub": GOOD, "contract": "USDT"}) == -32016
    assert error_of(daemon, "add_request", "-1", xpub=GOOD) == -32602
    assert error_of(daemon, "add_request", "NaN", xpub=GOOD) == -32602
    assert error_of(daemon, "add_request", "abc", xpub=GOOD) == -32602
    assert error_of(daemon, "add_request", "1", "memo", -5, xpub=GOOD) == -32602
    unknown = "0x" + "11" * 20
    assert error_of(daemon, "add_request", "1", xpub={"xpub": GOOD, "contract": unknown}) == -32022
    assert error_of(daemon, "add_request", "1", xpub={"xpub": GOOD, "contract": "DOGE"}) == -32022
    assert error_of(daemon, "readcontract", unknown, "symbol") == -32022
    assert error_of(daemon, "readcontract", chain.usdt, "transfer") == -32602
    assert error_of(daemon, "get_request", "0" * 32, xpub=GOOD) == -32003
    assert error_of(daemon, "get_request", xpub=GOOD) == -32602
    assert error_of(daemon, "get_tx_status", "0x1234") == -32001
    assert error_of(daemon, "get_tx_status", "0x" + "ab" * 32) == -32002
    assert error_of(daemon, "getbalance") == -32000
    assert error_of(daemon, "payto", GOOD, "1", xpub=GOOD) == -32019
    assert error_of(daemon, "no_such_method") == -32601
    # another wallet's request is not found through this one
    mine = daemon.rpc("add_request", "1", xpub=GOOD)
    assert error_of(daemon, "get_request", mine["request_id"], xpub="0x" + "22" * 20) == -32003
    assert daemon.rpc("get_tip")["connected"] is True


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", -32700),
        (b"[" * 100_000, -32700),  # segfaulted the daemon while py_ecc's recursion limit (100 000) was in force
        (json.dumps([{"jsonrpc": "2.0", "id": 1, "method": "help"}]).encode(), -32018),
        (b'"help"', -32602),
        (json.dumps({"jsonrpc": "2.0", "id": 1, "method": 5}).encode(), -32601),
        (json.dumps({"jsonrpc": "2.0", "id": 1, "method": "help", "params": "x"}).encode(), -32602),
    ],
)
def test_malformed_json_rpc(daemon, body, code):
    status, data = daemon.post(body)
    assert (status, data["error"]["code"]) == (200, code)
    assert daemon.rpc("help")[:3] == sorted(daemon.rpc("help"))[:3]


def test_auth_and_body_limit(daemon):
    status, data = daemon.post(b"{}", auth="Basic " + "d3Jvbmc6d3Jvbmc=")
    assert (status, data["error"]["code"]) == (401, -32600)
    status, data = daemon.post(b" " * (1024 * 1024 + 1))
    assert (status, data["error"]["code"]) == (413, -32017)
    assert daemon.rpc("version") == "eth-django.1"


def test_sdk_style_calls(daemon, chain, merchant_address):
    request = daemon.rpc("add_request", amount="0.25", memo="m", expiry=60, xpub=merchant_address)
    assert daemon.rpc("getrequest", request["request_id"], xpub=merchant_address)["id"] == request["request_id"]
    info = daemon.rpc("getinfo")
    assert (info["chain_id"], info["network"]) == (1337, "local")
    assert {"symbol": "USDT", "contract": chain.usdt, "decimals": 6} in info["tokens"]
    assert daemon.rpc("getbalance", xpub=merchant_address) == {
        "confirmed": "0.000000000000000000",
        "unconfirmed": "0.000000000000000000",
        "unmatured": "0.000000000000000000",
    }
    assert daemon.rpc("setconfig", "k", {"a": 1}, {}) is True
    assert daemon.rpc("getconfig", "k") == {"a": 1}
    assert error_of(daemon, "getconfig", "missing") == -32014
    assert "add_request(amount, memo, expiration, force, expiry)" in daemon.rpc("help", "add_request")
    assert daemon.rpc("add_request", "1", expiration=120, xpub=merchant_address)["expiry"] == 120
    tx_hash, _raw = chain.pay_eth(merchant_address, "0.01")
    status = daemon.rpc("get_tx_status", tx_hash)
    assert (status["status"], status["confirmations"]) == (1, 1)
    assert daemon.rpc("get_transaction", tx_hash)["to"] == merchant_address
    assert int(daemon.rpc("get_default_fee")) > 0


def test_tags_are_unique_until_exhausted(tmp_path, chain, merchant_address):
    from daemons.eth.testing import start_daemon

    daemon = start_daemon(tmp_path, chain.node, tokens={"USDT": chain.usdt}, extra_env={"ETH_TAG_DIGITS": "1"})
    try:
        requests = [daemon.rpc("add_request", "1", xpub=merchant_address) for _ in range(9)]
        assert sorted(r["tag"] for r in requests) == list(range(1, 10))
        assert len({r["amount"] for r in requests}) == 9
        assert error_of(daemon, "add_request", "1", xpub=merchant_address) == -32023
        # tags are per asset: the token wallet of the same address has its own nine
        token_request = daemon.rpc("add_request", "1", xpub={"xpub": merchant_address, "contract": "USDT"})
        assert token_request["tag"] in range(1, 10)
    finally:
        daemon.stop()
