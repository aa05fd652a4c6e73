"""Invoice-creation throughput through the API: 8 concurrent clients against a real ASGI server.

    .venv/bin/python bench/api_invoices_bench.py [--requests 2000] [--clients 8] [--workers 2]

Creates its own PostgreSQL database (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/bitcart_api_bench; dropped and re-created each run), migrates it,
makes a merchant, a regtest wallet, a BTC-priced store and a token, starts
`uvicorn bitcart.asgi:application` as a subprocess with production settings, and POSTs
/api/invoices from `--clients` concurrent HTTP/1.1 keep-alive clients. Prints requests/s and
p50/p95/p99 latency. Target: >= 200 invoices/s and p95 <= 60 ms on 2 cores (the client shares them).

Celery tasks queued by invoice creation (address watch) go to a Redis database of their own
(BENCH_REDIS_URL, default redis://127.0.0.1:6379/7) and are removed at the end.
"""

import argparse
import asyncio
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
from bitcart.apiauth.services import token_create
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
    import psycopg2

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    connection = psycopg2.connect(admin, connect_timeout=5)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def run_clients(base: str, secret: str, store_id: str, total: int, clients: int, warmup: int):
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    body = {"store_id": store_id, "price": "0.001", "currency": "BTC"}
    samples: list[float] = []
    errors: dict[int, int] = {}
    remaining = total + warmup
    lock = asyncio.Lock()

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal remaining
        while True:
            async with lock:
                if remaining <= 0:
                    return
                remaining -= 1
                measured = remaining < total
            started = time.perf_counter()
            response = await client.post(f"{base}/api/invoices", json=body, headers=headers)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 201:
                errors[response.status_code] = errors.get(response.status_code, 0) + 1
            elif measured:
                samples.append(elapsed)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    timeout = httpx.Timeout(30.0)
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        # Warm-up (imports, connections, caches) is not measured: the first `warmup` requests.
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        wall = time.perf_counter() - started
    return samples, errors, wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--warmup", type=int, default=200)
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
        # Under ASGI every request runs in its own thread: persistent connections would pile up
        # (one per finished thread) until PostgreSQL refuses clients, so connections close per request.
        "CONN_MAX_AGE": os.environ.get("BENCH_CONN_MAX_AGE", "0"),
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
        load_before = os.getloadavg()[0]
        samples, errors, wall = asyncio.run(
            run_clients(base, secret, store_id, args.requests, args.clients, args.warmup)
        )
    finally:
        server.terminate()
        server.wait(timeout=20)
        import redis

        redis.Redis.from_url(redis_url, socket_timeout=5).delete("celery")

    measured_wall = wall * len(samples) / max(1, len(samples) + args.warmup)
    print(f"cores {os.cpu_count()}  uvicorn workers {args.workers}  clients {args.clients}  load avg {load_before:.2f}")
    print(f"invoices created {len(samples)} (+{args.warmup} warm-up)  errors {errors or 'none'}")
    print(f"throughput {len(samples) / measured_wall:7.1f} invoices/s (over {wall:.1f} s wall incl. warm-up)")
    print(
        f"latency    p50 {statistics.median(samples):6.1f} ms  p95 {percentile(samples, 0.95):6.1f} ms"
        f"  p99 {percentile(samples, 0.99):6.1f} ms  max {max(samples):6.1f} ms"
    )
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
