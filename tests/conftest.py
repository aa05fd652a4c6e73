import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.services import token_create
from bitcart import embedded_redis
from daemons.btc.testing import start_daemon
from daemons.client import DaemonClient
from daemons.simulator.client import SimulatorClient
from daemons.simulator.testing import start_simulator
from invoices.services import invoice_create
from stores.models import Store
from tests.chains import listening, set_chain
from tests.http import Received, Receiver, bearer
from wallets.keys import generate_xpub
from wallets.models import Wallet

# --- a skipped test fails the run ---------------------------------------------------------------
# A missing browser, Electrum, PostgreSQL or package registry is an install error, not a reason to
# report green: every skip (from a marker, a fixture or the test) is turned into a failure, and so is
# an expected failure (xfail): a test that may fail unnoticed tests nothing.


def _skip_reason(longrepr) -> str:
    return longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"xfail, and an expected failure fails the run: {report.wasxfail}"
        del report.wasxfail
    elif report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped, and a skip fails the run (an install error): {_skip_reason(report.longrepr)}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if report.skipped:
        report.outcome = "failed"
        report.longrepr = f"module skipped, and a skip fails the run: {_skip_reason(report.longrepr)}"


@pytest.fixture(scope="session", autouse=True)
def _sqlite_test_files():
    """Django deletes the SQLite test database file but not its WAL/SHM companions."""
    yield
    name = settings.DATABASES["default"].get("TEST", {}).get("NAME")
    if name and settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{name}{suffix}").unlink(missing_ok=True)


@pytest.fixture(scope="session", autouse=True)
def _redis_server():
    """CI points REDIS_URL at a real Redis; locally the embedded one is started for the run."""
    process = None
    if settings.EMBEDDED_REDIS:
        process = embedded_redis.ensure_running(settings.EMBEDDED_REDIS_PORT, settings.DATA_DIR / "test-redis")
    yield
    if process is not None:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def merchant(django_user_model):
    return django_user_model.objects.create_user(
        username="merchant", email="merchant@example.com", password="correct horse battery", is_staff=True
    )


@pytest.fixture
def other_merchant(django_user_model):
    return django_user_model.objects.create_user(
        username="other", email="other@example.com", password="correct horse battery", is_staff=True
    )


@pytest.fixture
def wallet(merchant):
    return Wallet.objects.create(
        name="Main", owner=merchant, currency="BTC", network="regtest", xpub=generate_xpub("regtest")
    )


@pytest.fixture
def store(merchant, wallet):
    store = Store.objects.create(name="Shop", owner=merchant, default_currency="BTC", underpaid_percentage=Decimal("0"))
    store.wallets.add(wallet)
    return store


# --- the API and the pages: clients, throttles, a webhook receiver --------------------------------


@pytest.fixture(autouse=True)
def _reset_throttles():
    """Throttle counters live in the shared Redis cache (which outlives a run): every test starts with
    a full budget for the test client's address. Only ours are removed (never flush the DB)."""
    keys = [f"throttle_{scope}_127.0.0.1" for scope in ("invoice_anon", "login")]
    cache.delete_many(keys)
    yield
    cache.delete_many(keys)


@pytest.fixture
def api() -> APIClient:
    return APIClient()


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


@pytest.fixture
def invoice(store):
    return invoice_create(store=store, price="0.001", currency="BTC")


# --- real chain processes: the regtest simulator, the Electrum daemon, the listener -----------


@pytest.fixture(scope="session")
def chain(tmp_path_factory):
    """One simulator + daemon for the session (Electrum takes seconds to start)."""
    directory: Path = tmp_path_factory.mktemp("chain")
    simulator = start_simulator(directory)
    try:
        daemon = start_daemon(directory, simulator)
    except BaseException:
        simulator.stop()
        raise
    yield simulator, daemon
    daemon.stop()
    simulator.stop()


@pytest.fixture
def sim(chain) -> SimulatorClient:
    return SimulatorClient(chain[0].control_url)


@pytest.fixture
def daemon_client(chain, settings) -> DaemonClient:
    daemon = chain[1]
    set_chain(settings, "btc", daemon_url=daemon.url, login=daemon.login, password=daemon.password)
    return DaemonClient(daemon.url, login=daemon.login, password=daemon.password)


@pytest.fixture
def listener(daemon_client):
    """The real listener, in a thread with its own event loop, for the duration of a test."""
    with listening(daemon_client) as instance:
        yield instance
