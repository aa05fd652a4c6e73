"""BTC daemon benchmark: request creation as a wallet's history grows, restart with a large watched set, RSS.

    .venv/bin/python bench/daemon_requests.py                 # 100k requests, 10k watched (a few minutes)
    .venv/bin/python bench/daemon_requests.py --requests 20000 --watched 5000
    .venv/bin/python bench/daemon_requests.py --requests 0 --watched 0    # event latencies only (~30 s)

Everything real: the daemon under Debian's python3 with Electrum 4.3.4, connected to the regtest simulator
(so every new address is also subscribed on the Electrum server, as in production). Latency is measured
client-side over one keep-alive HTTP connection, i.e. JSON-RPC round trip included.
"""

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from daemons.btc.testing import start_daemon
from daemons.processes import wait_for
from daemons.simulator.testing import start_simulator
from wallets.keys import derive_receive_address, generate_xpub


class Client:
    def __init__(self, daemon):
        self.daemon = daemon
        self.conn = http.client.HTTPConnection(daemon.host, daemon.port, timeout=60)

    def call(self, method, **params):
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        self.conn.request("POST", "/", body, {"Authorization": self.daemon.auth_header})
        data = json.loads(self.conn.getresponse().read())
        if "error" in data:
            raise RuntimeError(data["error"])
        return data["result"]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def percentile(values, pct):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def bench_requests(workdir: Path, sim, total: int) -> None:
    daemon = start_daemon(workdir / "requests", sim)
    try:
        client = Client(daemon)
        xpub = generate_xpub("regtest", "p2wpkh")
        checkpoints = sorted({c for c in (1_000, 10_000, 100_000, total) if c <= total})
        timings = []
        pid = daemon.process.pid
        cpu_marks = {0: cpu_seconds(pid)}
        started = time.perf_counter()
        for n in range(1, total + 1):
            t0 = time.perf_counter()
            client.call("add_request", amount="0.001", memo=f"order {n}", expiry=900, force=True, xpub=xpub)
            timings.append((time.perf_counter() - t0) * 1000)
            if n + 1000 in checkpoints:
                cpu_marks[n] = cpu_seconds(pid)
            if n in checkpoints:
                # daemon CPU time per request: unlike wall-clock latency, not inflated by other load on the box
                cpu_ms = (cpu_seconds(pid) - cpu_marks[n - 1000]) / 1000 * 1000
                window = timings[-1000:]
                print(
                    f"requests={n:>7}: last 1000 add_request p50={percentile(window, 50):.2f} ms "
                    f"p95={percentile(window, 95):.2f} ms max={max(window):.2f} ms, "
                    f"daemon CPU {cpu_ms:.2f} ms/request | elapsed {time.perf_counter() - started:.0f}s | "
                    f"RSS {rss_mb(pid):.0f} MB | load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
        t0 = time.perf_counter()
        for _ in range(200):
            client.call("get_request", key=derive_receive_address(xpub, "regtest", total // 2), xpub=xpub)
        print(f"get_request on a {total}-request wallet: {(time.perf_counter() - t0) / 200 * 1000:.2f} ms mean")
        print(f"overall add_request p50={statistics.median(timings):.2f} ms p95={percentile(timings, 95):.2f} ms")
    finally:
        print(f"daemon exit code {daemon.stop()}")


def bench_restart(workdir: Path, sim, watched: int) -> None:
    xpub = generate_xpub("regtest", "p2wpkh")
    until = time.time() + 7 * 86400
    t0 = time.perf_counter()
    addresses = [
        {"address": derive_receive_address(xpub, "regtest", i), "index": i, "until": until} for i in range(watched)
    ]
    print(f"derived {watched} addresses (Django side) in {time.perf_counter() - t0:.1f}s")
    daemon = start_daemon(workdir / "restart", sim)
    try:
        client = Client(daemon)
        t0 = time.perf_counter()
        for start in range(0, watched, 5_000):  # ~100 bytes per entry: 5000 stays under the 1 MB body limit
            client.call("watch_addresses", addresses=addresses[start : start + 5_000], xpub=xpub)
        print(f"watch_addresses of {watched}: {(time.perf_counter() - t0) * 1000:.0f} ms")
        t0 = time.perf_counter()
        wait_for(lambda: client.call("get_watched", xpub=xpub)["synchronized"], timeout=600, interval=0.2)
        print(f"first sync of {watched} watched addresses: {time.perf_counter() - t0:.1f}s")
    finally:
        daemon.stop()
    t0 = time.perf_counter()
    daemon = start_daemon(workdir / "restart", sim, timeout=120)
    ready = time.perf_counter() - t0
    try:
        client = Client(daemon)
        count = client.call("get_watched", xpub=xpub)["count"]
        stalls = []  # how long a call waits while the watched set is re-subscribed
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            t1 = time.perf_counter()
            synchronized = client.call("get_watched", xpub=xpub)["synchronized"]
            stalls.append((time.perf_counter() - t1) * 1000)
            if synchronized:
                break
            time.sleep(0.1)
        synced = time.perf_counter() - t0
        print(
            f"restart with {count} watched: ready (HTTP answering) {ready:.2f}s, re-subscribed and synchronized "
            f"{synced:.1f}s, calls during resync p50={statistics.median(stalls):.1f} ms max={max(stalls):.0f} ms, "
            f"RSS {rss_mb(daemon.process.pid):.0f} MB"
        )
    finally:
        daemon.stop()


def bench_latency(workdir: Path, sim, rounds: int = 20) -> None:
    """Chain -> event latency: simulator pay() returns -> new_transaction on /ws; mine() -> verified_tx."""
    from websockets.sync.client import connect

    xpub = generate_xpub("regtest", "p2wpkh")
    daemon = start_daemon(workdir / "latency", sim)
    try:
        client = Client(daemon)
        addresses = [derive_receive_address(xpub, "regtest", i) for i in range(rounds)]
        client.call(
            "watch_addresses", addresses=[{"address": a, "index": i} for i, a in enumerate(addresses)], xpub=xpub
        )
        wait_for(lambda: client.call("get_watched", xpub=xpub)["synchronized"], timeout=60)
        seen, verified = [], []
        with connect(daemon.ws_url, additional_headers={"Authorization": daemon.auth_header}) as ws:
            ws.send(json.dumps({"xpub": xpub}))
            time.sleep(0.2)

            def wait(event, txid):
                while True:
                    for update in json.loads(ws.recv(timeout=15))["updates"]:
                        if update["event"] == event and update.get("tx") == txid:
                            return

            for address in addresses:
                t0 = time.perf_counter()
                txid = sim.client.pay(address, 1_000)["txid"]
                wait("new_transaction", txid)
                seen.append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                sim.client.mine(1)
                wait("verified_tx", txid)
                verified.append((time.perf_counter() - t0) * 1000)
        print(
            f"pay -> new_transaction event: p50={statistics.median(seen):.0f} ms max={max(seen):.0f} ms; "
            f"mine -> verified_tx event: p50={statistics.median(verified):.0f} ms max={max(verified):.0f} ms"
        )
    finally:
        daemon.stop()


def bench_request_events(workdir: Path, sim, rounds: int = 100, expiring: int = 10) -> None:
    """What an SDK user waits for: pay -> new_payment (status 7) of a request created just before, over /ws;
    and how late the expiry new_payment (status 1) comes after the request's `expiration`."""
    from websockets.sync.client import connect

    xpub = generate_xpub("regtest", "p2wpkh")
    daemon = start_daemon(workdir / "request-events", sim)  # default settings: 15 s sweep interval
    try:
        client = Client(daemon)
        latencies: list[float] = []
        late: list[float] = []
        with connect(daemon.ws_url, additional_headers={"Authorization": daemon.auth_header}) as ws:
            ws.send(json.dumps({"xpub": xpub}))
            time.sleep(0.2)

            def wait_payment(key):
                while True:
                    for update in json.loads(ws.recv(timeout=15))["updates"]:
                        if update["event"] == "new_payment" and update["address"] == key:
                            return update

            for _ in range(rounds):
                request = client.call("add_request", amount="0.0001", expiry=900, xpub=xpub)
                t0 = time.perf_counter()
                sim.client.pay(request["address"], 10_000)
                assert wait_payment(request["request_id"])["status"] == 7
                latencies.append((time.perf_counter() - t0) * 1000)
            expiring_requests = [
                client.call("add_request", amount="0.001", expiry=1 + n % 3, xpub=xpub) for n in range(expiring)
            ]
            deadlines = {r["request_id"]: r["expiration"] for r in expiring_requests}
            while len(late) < len(deadlines):
                for update in json.loads(ws.recv(timeout=15))["updates"]:
                    if update["event"] == "new_payment" and update["address"] in deadlines:
                        assert update["status"] == 1
                        late.append(time.time() - deadlines[update["address"]])
        print(
            f"pay -> new_payment (request created just before): n={len(latencies)} "
            f"p50={statistics.median(latencies):.1f} ms p95={percentile(latencies, 95):.1f} ms "
            f"max={max(latencies):.1f} ms | load {os.getloadavg()[0]:.1f}"
        )
        print(
            f"expiry new_payment after `expiration` (1-3 s requests): n={len(late)} "
            f"p50={statistics.median(late) * 1000:.0f} ms max={max(late) * 1000:.0f} ms"
        )
    finally:
        daemon.stop()


SDK_PYTHON = Path(__file__).resolve().parents[1] / ".venv-sdk" / "bin" / "python"
SDK_SCRIPT = r"""
import asyncio, json, os, time, urllib.request
from bitcart import BTC

env = os.environ


def pay(address, amount_sat):
    body = json.dumps({"address": address, "amount_sat": amount_sat}).encode()
    request = urllib.request.Request(env["SIM_CONTROL"] + "/pay", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


async def main():
    btc = BTC(rpc_url=env["DAEMON_URL"], rpc_user=env["DAEMON_LOGIN"], rpc_pass=env["DAEMON_PASSWORD"],
              xpub=env["XPUB"])
    loop = asyncio.get_running_loop()
    waiting = {}

    @btc.on("new_payment")
    async def on_payment(event, address, status):
        future = waiting.get(address)
        if future is not None and not future.done() and status == 7:
            future.set_result(time.perf_counter())

    socket = asyncio.ensure_future(btc.start_websocket(auto_reconnect=False))
    await asyncio.sleep(0.5)
    latencies = []
    for _ in range(int(env["ROUNDS"])):
        request = await btc.add_request(0.0001, "bench", 900)
        waiting[request["request_id"]] = loop.create_future()
        started = time.perf_counter()
        await loop.run_in_executor(None, pay, request["address"], 10_000)
        latencies.append(await asyncio.wait_for(waiting[request["request_id"]], 15) - started)
    socket.cancel()
    print(json.dumps(latencies))


asyncio.run(main())
"""


def bench_sdk_events(workdir: Path, sim, rounds: int) -> None:
    """pay -> the `bitcart` SDK's new_payment handler runs (the SDK from PyPI, in .venv-sdk, which
    tests/daemons/test_sdk.py creates; its import name clashes with this project, hence a subprocess)."""
    if not SDK_PYTHON.exists():
        print("pay -> SDK new_payment: skipped (no .venv-sdk; run tests/daemons/test_sdk.py once)")
        return
    import subprocess

    daemon = start_daemon(workdir / "sdk-events", sim)
    try:
        sdk_dir = workdir / "sdk"
        sdk_dir.mkdir(exist_ok=True)
        (sdk_dir / "bench_sdk.py").write_text(SDK_SCRIPT)
        env = {
            "PATH": "/usr/bin:/bin",
            "DAEMON_URL": daemon.url,
            "DAEMON_LOGIN": daemon.login,
            "DAEMON_PASSWORD": daemon.password,
            "XPUB": generate_xpub("regtest", "p2wpkh"),
            "SIM_CONTROL": sim.control_url,
            "ROUNDS": str(rounds),
        }
        run = subprocess.run(
            [str(SDK_PYTHON), "bench_sdk.py"], cwd=sdk_dir, env=env, capture_output=True, text=True, timeout=600
        )
        if run.returncode != 0:
            raise RuntimeError(run.stderr[-3000:])
        latencies = [seconds * 1000 for seconds in json.loads(run.stdout.strip().splitlines()[-1])]
        print(
            f"pay -> SDK new_payment handler (request created just before): n={len(latencies)} "
            f"p50={statistics.median(latencies):.1f} ms p95={percentile(latencies, 95):.1f} ms "
            f"max={max(latencies):.1f} ms | load {os.getloadavg()[0]:.1f}"
        )
    finally:
        daemon.stop()


def main() -> None:
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--watched", type=int, default=10_000)
    parser.add_argument("--payments", type=int, default=100, help="pay -> new_payment rounds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-daemon-") as tmp:
        workdir = Path(tmp)
        sim = start_simulator(workdir / "sim", initial_blocks=1)
        try:
            bench_request_events(workdir, sim, rounds=args.payments)
            bench_sdk_events(workdir, sim, rounds=args.payments)
            bench_latency(workdir, sim)
            if args.watched:
                bench_restart(workdir, sim, args.watched)
            if args.requests:
                bench_requests(workdir, sim, args.requests)
            print(f"load average {os.getloadavg()[0]:.1f} at end")
        finally:
            sim.stop()


if __name__ == "__main__":
    main()
