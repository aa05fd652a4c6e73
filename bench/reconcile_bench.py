"""How long bulk reconciliation takes with many open invoices, and how fast payments made during
an outage of the listener and the daemon are found again.

    .venv/bin/python bench/reconcile_bench.py [--invoices 10000 100000] [--downtime-payments 50]

Creates a fresh PostgreSQL database (dropped at the end), starts the chain simulator and the real
Electrum daemon, bulk-inserts N open invoices (Invoice + PaymentMethod rows, addresses derived with
wallets.keys), registers them with the daemon (watch_addresses, 5000 per call) and times
invoices.reconcile.reconcile() against it: a first pass where some invoices were paid, then a pass
where nothing changed (the steady state of the periodic task). Then stops the daemon and the
listener (`manage.py listen`), pays K invoices, starts both again and times until all K are paid in
the database (printing when each was found: "seconds:count").
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PG_ADMIN_DSN = os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = f"bitcart_bench_{secrets.token_hex(4)}"
WORKDIR = Path(tempfile.mkdtemp(prefix="reconcile-bench-"))


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


DAEMON_PORT = free_port()
DAEMON_PASSWORD = secrets.token_urlsafe(16)
# Before django.setup(): settings read these once.
os.environ.update(
    {
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9"),
        "BITCART_DATA_DIR": str(WORKDIR / "data"),
        "DJANGO_SETTINGS_MODULE": "bitcart.settings.production",
        "DEBUG": "false",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "BTC_NETWORK": "regtest",
        "LOG_LEVEL": "WARNING",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "BTC_DAEMON_URL": f"http://127.0.0.1:{DAEMON_PORT}",
        "BTC_LOGIN": "bitcart",
        "BTC_PASSWORD": DAEMON_PASSWORD,
    }
)

import psycopg  # noqa: E402

from daemons.btc.testing import DaemonProcess  # noqa: E402  (stdlib only, no Django)


def admin(statement: str) -> None:
    connection = psycopg.connect(PG_ADMIN_DSN)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()


class Bench:
    def __init__(self, downtime_payments: int) -> None:
        from daemons.simulator.testing import start_simulator

        self.downtime_payments = downtime_payments
        self.daemon_port = DAEMON_PORT
        self.password = DAEMON_PASSWORD
        self.simulator = start_simulator(WORKDIR / "chain")
        self.daemon: DaemonProcess | None = None
        self.listener: subprocess.Popen | None = None
        self.count = 0

    # --- processes ---

    def start_daemon(self) -> float:
        from daemons.btc.testing import start_daemon

        started = time.monotonic()
        self.daemon = start_daemon(
            WORKDIR,
            self.simulator,
            login="bitcart",
            password=self.password,
            extra_env={"BTC_PORT": str(self.daemon_port)},
            timeout=120,
        )
        return time.monotonic() - started

    def start_listener(self) -> None:
        log = (WORKDIR / "listener.log").open("ab")
        self.listener = subprocess.Popen(
            [sys.executable, "manage.py", "listen"],
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill_listener(self) -> None:
        if self.listener is not None and self.listener.poll() is None:
            os.killpg(self.listener.pid, signal.SIGKILL)
            self.listener.wait(timeout=10)

    def kill_daemon(self) -> None:
        if self.daemon is not None and self.daemon.process.poll() is None:
            self.daemon.process.kill()
            self.daemon.process.wait(timeout=10)

    def stop(self) -> None:
        self.kill_listener()
        self.kill_daemon()
        self.simulator.stop(timeout=5)

    @property
    def client(self):
        from daemons.client import DaemonClient

        return DaemonClient(timeout=60)

    # --- data ---

    def setup(self) -> None:
        from django.contrib.auth import get_user_model

        from stores.models import Store
        from wallets.keys import generate_xpub
        from wallets.models import Wallet

        user = get_user_model().objects.create_user(username="bench", email="b@example.com", password="x" * 20)
        self.wallet = Wallet.objects.create(
            name="w", owner=user, currency="BTC", network="regtest", xpub=generate_xpub("regtest")
        )
        self.store = Store.objects.create(name="s", owner=user, default_currency="BTC", transaction_speed=1)
        self.store.wallets.add(self.wallet)

    def add_invoices(self, target: int) -> float:
        """Bulk-insert open invoices up to `target` and have the daemon watch them; returns seconds."""
        from datetime import timedelta
        from decimal import Decimal

        from django.utils import timezone

        from invoices.methods import bip21_uri
        from invoices.models import Invoice, PaymentMethod
        from wallets.keys import derive_receive_address
        from wallets.models import Wallet

        started = time.monotonic()
        now = timezone.now()
        batch = 5000
        while self.count < target:
            size = min(batch, target - self.count)
            invoices, methods = [], []
            for index in range(self.count, self.count + size):
                invoice = Invoice(
                    store=self.store,
                    price=Decimal("0.001"),
                    currency="BTC",
                    expiration=600,
                    expires_at=now + timedelta(hours=10),
                    monitor_until=now + timedelta(hours=34),
                    required_confirmations=1,
                )
                address = derive_receive_address(self.wallet.xpub, "regtest", index)
                invoices.append(invoice)
                methods.append(
                    PaymentMethod(
                        invoice=invoice,
                        wallet=self.wallet,
                        currency="BTC",
                        decimals=8,
                        amount=100_000,
                        rate=Decimal(1),
                        rate_source="identity",
                        address=address,
                        lookup=address,
                        derivation_index=index,
                        payment_url=bip21_uri(
                            scheme="bitcoin", address=address, units=100_000, places=8, label="bench"
                        ),
                    )
                )
            Invoice.objects.bulk_create(invoices, batch_size=batch)
            PaymentMethod.objects.bulk_create(methods, batch_size=batch)
            until = int((now + timedelta(hours=34)).timestamp())
            self.client.watch_addresses(
                xpub=self.wallet.xpub,
                addresses=[{"address": m.address, "index": m.derivation_index, "until": until} for m in methods],
            )
            self.count += size
        Wallet.objects.filter(pk=self.wallet.pk).update(next_index=self.count)
        return time.monotonic() - started

    def wait_daemon_synced(self, timeout: float = 600) -> float:
        assert self.daemon is not None
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            watched = self.daemon.rpc("get_watched", xpub=self.wallet.xpub, timeout=60)
            if watched["synchronized"] and watched["count"] >= self.count:
                return time.monotonic() - started
            time.sleep(0.5)
        raise TimeoutError("the daemon did not synchronize its watch list")

    def pay(self, count: int, *, offset: int) -> list[str]:
        """Pay `count` invoices spread over the set; returns their invoice ids."""
        from invoices.models import PaymentMethod

        step = max(1, self.count // count)
        indexes = [(offset + i * step) % self.count for i in range(count)]
        methods = list(
            PaymentMethod.objects.filter(wallet=self.wallet, derivation_index__in=indexes).values_list(
                "invoice_id", "address"
            )
        )
        for _, address in methods:
            self.simulator.client.pay(address, 100_000)
        return [invoice_id for invoice_id, _ in methods]

    def time_reconcile(self) -> tuple[float, int]:
        from django.db import reset_queries

        from invoices.reconcile import reconcile

        reset_queries()
        started = time.monotonic()
        changed = reconcile(client=self.client, cause="bench")
        return time.monotonic() - started, changed

    def wait_paid(self, ids: list[str], timeout: float) -> float:
        from invoices.models import Invoice, InvoiceStatus

        started = time.monotonic()
        deadline = started + timeout
        timeline: list[str] = []  # when the count of paid invoices moved: where detection time goes
        last = 0
        while time.monotonic() < deadline:
            paid = Invoice.objects.filter(pk__in=ids, status=InvoiceStatus.PAID).count()
            if paid != last:
                last = paid
                timeline.append(f"{time.monotonic() - started:.1f}s:{paid}")
            if paid == len(ids):
                print("  paid over time: " + " ".join(timeline))
                return time.monotonic() - started
            time.sleep(0.05)
        raise TimeoutError(f"not all {len(ids)} downtime payments were found within {timeout}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--paid", type=int, default=100, help="invoices paid before the first timed pass")
    parser.add_argument("--downtime-payments", type=int, default=50)
    parser.add_argument("--profile", action="store_true", help="cProfile the unchanged pass at the largest size")
    args = parser.parse_args()

    admin(f'CREATE DATABASE "{DB_NAME}"')
    bench = None
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        bench = Bench(args.downtime_payments)
        print(f"daemon started in {bench.start_daemon():.1f}s", flush=True)
        bench.setup()
        offset = 0
        for target in sorted(args.invoices):
            seconds = bench.add_invoices(target)
            synced = bench.wait_daemon_synced()
            print(f"\n{target} open invoices: inserted + watched in {seconds:.1f}s, daemon synced in {synced:.1f}s")
            paid = bench.pay(args.paid, offset=offset)
            offset += 1
            time.sleep(1)  # the simulator notifies Electrum; let its synchronizer take the payments in
            first, changed = bench.time_reconcile()
            print(f"  reconcile, {len(paid)} newly paid: {first:.2f}s ({changed} payment methods changed)")
            again, unchanged = bench.time_reconcile()
            print(f"  reconcile, nothing changed:  {again:.2f}s ({unchanged} changed)", flush=True)
            if args.profile and target == max(args.invoices):
                import cProfile
                import pstats

                from django.db import connection

                queries: list[tuple[float, str]] = []

                def timed(execute, sql, params, many, context, queries=queries):
                    started = time.monotonic()
                    try:
                        return execute(sql, params, many, context)
                    finally:
                        queries.append((time.monotonic() - started, sql))

                profiler = cProfile.Profile()
                with connection.execute_wrapper(timed):
                    profiler.runcall(bench.time_reconcile)
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
                for seconds, sql in sorted(queries, reverse=True)[:5]:
                    print(f"  {seconds * 1000:.0f} ms  {sql[:300]}")
            bench.simulator.client.mine(blocks=1)
            time.sleep(1)
            confirmed, changed = bench.time_reconcile()
            print(f"  reconcile after a block (confirmations of the {len(paid)} move): {confirmed:.2f}s ({changed})")

        # Downtime: the listener and the daemon are down while K payments are made.
        bench.start_listener()
        time.sleep(5)
        bench.kill_listener()
        bench.kill_daemon()
        ids = bench.pay(args.downtime_payments, offset=offset + 7)
        restart = time.monotonic()
        daemon_seconds = bench.start_daemon()
        bench.start_listener()
        found = bench.wait_paid(ids, timeout=600)
        total = time.monotonic() - restart
        print(
            f"\ndowntime: {len(ids)} payments made with listener + daemon down, {bench.count} open invoices: "
            f"daemon ready {daemon_seconds:.1f}s after restart, all {len(ids)} paid in the database "
            f"{found:.1f}s after the listener started ({total:.1f}s after the restart began)"
        )
    finally:
        if bench is not None:
            bench.stop()
        from django.db import connections

        connections.close_all()
        if os.environ.get("BENCH_KEEP_DB"):
            print(f"kept database {DB_NAME}")
        else:
            admin(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


if __name__ == "__main__":
    main()
