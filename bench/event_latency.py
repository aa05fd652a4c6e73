"""End-to-end payment latency: the simulator pays → the invoice's status has changed in PostgreSQL, and
→ the buyer's checkout page gets its websocket message.

Every process is real: the regtest chain simulator, the Electrum daemon (Debian's python3 -P), the
listener (`manage.py listen`), the Celery worker, and the web process (uvicorn serving
bitcart.asgi) as subprocesses, on a PostgreSQL database of its own and Redis (the channel layer). The
buyer is a websocket client on the web process' `/ws/invoices/<id>`, connected before the payment, as
the checkout page is.

    .venv/bin/python bench/event_latency.py [--payments 200] [--database-url postgres://...]

Prints p50/p95/p99/max of the latency over the payments, and the same for confirmations (mine →
confirmed), and the CPU time the listener and the Celery worker spent per payment (latencies on a
busy machine are noisy; CPU time is a steadier measure of the work done per event).
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from daemons import processes  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"{name:<34} n={len(ms):<4} p50={percentile(ms, 50):7.1f} ms  p95={percentile(ms, 95):7.1f} ms  "
        f"p99={percentile(ms, 99):7.1f} ms  max={max(ms):7.1f} ms  mean={statistics.mean(ms):7.1f} ms"
    )


def recreate_database(url: str) -> str:
    import psycopg

    parts = urlsplit(url)
    # Named after the given database, so that runs against different databases never drop each other's.
    name = f"{parts.path.strip('/') or 'bitcart'}_bench_events"
    admin = psycopg.connect(urlunsplit((parts.scheme, parts.netloc, "/postgres", "", "")))
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        cursor.execute(f"CREATE DATABASE {name}")
    admin.close()
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its descendants so far (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:  # exited meanwhile
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        pending.extend(int(child) for child in children)
    return total


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_for(predicate, timeout: float, what: str):
    # A 5 ms poll: a 1 ms one competes with the listener for this 2-core machine's CPU.
    return processes.wait_for(predicate, timeout=timeout, what=what, interval=0.005)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class CheckoutSocket:
    """The checkout page's websocket, read on a thread: records when the first message arrives."""

    def __init__(self, url: str, origin: str):
        from websockets.sync.client import connect

        self.ws = connect(url, additional_headers={"Origin": origin}, open_timeout=10, legacy=True)
        self.arrived: float | None = None
        self.message: str | None = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            message = self.ws.recv(timeout=30)
        except (TimeoutError, OSError):
            return
        self.arrived = time.perf_counter()
        self.message = str(message)

    def close(self) -> None:
        self.thread.join(timeout=30)
        self.ws.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--payments", type=int, default=200)
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
    )
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/5"))
    args = parser.parse_args()

    from daemons.btc.testing import start_daemon
    from daemons.simulator.client import SimulatorClient
    from daemons.simulator.testing import start_simulator

    workdir = Path(tempfile.mkdtemp(prefix="bench-events-"))
    database_url = recreate_database(args.database_url)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bitcart.settings.production",
        "DATABASE_URL": database_url,
        "REDIS_URL": args.redis_url,
        "BITCART_DATA_DIR": str(workdir / "data"),
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "LOG_LEVEL": "WARNING",
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=300)
    simulator = start_simulator(workdir)
    daemon = start_daemon(workdir, simulator)
    env.update(BTC_DAEMON_URL=daemon.url, BTC_LOGIN=daemon.login, BTC_PASSWORD=daemon.password)
    os.environ.update(env)
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from invoices import services
    from invoices.models import Invoice
    from invoices.watch import invoice_watch
    from stores.services import store_create
    from wallets.keys import generate_xpub
    from wallets.services import wallet_create

    env["ALLOWED_HOSTS"] = "127.0.0.1,localhost"
    web_port = free_port()
    web = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "uvicorn"), "bitcart.asgi:application", "--host", "127.0.0.1"]
        + ["--port", str(web_port), "--no-access-log", "--log-level", "warning"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    listener = subprocess.Popen(
        [sys.executable, "manage.py", "listen"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    # Side effects (webhooks, e-mails, watch registration) run in a Celery worker, as in production.
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "bitcart",
            "worker",
            "--concurrency",
            "1",
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    sim = SimulatorClient(simulator.control_url)
    from daemons.client import DaemonClient

    client = DaemonClient()
    try:
        user = get_user_model().objects.create_user("bench", "bench@example.com", "x")
        wallet = wallet_create(owner=user, name="bench", xpub=generate_xpub("regtest"), network="regtest")
        store = store_create(owner=user, name="bench", default_currency="BTC", wallets=[wallet], transaction_speed=1)
        invoices = []
        for _ in range(args.payments):
            invoice = services.invoice_create(store=store, price="0.0001", currency="BTC")
            invoice_watch(invoice_id=invoice.pk, client=client)
            invoices.append((invoice.pk, invoice.payment_methods.get()))
        time.sleep(2)  # let the listener connect and the daemon subscribe the addresses
        web_base = f"http://127.0.0.1:{web_port}"
        wait_for(lambda: port_open(web_port), 30, "the web process listening")

        def status(invoice_id: str) -> str:
            return Invoice.objects.values_list("status", flat=True).get(pk=invoice_id)

        paid: list[float] = []
        pushed: list[float] = []
        missing = 0
        cpu_before = {name: cpu_seconds(p.pid) for name, p in (("listener", listener), ("worker", worker))}
        for invoice_id, method in invoices:
            buyer = CheckoutSocket(f"ws://127.0.0.1:{web_port}/ws/invoices/{invoice_id}", web_base)
            start = time.perf_counter()
            sim.pay(method.address, method.amount)
            wait_for(lambda: status(invoice_id) != "pending", 30, f"invoice {invoice_id} paid")  # noqa: B023
            paid.append(time.perf_counter() - start)
            buyer.close()
            if buyer.arrived is None:
                missing += 1
            else:
                pushed.append(buyer.arrived - start)
        cpu = {name: cpu_seconds(p.pid) - cpu_before[name] for name, p in (("listener", listener), ("worker", worker))}

        # One block confirms every paid invoice (required confirmations: 1).
        start = time.perf_counter()
        sim.mine(blocks=1)
        first = wait_for(lambda: Invoice.objects.filter(status="complete").exists(), 60, "a complete invoice")
        first_at = time.perf_counter() - start if first else 0.0
        wait_for(lambda: not Invoice.objects.exclude(status="complete").exists(), 120, "all invoices complete")
        all_at = time.perf_counter() - start
        print(f"load average {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)")
        print(summary("pay → invoice paid (in PostgreSQL)", paid))
        print(summary("pay → checkout websocket message", pushed) + (f"  MISSING {missing}" if missing else ""))
        print(
            "CPU per payment: "
            + ", ".join(f"{name} {seconds / len(paid) * 1000:.1f} ms" for name, seconds in cpu.items())
        )
        print(f"mine → first invoice complete: {first_at * 1000:.1f} ms")
        print(f"mine → all {len(invoices)} invoices complete (one block): {all_at * 1000:.1f} ms")
    finally:
        for process in (listener, worker, web):
            processes.terminate(process, 30)
        daemon.stop()
        simulator.stop()


if __name__ == "__main__":
    main()
