"""The `bitcart` SDK from PyPI (its ETH coin), unchanged, against the ETH daemon and a real ganache node.

The SDK lives in its own venv (tests/daemons/sdk.py explains why and makes it).
"""

from decimal import Decimal

import pytest

from daemons.eth.testing import start_daemon
from tests.daemons.sdk import sdk_runner

pytestmark = pytest.mark.slow

SDK_SCRIPT = r"""
import asyncio, json, os, urllib.request
from decimal import Decimal
from bitcart import ETH

env = os.environ


def node(method, params):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(env["NODE_URL"], data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["result"]


async def main():
    auth = dict(rpc_url=env["DAEMON_URL"], rpc_user=env["DAEMON_LOGIN"], rpc_pass=env["DAEMON_PASSWORD"])
    eth = ETH(xpub=env["WALLET"], **auth)
    usdt = ETH(xpub={"xpub": env["WALLET"], "contract": env["USDT"]}, **auth)
    out = {"spec_version": (await eth.spec)["version"], "valid_key": await eth.validate_key(env["WALLET"])}
    request = await eth.add_request(0.5, "sdk order", 15)
    out["request"] = {k: str(v) for k, v in request.items()}
    token_request = await usdt.add_request(Decimal("12.5"), "token order", 15)
    out["token_request"] = {k: str(v) for k, v in token_request.items()}
    out["fetched"] = {k: str(v) for k, v in (await eth.get_request(request["request_id"])).items()}
    out["balance"] = {k: str(v) for k, v in (await eth.balance()).items()}
    try:
        await eth.add_request("0.0000000000000000001")
    except Exception as exc:
        out["precise_error"] = type(exc).__name__
    try:
        await ETH(xpub=env["BAD_CHECKSUM"], **auth).add_request(1)
    except Exception as exc:
        out["address_error"] = type(exc).__name__

    payments = asyncio.Queue()

    @eth.on("new_payment")
    async def on_payment(event, address, status, status_str, tx_hashes, sent_amount):
        await payments.put({"address": address, "status": status, "status_str": status_str,
                            "tx_hashes": tx_hashes, "sent_amount": sent_amount})

    socket = asyncio.ensure_future(eth.start_websocket(auto_reconnect=False))
    await asyncio.sleep(0.5)
    value = int(Decimal(request["amount_ETH"]) * 10**18)
    out["paid_tx"] = node("eth_sendTransaction", [{"from": env["PAYER"], "to": env["WALLET"], "value": hex(value)}])
    out["event"] = await asyncio.wait_for(payments.get(), 20)
    socket.cancel()
    print(json.dumps(out))


asyncio.run(main())
"""


def wrong_checksum(address):
    """The address with one letter's case flipped, still mixed case: a certain EIP-55 checksum failure."""
    body = address[2:]
    letters = [i for i, char in enumerate(body) if char.isalpha()]
    for i in letters:
        flipped = body[:i] + body[i].swapcase() + body[i + 1 :]
        if flipped not in (flipped.lower(), flipped.upper()):
            return "0x" + flipped
    raise AssertionError(f"{address} has too few letters to break its checksum by case")


def test_wrong_checksum_is_mixed_case_and_differs_only_in_case():
    address = "0x52908400098527886E0F7030069857D2E4169EE7"
    bad = wrong_checksum(address)
    assert bad != address and bad.lower() == address.lower() and bad not in (bad.lower(), bad.upper())


def test_bitcart_sdk_eth_creates_reads_and_hears_about_a_payment(tmp_path, chain, merchant_address):
    sdk = sdk_runner(tmp_path)
    daemon = start_daemon(tmp_path, chain.node, tokens={"USDT": chain.usdt})
    try:
        daemon.wait_for(daemon.synced, what="first scan")
        env = {
            "WALLET": merchant_address,
            "USDT": chain.usdt,
            "NODE_URL": chain.node.url,
            "PAYER": chain.payer,
            "BAD_CHECKSUM": wrong_checksum(merchant_address),
        }
        out = sdk.run(SDK_SCRIPT, daemon, env, timeout=90)
    finally:
        assert daemon.stop() == 0

    assert out["valid_key"] is True
    request = out["request"]
    assert (request["status"], request["status_str"], request["expiry"]) == ("0", "Unpaid", "900")
    assert Decimal(request["amount_ETH"]) == Decimal("0.5") + Decimal(request["tag"]) / 10**8
    token_request = out["token_request"]
    assert Decimal(token_request["amount_USDT"]) == Decimal("12.5") + Decimal(token_request["tag"]) / 10**6
    assert out["fetched"]["request_id"] == request["request_id"]
    assert out["balance"] == {"confirmed": "0E-18", "unconfirmed": "0E-18", "unmatured": "0E-18", "lightning": "0"}
    assert out["precise_error"] == "AmountTooPreciseError"
    assert out["address_error"] == "InvalidAddressError"
    assert out["event"] == {
        "address": request["request_id"],
        "status": 3,
        "status_str": "Paid",
        "tx_hashes": [out["paid_tx"]],
        "sent_amount": request["amount_ETH"],
    }
