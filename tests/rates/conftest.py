"""A local HTTP stub standing in for the rate providers, serving their recorded real bodies."""

import asyncio
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from rates.providers import ALL_PROVIDERS, FetchResult

SAMPLES = Path(__file__).parent / "samples"

# Where each adapter's endpoint lives below its base URL.
PATHS = {
    "coingecko": "/api/v3/simple/price",
    "kraken": "/0/public/Ticker",
    "coinbase": "/v2/exchange-rates",
    "bitstamp": "/api/v2/ticker/btcusd/",
    "blockchain": "/ticker",
    "ecb": "/stats/eurofxref/eurofxref-daily.xml",
}


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


@dataclass
class Route:
    body: bytes
    status: int = 200
    content_type: str = "application/json"
    delay: float = 0.0


@dataclass
class RateStub:
    """Routes are keyed by path, and optionally by query parameters (one request per crypto, as Kraken
    and Coinbase are asked, shares a path); every request is recorded as (path, query)."""

    url: str = ""
    routes: dict[tuple[str, frozenset], Route] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)

    def serve(
        self, provider: str, body: bytes, *, path: str | None = None, query: dict | None = None, **kwargs
    ) -> None:
        """`query`: the route answers only requests with these parameter values (query-less routes answer the rest)."""
        self.routes[(f"/{provider}{path or PATHS[provider]}", frozenset((query or {}).items()))] = Route(body, **kwargs)

    def route(self, path: str, query: str) -> Route | None:
        params = {name: values[-1] for name, values in parse_qs(query).items()}
        matching = [
            (len(wanted), route)
            for (route_path, wanted), route in self.routes.items()
            if route_path == path and all(params.get(name) == value for name, value in wanted)
        ]
        return max(matching, key=lambda item: item[0])[1] if matching else None

    def down(self, provider: str, status: int = 503, path: str | None = None) -> None:
        self.serve(
            provider,
            b"<html><body>Service Unavailable</body></html>",
            path=path,
            status=status,
            content_type="text/html",
        )

    def base(self, provider: str) -> str:
        return f"{self.url}/{provider}"


def _handler(stub: RateStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            stub.requests.append((parts.path, parts.query))
            route = stub.route(parts.path, parts.query)
            if route is None:
                route = Route(b'{"error": "no such route in the stub"}', status=404)
            if route.delay:
                time.sleep(route.delay)
            try:
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                self.wfile.write(route.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout or deadline): that is what the test wanted

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def rate_stub(settings):
    stub = RateStub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stub))
    server.daemon_threads = True
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    for name in ALL_PROVIDERS:
        setattr(settings, f"RATES_{name.upper()}_URL", stub.base(name))
    settings.RATES_FETCH_TIMEOUT_SECONDS = 2.0
    settings.RATES_DEADLINE_SECONDS = 5.0
    yield stub
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _rates_isolated(settings):
    """Each test its own cache namespace (no flush of a Redis other suites share) and known config."""
    settings.RATES_CACHE_NAMESPACE = f"rates-test:{uuid.uuid4().hex}"
    settings.RATES_PROVIDERS = ["coingecko", "kraken", "coinbase", "bitstamp", "blockchain"]
    settings.RATES_CRYPTOS = ["BTC"]
    settings.RATES_ECB_ENABLED = True
    settings.RATES_CURRENCIES = ["USD", "EUR"]
    settings.RATES_MAX_AGE_SECONDS = 600
    settings.RATES_MAX_DEVIATION_PERCENT = "5"


def fetch(provider: str, fiats: list[str], now: datetime, cryptos: tuple[str, ...] = ("BTC",)) -> FetchResult:
    async def run() -> FetchResult:
        async with httpx.AsyncClient(timeout=2.0) as client:
            return await ALL_PROVIDERS[provider].fetch(client, cryptos=cryptos, fiats=fiats, now=now)

    return asyncio.run(run())


def consistent_bodies(stub: RateStub, *, usd: str | dict[str, str], now: int, skip: tuple[str, ...] = ()) -> None:
    """The recorded bodies with their BTC/USD price (and timestamps) replaced, formats untouched.

    The samples come from different years (BTC at 4,360 to 67,187 USD), so tests of how sources are
    combined put one current price into every provider's own format. `usd` may differ per provider.
    """
    prices = usd if isinstance(usd, dict) else {name: usd for name in PATHS if name != "ecb"}

    def price(name: str) -> bytes:
        return prices.get(name, "0").encode()

    bodies = {
        "coingecko": sample("coingecko-simple-price-bitcoin-docs-example.json")
        .replace(b"67187.3358936566", price("coingecko"))
        .replace(b"1711356300", str(now).encode()),
        "kraken": sample("kraken-ticker-xbtusd.json").replace(b'"30303.20000"', b'"%s"' % price("kraken")),
        "coinbase": sample("coinbase-exchange-rates-btc.json").replace(
            b'"USD":"4360.60"', b'"USD":"%s"' % price("coinbase")
        ),
        "bitstamp": sample("bitstamp-ticker-btcusd.json")
        .replace(b'"last": "20800"', b'"last": "%s"' % price("bitstamp"))
        .replace(b"1666808829", str(now).encode()),
        "blockchain": sample("blockchain-info-ticker.json").replace(
            b'"last":33438.82', b'"last":%s' % price("blockchain")
        ),
    }
    for name, body in bodies.items():
        if name in prices and name not in skip:
            stub.serve(name, body)
    stub.serve("ecb", sample("ecb-eurofxref-daily.xml"), content_type="text/xml")
