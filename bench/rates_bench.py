"""Rate service benchmark: rate_get from the cache, alone and while a slow collector run is going on.

    .venv/bin/python bench/rates_bench.py [--calls 10000]

Uses the test settings, a throw-away SQLite database, and REDIS_URL if set, otherwise its own
embedded redis-server on a free port (so it neither disturbs nor depends on anything else running).
Providers are a local stub serving the recorded bodies in tests/rates/samples.
"""

import argparse
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "tests" / "rates" / "samples"
sys.path.insert(0, str(ROOT))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


WORKDIR = Path(tempfile.mkdtemp(prefix="rates-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bitcart.settings.test")
os.environ.setdefault("DATABASE_URL", f"sqlite:///{WORKDIR / 'bench.sqlite3'}")
if not os.environ.get("REDIS_URL"):
    os.environ["EMBEDDED_REDIS_PORT"] = str(_free_port())

import django  # noqa: E402 - the environment above must be set first

django.setup()

from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.core.management import call_command  # noqa: E402

from bitcart import embedded_redis  # noqa: E402
from rates import services  # noqa: E402
from rates.types import RulesSnapshot  # noqa: E402


def _bodies(usd: str, now: int) -> dict[str, bytes]:
    """The recorded bodies with one current BTC/USD price, so the sources agree."""

    def read(name: str) -> bytes:
        return (SAMPLES / name).read_bytes()

    price = usd.encode()
    return {
        "/coingecko/api/v3/simple/price": read("coingecko-simple-price-bitcoin-docs-example.json")
        .replace(b"67187.3358936566", price)
        .replace(b"1711356300", str(now).encode()),
        "/kraken/0/public/Ticker": read("kraken-ticker-xbtusd.json").replace(b"30303.20000", price),
        "/coinbase/v2/exchange-rates": read("coinbase-exchange-rates-btc.json").replace(b'"4360.60"', b'"%s"' % price),
        "/bitstamp/api/v2/ticker/btcusd/": read("bitstamp-ticker-btcusd.json")
        .replace(b'"20800"', b'"%s"' % price)
        .replace(b"1666808829", str(now).encode()),
        "/blockchain/ticker": read("blockchain-info-ticker.json").replace(b'"last":33438.82', b'"last":%s' % price),
        "/ecb/stats/eurofxref/eurofxref-daily.xml": read("ecb-eurofxref-daily.xml"),
    }


class Stub:
    def __init__(self) -> None:
        self.delay = 0.0
        self.bodies: dict[str, bytes] = {}
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                time.sleep(stub.delay)
                body = stub.bodies.get(self.path.split("?", 1)[0])
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _stats(samples_ns: list[int]) -> str:
    ordered = sorted(samples_ns)
    p50 = ordered[len(ordered) // 2] / 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1000
    return (
        f"n={len(ordered)} p50={p50:.0f} µs p99={p99:.0f} µs "
        f"mean={statistics.fmean(ordered) / 1000:.0f} µs max={ordered[-1] / 1000:.0f} µs"
    )


def _time_op(op, calls: int) -> list[int]:
    samples = []
    for _ in range(calls):
        started = time.perf_counter_ns()
        op()
        samples.append(time.perf_counter_ns() - started)
    return samples


def _time_calls(store: object, calls: int) -> list[int]:
    samples = []
    for _ in range(calls):
        started = time.perf_counter_ns()
        services.rate_get(store=store, crypto="BTC", fiat="USD")  # type: ignore[arg-type]
        samples.append(time.perf_counter_ns() - started)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--slow", type=float, default=5.0, help="seconds each stubbed provider takes")
    args = parser.parse_args()

    redis_process = None
    if settings.EMBEDDED_REDIS:
        redis_process = embedded_redis.ensure_running(settings.EMBEDDED_REDIS_PORT, WORKDIR / "redis")
    try:
        call_command("migrate", verbosity=0)
        stub = Stub()
        for name in ("coingecko", "kraken", "coinbase", "bitstamp", "blockchain", "ecb"):
            setattr(settings, f"RATES_{name.upper()}_URL", f"{stub.url}/{name}")
        settings.RATES_CACHE_NAMESPACE = f"rates-bench:{os.getpid()}"
        settings.RATES_FETCH_TIMEOUT_SECONDS = args.slow + 5
        settings.RATES_DEADLINE_SECONDS = args.slow + 3
        print(f"redis: {settings.CACHES['default']['LOCATION']}  python {sys.version.split()[0]}")

        stub.bodies = _bodies("65000.12", int(time.time()))
        summary = services.rates_refresh(currencies=["USD"])
        ok = sorted(name for name, p in summary["providers"].items() if p["ok"])
        print(f"warm-up refresh: {summary['duration_ms']} ms, providers ok: {','.join(ok)}")
        quote = services.rate_get(store=None, crypto="BTC", fiat="USD")
        print(f"rate_get → {quote.rate} ({quote.source})")

        # A store whose rules are cached, as on the invoice path after its first invoice.
        store = SimpleNamespace(pk="bench-store")
        cache.set(services.rules_key(store.pk), RulesSnapshot(providers=(), combine="median"), timeout=3600)
        _time_calls(store, 200)  # connection set up, code paths warm
        # Baselines: what one round trip through Django's cache costs on this machine right now.
        keys = [services.pair_key(pair) for pair in ("BTC/USD", "BTC/EUR", "EUR/USD")]
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
        one_key = _time_op(lambda: cache.get(keys[0]), args.calls)
        many_keys = _time_op(lambda: cache.get_many([*keys, "x"]), args.calls)
        print(f"baseline cache.get (1 key):              {_stats(one_key)}")
        print(f"baseline cache.get_many (4 keys):        {_stats(many_keys)}")
        print(f"rate_get from cache, store rules cached: {_stats(_time_calls(store, args.calls))}")
        print(f"rate_get from cache, no store:           {_stats(_time_calls(None, args.calls))}")
        # rate_get's own work without the Redis round trip: the keys it reads, served from a dict.
        snapshot = cache.get_many([*keys, services.rules_key(store.pk)])
        services.cache = SimpleNamespace(get_many=lambda _keys: snapshot)  # type: ignore[assignment]
        try:
            print(f"rate_get without Redis (own CPU cost):   {_stats(_time_calls(store, args.calls))}")
        finally:
            services.cache = cache

        # The collector against providers that each take --slow seconds, in another thread.
        stub.delay = args.slow
        stub.bodies = _bodies("65001.00", int(time.time()))
        result: dict = {}
        refresher = threading.Thread(target=lambda: result.update(services.rates_refresh(currencies=["USD"])))
        started = time.monotonic()
        refresher.start()
        during: list[int] = []
        while refresher.is_alive():
            during += _time_calls(store, 100)
        refresh_seconds = time.monotonic() - started
        print(f"slow refresh took {refresh_seconds:.2f} s (stub sleeps {args.slow} s per request)")
        print(f"rate_get while it ran:                   {_stats(during)}")
        print(f"rate after the slow refresh: {services.rate_get(store=None, crypto='BTC', fiat='USD').rate}")
        stub.server.shutdown()
    finally:
        if redis_process is not None:
            redis_process.terminate()
            redis_process.wait(timeout=10)


if __name__ == "__main__":
    main()
