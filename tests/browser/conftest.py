"""A real browser (Debian's Chromium, driven by Playwright) against the real ASGI server.

pytest-django's live_server is WSGI-only (no websockets) and its test database is invisible to
other processes, so the suite runs its own stack for the session:
  - a dedicated redis-server (channel layer, cache, broker) on a free port, killed at the end;
  - a database of its own: a SQLite file in a temp dir, or, when DATABASE_URL points at
    PostgreSQL (CI), a fresh `bitcart_browser_<random>` database dropped at the end;
  - `manage.py migrate`, then uvicorn serving tests.browser.asgi:application;
  - helper.py, a long-lived process on the same database and Redis that creates data;
  - the regtest chain simulator, the real Electrum daemon and the listener (`manage.py listen`):
    tests pay on the simulated chain (`pay`, `mine`) and the payment reaches the page the way it
    does in production; the sandbox's "Simulate payment" button pays through the same control port;
  - Ethereum too (BITCART_CRYPTOS=btc,eth): a local EVM node (ganache, loopback only) with test USDT
    and USDC, the real ETH daemon and its listener (`manage.py listen --chain eth`); tests pay with the
    node's funded accounts (`evm`);
  - a plain http.server on another port: "some merchant's site" for the modal test.
"""

import json
import os
import queue
import secrets
import shutil
import socket
import subprocess
import sys
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from bitcart import embedded_redis
from daemons.processes import wait_for

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
STARTUP_TIMEOUT = 40.0
COMMAND_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float, what: str) -> None:
    def listening() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        return embedded_redis.is_listening(port)

    wait_for(listening, timeout=timeout, what=f"{what} to listen on {port}")


def stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


class Postgres:
    """A throwaway database next to the one DATABASE_URL names."""

    def __init__(self, url: str) -> None:
        self.url = urlsplit(url)
        self.name = f"bitcart_browser_{secrets.token_hex(4)}"

    def _execute(self, sql: str) -> None:
        import psycopg

        # libpq knows postgres:// and postgresql://, not django-environ's other spellings.
        connection = psycopg.connect(urlunsplit(self.url._replace(scheme="postgresql")), connect_timeout=10)
        try:
            connection.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
            with connection.cursor() as cursor:
                cursor.execute(sql)
        finally:
            connection.close()

    def create(self) -> str:
        self._execute(f'CREATE DATABASE "{self.name}"')
        return urlunsplit(self.url._replace(path=f"/{self.name}"))

    def drop(self) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class Helper:
    """helper.py, spoken to in JSON lines; every answer is awaited with a timeout."""

    def __init__(self, env: dict) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("helper.py"))],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.answers: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self._answer(STARTUP_TIMEOUT)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("{"):
                self.answers.put(json.loads(line))
        # End of output: the helper died; fail the waiting call now rather than at its timeout.
        self.answers.put({"ok": False, "error": f"helper exited with {self.process.wait()}"})

    def _answer(self, timeout: float):
        try:
            answer = self.answers.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"helper did not answer within {timeout}s") from None
        if not answer["ok"]:
            raise RuntimeError(f"helper failed: {answer['error']}")
        return answer["result"]

    def __call__(self, cmd: str, **args):
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"cmd": cmd, "args": args}) + "\n")
        self.process.stdin.flush()
        return self._answer(COMMAND_TIMEOUT)

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        stop(self.process)


@pytest.fixture(scope="package")
def chromium_path() -> str:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is not installed: an install error (make test installs it: apt-get install chromium)")
    return CHROMIUM


@pytest.fixture(scope="package")
def stack(tmp_path_factory, chromium_path):
    tmp = tmp_path_factory.mktemp("browser")
    processes: list[subprocess.Popen] = []
    postgres = None
    helper = None
    simulator = None
    daemon = None
    evm = None
    eth_daemon = None
    try:
        # The regtest chain simulator (a colleague's test double for the Bitcoin network): the
        # sandbox's "Simulate payment" button pays through its control port.
        from daemons.simulator.testing import start_simulator

        simulator = start_simulator(tmp / "simulator")
        # The real coin daemon and (below) the listener: a simulated payment reaches the page
        # through them, as in the sandbox.
        from daemons.btc.testing import start_daemon

        daemon = start_daemon(tmp / "daemon", simulator)
        from daemons.eth.testing import CHAIN_ID, compile_token
        from daemons.eth.testing import start_daemon as start_eth_daemon
        from tests.evm import start_chain

        evm = start_chain(tmp / "evm", compile_token(), tokens=("USDT", "USDC"))
        eth_daemon = start_eth_daemon(tmp / "eth", evm.node, tokens=evm.tokens)
        eth_daemon.wait_for(eth_daemon.synced, what="the ETH daemon's first scan")
        redis_port = free_port()
        redis = subprocess.Popen(
            [embedded_redis.redis_server_binary(), "--bind", "127.0.0.1", "--port", str(redis_port)]
            + ["--dir", str(tmp), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(redis)
        wait_for_port(redis_port, redis, 10, "redis-server")

        database_url = os.environ.get("DATABASE_URL", "")
        if database_url.startswith(("postgres://", "postgresql://", "pgsql://")):
            postgres = Postgres(database_url)
            database_url = postgres.create()
        else:
            database_url = f"sqlite:///{tmp / 'browser.sqlite3'}"
        port = free_port()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bitcart.settings.production",
            "DATABASE_URL": database_url,
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "BITCART_DATA_DIR": str(tmp / "data"),
            "SECRET_KEY": secrets.token_urlsafe(32),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DEBUG": "false",
            "BTC_NETWORK": "regtest",
            "SIMULATOR_HOST": simulator.host,
            "SIMULATOR_CONTROL_PORT": str(simulator.control_port),
            "BTC_DAEMON_URL": daemon.url,
            "BTC_LOGIN": daemon.login,
            "BTC_PASSWORD": daemon.password,
            "BITCART_CRYPTOS": "btc,eth",
            "ETH_NETWORK": "local",
            "ETH_CHAIN_ID": str(CHAIN_ID),
            "ETH_DAEMON_URL": eth_daemon.url,
            "ETH_LOGIN": eth_daemon.login,
            "ETH_PASSWORD": eth_daemon.password,
            "ETH_TOKENS": json.dumps({symbol: {"contract": c, "decimals": 6} for symbol, c in evm.tokens.items()}),
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "LOG_LEVEL": "WARNING",
            "CONN_MAX_AGE": "0",
            "PYTHONPATH": str(ROOT),
        }
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=env,
            check=True,
            timeout=120,
        )
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "tests.browser.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--lifespan",
                "off",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        )
        processes.append(server)
        wait_for_port(port, server, STARTUP_TIMEOUT, "uvicorn")
        for chain in ("btc", "eth"):
            processes.append(
                subprocess.Popen([sys.executable, "manage.py", "listen", "--chain", chain], cwd=ROOT, env=env)
            )
        helper = Helper(env)
        yield {
            "url": f"http://127.0.0.1:{port}",
            "helper": helper,
            "server": server,
            "simulator": simulator,
            "evm": evm,
        }
    finally:
        if helper is not None:
            helper.close()
        for process in reversed(processes):
            stop(process)
        if daemon is not None:
            daemon.stop()
        if simulator is not None:
            simulator.stop()
        if eth_daemon is not None:
            eth_daemon.stop()
        if evm is not None:
            evm.node.stop()
        if postgres is not None:
            postgres.drop()


@pytest.fixture(scope="package")
def base_url(stack) -> str:
    return stack["url"]


@pytest.fixture(scope="package")
def helper(stack) -> Helper:
    return stack["helper"]


@pytest.fixture(scope="package")
def simulator(stack):
    return stack["simulator"]


@pytest.fixture(scope="package")
def evm(stack):
    """The local EVM node (tests.evm.Chain): `evm.pay_eth(to, "0.1")`, `evm.pay_token(to, "12.5", contract)`."""
    return stack["evm"]


@pytest.fixture(scope="package")
def pay(helper, simulator):
    """pay(invoice, amount=None) -> txid: a buyer's transaction to the invoice's address on the
    simulated chain (the amount due unless given), in the mempool: 0 confirmations."""

    def pay(invoice: str, amount: int | None = None) -> str:
        method = helper("payment_method", invoice=invoice)
        return simulator.client.pay(method["address"], method["amount"] if amount is None else amount)["txid"]

    return pay


@pytest.fixture(scope="package")
def mine(simulator):
    """mine() mines one block: everything in the mempool gets its first confirmation."""
    return lambda: simulator.client.mine(blocks=1)


@pytest.fixture(scope="package")
def shop(helper) -> dict:
    return helper("setup")


@pytest.fixture(scope="package")
def other_site(tmp_path_factory, base_url):
    """Some merchant's web site on another origin, embedding the modal script."""
    root = tmp_path_factory.mktemp("site")
    shutil.copy(Path(__file__).with_name("site_host.html"), root / "host.html")
    (root / "host.html").write_text((root / "host.html").read_text().replace("{{BITCART}}", base_url))
    (root / "thanks.html").write_text("<!doctype html><title>Thanks</title><h1>Thanks for your order</h1>")

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="package")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, timeout=30_000)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, base_url):
    context = browser.new_context(viewport={"width": 480, "height": 900}, device_scale_factor=1)
    context.set_default_timeout(10_000)
    context.set_default_navigation_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="package")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
