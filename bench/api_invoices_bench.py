"""Invoice-creation throughput through the API: 8 concurrent clients against a real ASGI server.

    .venv/bin/python bench/api_invoices_bench.py [--requests 2000] [--clients 8] [--workers 2] [--reconnect]

Creates its own PostgreSQL database (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/bitcart_api_bench; dropped and re-created each run), migrates it,
makes a merchant, a regtest wallet, a BTC-priced store and a token, starts
`uvicorn bitcart.asgi:application` as a subprocess with production settings, and POSTs
/api/invoices from `--clients` concurrent HTTP/1.1 clients (each on a keep-alive connection that it
re-opens when the server asks, or with --reconnect on a new connection per request, as most plugins
do). Each answer must carry a distinct address. Prints requests/s, p50/p95/p99 latency (a reconnect
counts in its request's time), how the work split between the uvicorn workers, and the CPU per
invoice of uvicorn and of PostgreSQL. Target: >= 200 invoices/s and p95 <= 60 ms on 2 cores (the
client shares them).

Anything invoice creation queues in Celery goes to a Redis database of its own (BENCH_REDIS_URL,
default redis://127.0.0.1:6379/7) and is removed at the end.
"""

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/bitcart_api_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/7"

SETUP = """
import django
django.setup()
from django.contrib.auth import get_user_model
from accounts.services import token_create
from stores.services import store_create
from wallets.keys import generate_xpub
from wallets.services import wallet_create

user = get_user_model().objects.create_user(username="bench", email="bench@example.com", password="bench-pass-1")
wallet = wallet_create(owner=user, name="Bench", xpub=generate_xpub("regtest"), network="regtest")
store = store_create(owner=user, name="Bench", default_currency="BTC", wallets=[wallet])
_, secret = token_create(user=user, permissions=["invoice_management"])
print(store.pk, secret)
"""


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def recreate_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    connection = psycopg.connect(admin, connect_timeout=5, autocommit=True)
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Connection:
    """One HTTP/1.1 keep-alive connection that sends a prepared request and reads the response.

    Deliberately minimal (Content-Length bodies only, which is all Django sends here): the clients
    share the server's two cores, and a full HTTP client library spent more CPU per request than
    the view does, which would measure the client instead of the server.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.closing = False  # the server said `Connection: close`: open a new one for the next request

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        self.writer.write(raw)
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout=30)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {
            name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])
        }
        if "content-length" not in headers:
            raise RuntimeError(f"response without Content-Length: {lines[0]}")
        body = await asyncio.wait_for(self.reader.readexactly(int(headers["content-length"])), timeout=30)
        self.closing = headers.get("connection", "").lower() == "close"
        return status, body


def post_request(port: int, path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def run_clients(port: int, secret: str, store_id: str, total: int, clients: int, reconnect: bool):
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    raw = post_request(
        port, "/api/invoices", headers, json.dumps({"store_id": store_id, "price": "0.001", "currency": "BTC"}).encode()
    )
    samples: list[float] = []
    errors: dict[int, int] = {}
    remaining = total
    addresses: set[str] = set()

    async def connect() -> Connection:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout=10)
        return Connection(reader, writer)

    async def worker() -> None:
        nonlocal remaining
        connection: Connection | None = None
        try:
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                if connection is None or connection.closing:
                    if connection is not None:
                        connection.writer.close()
                    connection = await connect()
                status, body = await connection.request(raw)
                if reconnect:
                    connection.closing = True
                elapsed = (time.perf_counter() - started) * 1000
                if status != 201:
                    errors[status] = errors.get(status, 0) + 1
                    continue
                addresses.add(json.loads(body)["payments"][0]["payment_address"])
                samples.append(elapsed)
        finally:
            if connection is not None:
                connection.writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return samples, errors, time.perf_counter() - started, addresses


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of processes, from /proc (0 for one that has ended)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def server_pids(pid: int) -> list[int]:
    return [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def backend_pids(url: str) -> list[int]:
    """PostgreSQL backends connected to the bench database (the servers' pooled connections)."""
    import psycopg

    with psycopg.connect(url, connect_timeout=5, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return [pid for (pid,) in rows]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument(
        "--reconnect",
        action="store_true",
        help="a new TCP connection per request (as most plugins do) instead of one keep-alive connection per client",
    )
    parser.add_argument(
        "--no-db-pool",
        dest="db_pool",
        action="store_false",
        help="one PostgreSQL connection per request (DB_POOL=false)",
    )
    args = parser.parse_args()

    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS)
    data_dir = tempfile.mkdtemp(prefix="bitcart-api-bench-")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bitcart.settings.production",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "BITCART_DATA_DIR": data_dir,
        "BTC_NETWORK": "regtest",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        # Connections come from the per-process pool (DB_POOL, on by default); --no-db-pool
        # measures the old one-connection-per-request setup.
        "DB_POOL": str(args.db_pool).lower(),
    }
    python = sys.executable
    recreate_database(database_url)
    subprocess.run([python, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    store_id, secret = (
        subprocess.run([python, "-c", SETUP], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
        .stdout.strip()
        .split()[-2:]
    )
    port = free_port()
    uvicorn = ROOT / ".venv" / "bin" / "uvicorn"
    server = subprocess.Popen(
        [str(uvicorn), "bitcart.asgi:application", "--host", "127.0.0.1", "--port", str(port)]
        + ["--workers", str(args.workers), "--no-access-log", "--log-level", "warning"],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/api/users/me", timeout=2).status_code in (401, 403):
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                print("server did not start", file=sys.stderr)
                return 1
            time.sleep(0.2)
        # Warm-up (imports, connections, caches) is not measured.
        asyncio.run(run_clients(port, secret, store_id, args.warmup, args.clients, args.reconnect))
        load_before = os.getloadavg()[0]
        servers, backends = server_pids(server.pid), backend_pids(database_url)
        server_cpu, database_cpu = cpu_seconds(servers), cpu_seconds(backends)
        workers_before = [cpu_seconds([pid]) for pid in servers[1:]]
        samples, errors, wall, addresses = asyncio.run(
            run_clients(port, secret, store_id, args.requests, args.clients, args.reconnect)
        )
        server_cpu = cpu_seconds(servers) - server_cpu
        workers_cpu = [cpu_seconds([pid]) - before for pid, before in zip(servers[1:], workers_before, strict=True)]
        database_cpu = cpu_seconds(backends) - database_cpu
    finally:
        server.terminate()
        server.wait(timeout=20)
        import redis

        redis.Redis.from_url(redis_url, socket_timeout=5).delete("celery")

    connections = "a new connection per request" if args.reconnect else "one keep-alive connection each"
    print(f"cores {os.cpu_count()}  uvicorn workers {args.workers}  load avg {load_before:.2f}")
    print(f"clients {args.clients}, {connections}")
    print(f"invoices created {len(samples)} (+{args.warmup} warm-up)  errors {errors or 'none'}")
    print(f"distinct addresses {len(addresses)}")
    print(f"throughput {len(samples) / wall:7.1f} invoices/s over {wall:.1f} s")
    print(
        f"latency    p50 {statistics.median(samples):6.1f} ms  p95 {percentile(samples, 0.95):6.1f} ms"
        f"  p99 {percentile(samples, 0.99):6.1f} ms  max {max(samples):6.1f} ms"
    )
    count = max(1, len(samples))
    # Keep-alive connections stay with the worker that accepted them: with 8 of them over 2 workers
    # the split is up to the kernel, and a worker with most of them is the limit (one core, one GIL).
    split = " / ".join(f"{100 * cpu / max(sum(workers_cpu), 1e-9):.0f}%" for cpu in workers_cpu)
    print(f"work split between the uvicorn workers (CPU): {split}")
    print(
        f"CPU per invoice: uvicorn {server_cpu * 1000 / count:.2f} ms, PostgreSQL {database_cpu * 1000 / count:.2f} ms"
        + ("" if args.db_pool else " (backends opened per request are not counted)")
    )
    return 0 if not errors and len(addresses) == len(samples) else 1


if __name__ == "__main__":
    sys.exit(main())
