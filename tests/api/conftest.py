import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.services import token_create
from daemons.processes import wait_for


@pytest.fixture(autouse=True)
def _reset_throttles():
    """Throttle counters live in the shared Redis cache; only ours are removed (never flush the DB)."""
    keys = [f"throttle_{scope}_127.0.0.1" for scope in ("invoice_anon", "login")]
    cache.delete_many(keys)
    yield
    cache.delete_many(keys)


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def bearer(client: APIClient, secret: str) -> APIClient:
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def make_client(db):
    """make_client(user, permissions) → an APIClient authenticated with a fresh token."""

    def _make(user, permissions=("full_control",)) -> APIClient:
        _, secret = token_create(user=user, permissions=list(permissions))
        return bearer(APIClient(), secret)

    return _make


@pytest.fixture
def client_merchant(make_client, merchant) -> APIClient:
    return make_client(merchant)


@pytest.fixture
def client_other(make_client, other_merchant) -> APIClient:
    return make_client(other_merchant)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Receiver:
    """A local HTTP server standing in for a merchant's webhook endpoint."""

    url: str
    requests: list[Received] = field(default_factory=list)
    status: int = 200
    event: threading.Event = field(default_factory=threading.Event)

    def wait(self, count: int = 1, timeout: float = 10.0) -> list[Received]:
        wait_for(lambda: len(self.requests) >= count, timeout=timeout, what=f"{count} request(s) at {self.url}")
        return self.requests


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state: dict = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            rec = state["receiver"]
            rec.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(rec.status)
            self.send_header("content-type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if rec.status < 300 else b"nope")
            rec.event.set()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hook")
    state["receiver"] = rec
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()
