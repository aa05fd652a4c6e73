"""End to end: the simulator as a subprocess, driven over HTTP, watched by the REAL Electrum 4.3.4 daemon.

Electrum runs under Debian's python3 (it is not importable from the project venv) and is reached via
its JSON-RPC port, like the coin daemon will. Every wait polls against a deadline.
"""

import ast
import base64
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from daemons.processes import wait_for
from daemons.simulator.client import SimulatorClient, SimulatorError, SimulatorUnavailable
from daemons.simulator.testing import PROJECT_ROOT, SimulatorProcess, start_simulator
from wallets.keys import derive_receive_address, generate_xpub

pytestmark = pytest.mark.slow

DEBIAN_PYTHON = "/usr/bin/python3"
ELECTRUM_SCRIPT = "/usr/lib/python3/dist-packages/electrum/electrum"
WAIT = 20.0

requires_electrum = pytest.mark.skipif(
    not (os.path.exists(DEBIAN_PYTHON) and os.path.exists(ELECTRUM_SCRIPT)),
    reason="Debian python3-electrum is not installed",
)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class ElectrumDaemon:
    """A real Electrum daemon in regtest, talking only to the simulator."""

    def __init__(self, directory: Path, server: str) -> None:
        self.directory = directory
        self.user = "test"
        self.password = secrets.token_hex(8)
        self.pid: int | None = None
        config_dir = directory / "regtest"
        config_dir.mkdir(parents=True)
        # rpcsock=tcp with rpcport 0: Electrum binds a free port and records it in its lockfile.
        (config_dir / "config").write_text(json.dumps({"config_version": 3, "rpcsock": "tcp", "rpcport": 0}))
        command = [
            DEBIAN_PYTHON, "-P", ELECTRUM_SCRIPT, "--regtest", "-D", str(directory),
            "--rpcuser", self.user, "--rpcpassword", self.password,
            "daemon", "-d", "--oneserver", "--server", server,
        ]  # fmt: skip
        started = subprocess.run(command, capture_output=True, text=True, timeout=WAIT, check=False)
        found = re.search(r"PID (\d+)", started.stdout + started.stderr)
        self.pid = int(found.group(1)) if found else None
        assert started.returncode == 0 and self.pid, f"electrum did not start: {started.stdout}{started.stderr}"
        lockfile = config_dir / "daemon"

        def rpc_address() -> tuple[str, int] | None:
            try:
                socktype, address, _ = ast.literal_eval(lockfile.read_text())
            except (OSError, ValueError, SyntaxError):
                return None
            return tuple(address) if socktype == "tcp" else None

        host, port = wait_for(rpc_address, timeout=WAIT, what="electrum's RPC port in its lockfile")
        self.url = f"http://{host}:{port}"

    def call(self, method: str, **params: Any) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
        auth = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        request = urllib.request.Request(self.url, data=body, headers={"Authorization": f"Basic {auth}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            reply = json.loads(response.read())
        if reply.get("error"):
            raise AssertionError(f"electrum {method} failed: {reply['error']}")
        return reply["result"]

    def stop(self) -> None:
        try:
            self.call("stop")
        except (OSError, urllib.error.URLError, AssertionError):
            pass  # already gone; the kill below makes sure
        pid = self.pid
        if pid is None:
            return
        try:
            wait_for(lambda: not _running(pid), timeout=10, what="electrum to exit")
        except TimeoutError:
            os.kill(pid, signal.SIGKILL)


class Env:
    def __init__(self, sim: SimulatorProcess, electrum: ElectrumDaemon, wallet: str, xpub: str) -> None:
        self.sim = sim
        self.electrum = electrum
        self.wallet = wallet
        self.xpub = xpub
        self._next_index = 0

    def fresh_address(self) -> str:
        # Each test takes its own addresses (within the gap limit of 20) so tests do not depend on each other.
        address = derive_receive_address(self.xpub, "regtest", self._next_index)
        self._next_index += 1
        return address

    def wallet_tx(self, txid: str) -> dict[str, Any] | None:
        history = self.electrum.call("onchain_history", wallet=self.wallet)["transactions"]
        return next((tx for tx in history if tx["txid"] == txid), None)

    def wait_wallet_tx(self, txid: str, what: str, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        return wait_for(lambda: (tx := self.wallet_tx(txid)) is not None and check(tx) and tx, timeout=WAIT, what=what)

    def electrum_height(self) -> int:
        return self.electrum.call("getinfo")["blockchain_height"]

    def assert_single_session(self) -> None:
        # Electrum drops the session on any protocol violation and reconnects: one handshake means none happened.
        info = self.sim.client.info()
        assert info["sessions"] == 1
        assert info["requests"]["server.version"] == 1


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    directory = tmp_path_factory.mktemp("electrum-e2e")
    # The simulator runs under Debian's python here, the venv's in the other tests: it must work in both.
    sim = start_simulator(directory / "sim", initial_blocks=5, python=DEBIAN_PYTHON)
    electrum = None
    try:
        electrum = ElectrumDaemon(directory / "electrum", sim.electrum_server)
        wait_for(
            lambda: electrum.call("getinfo")["blockchain_height"] == 5,
            timeout=WAIT,
            what="electrum to sync the 5 initial headers",
        )
        xpub = generate_xpub("regtest")
        wallet = str(directory / "electrum" / "watch_only")
        electrum.call("restore", text=xpub, wallet_path=wallet)
        assert electrum.call("load_wallet", wallet_path=wallet) is True
        wait_for(
            lambda: electrum.call("is_synchronized", wallet=wallet), timeout=WAIT, what="the wallet to synchronize"
        )
        yield Env(sim, electrum, wallet, xpub)
    finally:
        if electrum is not None:
            electrum.stop()
        sim.stop()


@requires_electrum
def test_payment_is_seen_unconfirmed_then_spv_verified(env):
    address = env.fresh_address()
    paid = env.sim.client.pay(address, 123_456)

    seen = env.wait_wallet_tx(paid["txid"], "electrum to see the mempool tx", lambda tx: tx["height"] == 0)
    assert seen["confirmations"] == 0
    assert seen["bc_value"] == "0.00123456"
    assert seen["fee_sat"] == paid["fee"]
    assert env.electrum.call("getaddresshistory", address=address) == [
        {"tx_hash": paid["txid"], "height": 0, "fee": paid["fee"]}
    ]

    mined = env.sim.client.mine(1)
    # confirmations > 0 only once Electrum verified the merkle proof against the header it synced.
    verified = env.wait_wallet_tx(paid["txid"], "SPV verification", lambda tx: tx["confirmations"] == 1)
    assert verified["height"] == mined["height"]
    assert verified["txpos_in_block"] == 1
    assert env.electrum_height() == mined["height"]
    assert env.electrum.call("get_tx_status", txid=paid["txid"], wallet=env.wallet) == {"confirmations": 1}
    assert env.sim.client.info()["requests"]["blockchain.transaction.get_merkle"] >= 1

    env.sim.client.mine(2)
    env.wait_wallet_tx(paid["txid"], "3 confirmations", lambda tx: tx["confirmations"] == 3)
    env.assert_single_session()


@requires_electrum
def test_dropped_payment_leaves_the_server_history(env):
    address = env.fresh_address()
    paid = env.sim.client.pay(address, 50_000)
    env.wait_wallet_tx(paid["txid"], "electrum to see the mempool tx", lambda tx: tx["height"] == 0)

    assert env.sim.client.drop(paid["txid"]) == {"dropped": [paid["txid"]]}
    wait_for(
        lambda: env.electrum.call("getaddresshistory", address=address) == [],
        timeout=WAIT,
        what="the server history to empty",
    )
    # Electrum keeps a tx the server forgot as a "local" one (height -2, never confirmed).
    gone = env.wait_wallet_tx(paid["txid"], "electrum to demote the tx to local", lambda tx: tx["height"] == -2)
    assert gone["confirmations"] == 0
    assert env.sim.client.info()["mempool"] == []
    env.assert_single_session()


@requires_electrum
def test_reorg_sends_a_confirmed_payment_back_to_the_mempool(env):
    address = env.fresh_address()
    paid = env.sim.client.pay(address, 70_000)
    env.sim.client.mine(1)
    env.wait_wallet_tx(paid["txid"], "1 confirmation", lambda tx: tx["confirmations"] == 1)

    result = env.sim.client.reorg(1, keep_txs=False)
    assert result["mempool"] == [paid["txid"]]
    back = env.wait_wallet_tx(paid["txid"], "the tx to be unconfirmed again", lambda tx: tx["height"] == 0)
    assert back["confirmations"] == 0
    assert env.electrum_height() == result["height"]

    remined = env.sim.client.mine(1)
    again = env.wait_wallet_tx(paid["txid"], "confirmation on the new branch", lambda tx: tx["confirmations"] == 1)
    assert again["height"] == remined["height"]
    env.assert_single_session()


@requires_electrum
def test_reorg_keeping_txs_makes_electrum_reverify(env):
    address = env.fresh_address()
    paid = env.sim.client.pay(address, 90_000)
    first = env.sim.client.mine(2)
    env.wait_wallet_tx(paid["txid"], "2 confirmations", lambda tx: tx["confirmations"] == 2)
    merkle_requests = env.sim.client.info()["requests"]["blockchain.transaction.get_merkle"]

    result = env.sim.client.reorg(2, keep_txs=True, blocks=3)
    assert set(result["disconnected"]) == set(first["hashes"])
    # The tx is in a block with a new hash and merkle root: Electrum must undo its proof and fetch a new one.
    wait_for(
        lambda: env.sim.client.info()["requests"]["blockchain.transaction.get_merkle"] > merkle_requests,
        timeout=WAIT,
        what="electrum to re-request the merkle proof after the reorg",
    )
    moved = env.wait_wallet_tx(paid["txid"], "3 confirmations on the new branch", lambda tx: tx["confirmations"] == 3)
    assert moved["height"] == first["height"] - 1
    wait_for(
        lambda: env.electrum_height() == result["height"], timeout=WAIT, what="electrum to follow the longer branch"
    )
    env.assert_single_session()


@requires_electrum
def test_pay_many_reaches_several_wallet_addresses(env):
    first, second = env.fresh_address(), env.fresh_address()
    paid = env.sim.client.pay_many([(first, 1_000), (second, 2_000)])
    seen = env.wait_wallet_tx(paid["txid"], "electrum to see the tx", lambda tx: tx["height"] == 0)
    assert seen["bc_value"] == "0.00003"
    assert {o["address"]: o["amount_sat"] for o in paid["outputs"]} == {first: 1_000, second: 2_000}


# --- the process: restart, signals, CLI (no Electrum needed) ---------------------------------------


def test_restart_from_state_file_keeps_the_chain_and_sigterm_exits_cleanly(tmp_path):
    state = tmp_path / "chain.jsonl"
    sim = start_simulator(tmp_path, state_file=state)
    try:
        sim.client.mine(3)
        paid = sim.client.pay("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", 1_000)
        before = sim.client.info()
    finally:
        assert sim.stop() == 0, sim.log()
    assert "stopping at height 3" in sim.log()

    again = start_simulator(tmp_path, state_file=state)
    try:
        after = again.client.info()
        assert (after["height"], after["tip"], after["mempool"]) == (3, before["tip"], [paid["txid"]])
        assert again.client.tx(paid["txid"])["hex"] == paid["hex"]
    finally:
        again.stop()


def test_client_errors_are_clear(tmp_path):
    sim = start_simulator(tmp_path)
    try:
        with pytest.raises(SimulatorError) as refused:
            sim.client.pay("not-an-address", 1_000)
        assert refused.value.code == "bad_address"
        assert refused.value.status == 400
        with pytest.raises(SimulatorError) as missing:
            sim.client.drop("ab" * 32)
        assert (missing.value.code, missing.value.status) == ("not_found", 404)
        assert sim.client.info()["mempool"] == []
    finally:
        sim.stop()
    with pytest.raises(SimulatorUnavailable):
        SimulatorClient(sim.control_url, timeout=2).info()


def _cli(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "daemons.simulator.cli", "--url", url, *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_cli(tmp_path):
    sim = start_simulator(tmp_path)
    address = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
    try:
        paid = _cli("pay", address, "0.0015", url=sim.control_url)
        assert paid.returncode == 0, paid.stderr
        payment = json.loads(paid.stdout)
        assert payment["outputs"] == [{"address": address, "amount_sat": 150_000, "vout": payment["vout"]}]
        sats = _cli("pay", address, "--sat", "777", url=sim.control_url)
        assert json.loads(sats.stdout)["outputs"][0]["amount_sat"] == 777

        mined = _cli("mine", "2", url=sim.control_url)
        assert json.loads(mined.stdout)["height"] == 2
        assert sim.client.tx(payment["txid"])["confirmations"] == 2

        bad = _cli("pay", "nope", "1", url=sim.control_url)
        assert bad.returncode == 1 and "bad_address" in bad.stderr
        too_precise = _cli("pay", address, "0.000000001", url=sim.control_url)
        assert too_precise.returncode == 2
        info = json.loads(_cli("info", url=sim.control_url).stdout)
        assert info["height"] == 2 and info["mempool"] == []
    finally:
        sim.stop()
    down = _cli("info", url=sim.control_url)
    assert down.returncode == 3 and "unreachable" in down.stderr


def test_simulator_refuses_a_corrupt_state_file(tmp_path):
    state = tmp_path / "chain.jsonl"
    state.write_text('{"op": "block"}\n{"op": "tx"}\n')
    with pytest.raises(RuntimeError, match="cannot restore"):
        start_simulator(tmp_path, state_file=state, timeout=10)
