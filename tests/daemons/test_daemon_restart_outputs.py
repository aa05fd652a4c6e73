"""get_address_outputs while the daemon is still re-loading its watched set, and the pieces that make
that fast (batched subscriptions, the fast scripthash): nothing may be concluded from an address whose
view is incomplete, and payments made while the daemon was down are found."""

import json
import os
import subprocess
import time

import pytest

from daemons.btc.testing import DAEMON_PYTHON, PROJECT_ROOT, start_daemon
from daemons.processes import wait_for
from daemons.simulator.testing import start_simulator
from wallets.keys import derive_receive_address, generate_xpub

WATCHED = 3000
CALL_LIMIT = 10.0  # Django's client timeout (DAEMON_TIMEOUT)


@pytest.fixture
def sim(tmp_path):
    simulator = start_simulator(tmp_path / "chain")
    yield simulator
    simulator.stop()


def _answers(daemon, xpub, addresses):
    """One get_address_outputs call: every address is either answered or pending, never both or neither."""
    started = time.monotonic()
    result = daemon.rpc("get_address_outputs", addresses=addresses, xpub=xpub, timeout=CALL_LIMIT + 5)
    elapsed = time.monotonic() - started
    assert elapsed < CALL_LIMIT
    outputs, pending = result["outputs"], result["pending"]
    assert set(outputs) | set(pending) == set(addresses)
    assert not set(outputs) & set(pending)
    return outputs


def test_payments_made_while_down_are_found_and_never_concluded_absent(tmp_path, sim):
    xpub = generate_xpub("regtest")
    addresses = [derive_receive_address(xpub, "regtest", i) for i in range(WATCHED)]
    first = start_daemon(tmp_path, sim)
    try:
        first.rpc("watch_addresses", addresses=[{"address": a, "index": i} for i, a in enumerate(addresses)], xpub=xpub)
        wait_for(lambda: first.rpc("get_watched", xpub=xpub)["synchronized"], timeout=60)
        early = sim.client.pay(addresses[7], 5_000)  # known before the outage
    finally:
        first.process.kill()  # no clean shutdown, like a crash
        first.process.wait(timeout=10)
    paid = {addresses[i]: sim.client.pay(addresses[i], 10_000 + i)["txid"] for i in range(11, WATCHED, 300)}
    paid[addresses[7]] = early["txid"]

    second = start_daemon(tmp_path, sim)
    try:
        # HTTP answers before Electrum has connected (-32015 until then: retry, as the reconciliation does).
        wait_for(lambda: second.rpc("get_tip")["connected"], timeout=60, what="Electrum connected")
        found: dict[str, list[dict]] = {}

        def ask_again() -> bool:
            # Like a reconciliation right after the restart: 1000 addresses per call, straight away.
            for start in range(0, WATCHED, 1000):
                chunk = [a for a in addresses[start : start + 1000] if a not in found]
                if chunk:
                    found.update(_answers(second, xpub, chunk))
            return len(found) == WATCHED

        wait_for(ask_again, timeout=60, what="an answer for every address", interval=0)
        # A paid address is never answered without its payment (an incomplete view is "pending", not empty).
        assert {a: [o["txid"] for o in found[a]] for a in paid} == {a: [txid] for a, txid in paid.items()}
        assert [a for a, outs in found.items() if outs and a not in paid] == []
        assert found[addresses[7]][0]["value_sat"] == 5_000
        wait_for(lambda: second.rpc("get_watched", xpub=xpub)["synchronized"], timeout=60)
        # Re-registering the same set (Django does after every reconnect) changes nothing.
        again = second.rpc(
            "watch_addresses", addresses=[{"address": a, "index": i} for i, a in enumerate(addresses)], xpub=xpub
        )
        assert again == {"watched": WATCHED, "skipped_expired": 0, "conflicts": []}
        assert second.rpc("get_watched", xpub=xpub)["synchronized"] is True
        # Once synchronized, every answer comes from the synchronizer and nothing is pending.
        settled = second.rpc("get_address_outputs", addresses=addresses[:1000], xpub=xpub)
        assert settled["pending"] == []
        assert [o["txid"] for o in settled["outputs"][addresses[11]]] == [paid[addresses[11]]]
    finally:
        assert second.stop() == 0


def test_many_unwatched_addresses_are_asked_concurrently_and_spv_checked(tmp_path, sim):
    xpub = generate_xpub("regtest")
    addresses = [derive_receive_address(xpub, "regtest", i) for i in range(600)]
    mined = sim.client.pay_many([(addresses[5], 7_000), (addresses[400], 8_000)])
    sim.client.mine(blocks=2)
    mempool = sim.client.pay(addresses[599], 9_000)
    daemon = start_daemon(tmp_path, sim)
    try:
        wait_for(lambda: daemon.rpc("get_tip")["height"] == 2, timeout=30)
        outputs = _answers(daemon, xpub, addresses)
        assert {a: outs for a, outs in outputs.items() if outs} == {
            addresses[5]: [
                {
                    "txid": mined["txid"],
                    "vout": mined["outputs"][0]["vout"],
                    "value_sat": 7_000,
                    "height": 1,
                    "confirmations": 2,
                }
            ],
            addresses[400]: [
                {
                    "txid": mined["txid"],
                    "vout": mined["outputs"][1]["vout"],
                    "value_sat": 8_000,
                    "height": 1,
                    "confirmations": 2,
                }
            ],
            addresses[599]: [
                {"txid": mempool["txid"], "vout": mempool["vout"], "value_sat": 9_000, "height": 0, "confirmations": 0}
            ],
        }
    finally:
        assert daemon.stop() == 0


SCRIPTHASH_CHECK = """
import random, secrets
from electrum import bitcoin, constants, segwit_addr
from electrum.bip32 import BIP32Node
from daemons.btc import keys
random.seed(7)
for select in (constants.set_regtest, constants.set_testnet, constants.set_mainnet):
    select()
    addresses = []
    for xtype in ("p2wpkh", "p2wpkh-p2sh", "standard"):
        node = BIP32Node.from_rootseed(secrets.token_bytes(32), xtype=xtype)
        chain = keys.ReceiveChain(BIP32Node.from_xkey(node.to_xpub()))
        addresses += [chain.address(i) for i in range(50)]
    for version, size in ((0, 32), (1, 32), (0, 20)):
        addresses += [segwit_addr.encode_segwit_address(constants.net.SEGWIT_HRP, version, secrets.token_bytes(size))
                      for _ in range(20)]
    addresses += [a.upper() for a in addresses[:5]]
    mangled = []
    for address in addresses:
        for _ in range(3):
            i = random.randrange(len(address))
            mangled.append(address[:i] + random.choice(segwit_addr.CHARSET + "1bIO") + address[i + 1:])
    mangled += [a[:-1] for a in addresses[:20]] + ["", "bcrt1", "bc1q", "tb1qqqqqqq"]
    for address in addresses + mangled:
        try:
            expected = bitcoin.address_to_scripthash(address)
        except Exception as exc:
            expected = type(exc)
        try:
            got = keys.address_to_scripthash(address)
        except Exception as exc:
            got = type(exc)
        assert got == expected, (constants.net.NET_NAME, address, got, expected)
print("ok")
"""


def test_fast_scripthash_is_electrums_for_valid_and_invalid_addresses():
    result = subprocess.run(
        [DAEMON_PYTHON, "-P", "-c", SCRIPTHASH_CHECK],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "ok"


def test_what_is_not_known_within_the_budget_is_pending_not_empty(tmp_path, sim):
    xpub = generate_xpub("regtest")
    watched, unwatched = (derive_receive_address(xpub, "regtest", i) for i in (0, 1))
    paid = sim.client.pay(unwatched, 4_000)
    daemon = start_daemon(tmp_path, sim)
    try:
        daemon.rpc("watch_addresses", addresses=[{"address": watched, "index": 0}], xpub=xpub)
        wait_for(lambda: daemon.rpc("get_watched", xpub=xpub)["synchronized"], timeout=15)
        # No time at all: the watched, loaded address is still answered; the server is not asked in time.
        result = daemon.rpc("get_address_outputs", addresses=[watched, unwatched], budget=0, xpub=xpub)
        assert result["outputs"] == {watched: []}
        assert result["pending"] == [unwatched]
        result = daemon.rpc("get_address_outputs", addresses=[watched, unwatched], budget=5, xpub=xpub)
        assert result["pending"] == []
        assert [o["txid"] for o in result["outputs"][unwatched]] == [paid["txid"]]
        for budget in (-1, 61, "5", True):
            body = {"addresses": [watched], "xpub": xpub, "budget": budget}
            status, answer = daemon.post(
                json.dumps({"jsonrpc": "2.0", "id": 1, "method": "get_address_outputs", "params": body}).encode()
            )
            assert (status, answer["error"]["code"]) == (200, -32602)
    finally:
        assert daemon.stop() == 0


def test_a_server_without_batches_gets_one_subscription_at_a_time(tmp_path):
    simulator = start_simulator(tmp_path / "chain", batches=False)
    daemon = None
    try:
        xpub = generate_xpub("regtest")
        addresses = [derive_receive_address(xpub, "regtest", i) for i in range(300)]
        early = simulator.client.pay(addresses[3], 3_000)
        daemon = start_daemon(tmp_path, simulator)
        entries = [{"address": a, "index": i} for i, a in enumerate(addresses)]
        daemon.rpc("watch_addresses", addresses=entries[:1], xpub=xpub)
        wait_for(lambda: daemon.rpc("get_watched", xpub=xpub)["synchronized"], timeout=60)
        # Connected and subscribed: the next ones try a batch, which this server refuses.
        daemon.rpc("watch_addresses", addresses=entries, xpub=xpub)
        wait_for(lambda: daemon.rpc("get_watched", xpub=xpub)["synchronized"], timeout=60)
        late = simulator.client.pay(addresses[200], 2_000)
        result = wait_for(
            lambda: (
                (r := daemon.rpc("get_address_outputs", addresses=addresses, xpub=xpub))["outputs"].get(addresses[200])
                and r
            ),
            timeout=30,
        )
        assert {a: [o["txid"] for o in outs] for a, outs in result["outputs"].items() if outs} == {
            addresses[3]: [early["txid"]],
            addresses[200]: [late["txid"]],
        }
        assert "refused a batch of subscriptions" in daemon.log()
    finally:
        if daemon is not None:
            assert daemon.stop() == 0
        simulator.stop()
