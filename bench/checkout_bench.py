"""Server time of the checkout page (and its polling endpoint).

    .venv/bin/python bench/checkout_bench.py [--requests 500]

Runs against a fresh SQLite file in a temp dir (or BENCH_DATABASE_URL), with production settings,
and prints p50/p90/p99 in milliseconds and the page's size, twice: through Django's ASGI handler
(what uvicorn runs: middleware hop to a thread per hook) and through the plain request handler
(the page's own work). The target is p50 <= 15 ms. The load average is printed too: on a busy
machine every figure grows with it.
"""

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


async def measure_async(client, url: str, count: int, warmup: int) -> tuple[list[float], int]:
    size = 0
    for _ in range(warmup):
        await client.get(url)
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        response = await client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
        size = len(response.content)
    return samples, size


def measure_sync(client, url: str, count: int, warmup: int) -> tuple[list[float], int]:
    size = 0
    for _ in range(warmup):
        client.get(url)
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
        size = len(response.content)
    return samples, size


def report(label: str, samples: list[float], size: int) -> None:
    print(
        f"{label:28} p50 {statistics.median(samples):6.2f} ms  p90 {percentile(samples, 0.9):6.2f} ms"
        f"  p99 {percentile(samples, 0.99):6.2f} ms  body {size / 1024:5.1f} KiB"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    options = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="bitcart-bench-")
    os.environ["DJANGO_SETTINGS_MODULE"] = "bitcart.settings.production"
    os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{tmp}/bench.sqlite3")
    os.environ["BITCART_DATA_DIR"] = tmp
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-used-anywhere-else-000000")
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ.setdefault("BTC_NETWORK", "regtest")
    sys.path.insert(0, str(ROOT))

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import AsyncClient, Client

    from bitcart.celery import app as celery_app
    from invoices.services import invoice_create
    from stores.services import product_create, store_create
    from wallets.keys import generate_xpub
    from wallets.models import Wallet

    # Invoice creation queues a "watch these addresses" task; no worker or Redis is needed here.
    celery_app.conf.broker_url = "memory://localhost/"
    call_command("migrate", verbosity=0, interactive=False)
    user = get_user_model().objects.create_user(username="bench")
    wallet = Wallet.objects.create(name="w", owner=user, currency="BTC", network="regtest", xpub=generate_xpub())
    store = store_create(owner=user, name="Bench store", default_currency="BTC", wallets=[wallet])
    products = [product_create(store=store, name=f"Product {n}", price="0.0001") for n in range(3)]
    invoice = invoice_create(store=store, products={p.pk: 2 for p in products}, buyer_email="b@example.com")

    print(f"database: {django.db.connection.vendor}; {options.requests} requests after {options.warmup} warm-up")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    for name, url in (("checkout page", f"/i/{invoice.pk}"), ("status poll", f"/i/{invoice.pk}/status")):
        report(f"{name} (ASGI)", *asyncio.run(measure_async(AsyncClient(), url, options.requests, options.warmup)))
        report(f"{name} (handler)", *measure_sync(Client(), url, options.requests, options.warmup))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
