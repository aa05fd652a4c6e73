"""The whole process set as real subprocesses, each of which a test can kill -9 and start again.

    cluster = Cluster(tmp_path)
    try:
        cluster.start()
        secret = cluster.setup_store()
        ...
        cluster.kill("listener"); cluster.start_process("listener")
    finally:
        cluster.stop()

A dedicated PostgreSQL database (created, migrated by `manage.py migrate`, dropped at the end) and a
dedicated redis-server without persistence (so killing it loses the broker queue, the cache locks
and the channel layer, as a real crash of an unpersisted Redis would). Every Django process runs
with production settings; every process runs in its own process group and is killed with it.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import psycopg
import redis

from daemons.btc.testing import DaemonProcess, start_daemon
from daemons.processes import wait_for
from daemons.simulator.testing import SimulatorProcess, start_simulator

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
PG_ADMIN_DSN = os.environ.get("FAULTS_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
EXPIRY_SWEEP_SECONDS = 2
RECONCILE_SECONDS = 5
DJANGO_PROCESSES = ("web", "worker", "beat", "listener")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.logs = self.directory / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.db_name = f"bitcart_faults_{secrets.token_hex(4)}"
        self.redis_port = free_port()
        self.daemon_port = free_port()
        self.web_port = free_port()
        self.daemon_password = secrets.token_urlsafe(16)
        self.processes: dict[str, subprocess.Popen] = {}
        self.simulator: SimulatorProcess | None = None
        self.daemon: DaemonProcess | None = None
        self.db_created = False
        self.env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{self.db_name}",
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "BITCART_DATA_DIR": str(self.directory / "data"),
            "BTC_NETWORK": "regtest",
            "BTC_DAEMON_URL": f"http://127.0.0.1:{self.daemon_port}",
            "BTC_LOGIN": "bitcart",
            "BTC_PASSWORD": self.daemon_password,
            "DJANGO_SETTINGS_MODULE": "bitcart.settings.production",
            "DEBUG": "false",
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "EXPIRY_SWEEP_SECONDS": str(EXPIRY_SWEEP_SECONDS),
            "RECONCILE_SECONDS": str(RECONCILE_SECONDS),
            "SECRET_KEY": secrets.token_urlsafe(40),
            "LOG_LEVEL": "INFO",
        }

    # --- lifecycle ---

    def start(self) -> None:
        # `timeout`/CI cancelling the run sends SIGTERM: turn it into KeyboardInterrupt so that pytest
        # still runs the finalizers that kill every process and drop the database.
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _interrupt)
        self._create_database()
        self.start_process("redis")
        self._manage("migrate", "--noinput", timeout=120)
        self.simulator = start_simulator(self.directory / "chain")
        self.start_process("daemon")
        for name in DJANGO_PROCESSES:
            self.start_process(name)
        self.wait_web()

    def stop(self) -> None:
        """Kill everything (process groups), then drop the database. Never raises for a dead process."""
        for name in list(self.processes):
            self.kill(name)
        if self.daemon is not None and self.daemon.process.poll() is None:
            self.daemon.process.kill()
            self.daemon.process.wait(timeout=10)
        if self.simulator is not None:
            self.simulator.stop(timeout=5)
        if self.db_created:
            self._admin(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')

    def _admin(self, statement: str) -> None:
        # Not `with connection:` (that opens a transaction block, where CREATE DATABASE is refused).
        connection = psycopg.connect(PG_ADMIN_DSN)
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(statement)
        finally:
            connection.close()

    def _create_database(self) -> None:
        self._admin(f'CREATE DATABASE "{self.db_name}"')
        self.db_created = True

    def db(self):
        """A connection to the cluster's database (autocommit), for setup and assertions."""
        connection = psycopg.connect(self.env["DATABASE_URL"])
        connection.autocommit = True
        return connection

    def _manage(self, *args: str, timeout: float) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=PROJECT_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {args[0]} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
        return result.stdout

    # --- processes ---

    def _command(self, name: str) -> list[str]:
        if name == "redis":
            return [
                "redis-server",
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ]
        if name == "web":
            return [
                str(VENV_BIN / "uvicorn"),
                "bitcart.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.web_port),
                "--no-access-log",
            ]
        if name == "worker":
            return [
                str(VENV_BIN / "celery"),
                "-A",
                "bitcart",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                "1",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"faults-{self.db_name}@%h",
            ]
        if name == "beat":
            return [
                str(VENV_BIN / "celery"),
                "-A",
                "bitcart",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(self.directory / "celerybeat-schedule"),
            ]
        if name == "listener":
            return [sys.executable, "manage.py", "listen"]
        raise ValueError(name)

    def start_process(self, name: str) -> None:
        if name == "daemon":
            assert self.simulator is not None
            # Same directory, same password, same port: a restart of the same daemon.
            self.daemon = start_daemon(
                self.directory,
                self.simulator,
                login="bitcart",
                password=self.daemon_password,
                extra_env={"BTC_PORT": str(self.daemon_port)},
                timeout=40,
            )
            return
        with (self.logs / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(
                self._command(name),
                cwd=PROJECT_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill -9 takes its children too
            )
        if name == "redis":
            client = redis.Redis(port=self.redis_port, socket_timeout=1, socket_connect_timeout=1)
            wait_for(lambda: _ping(client), timeout=10, what="redis", interval=0.1)

    def kill(self, name: str) -> None:
        """kill -9 the process (its whole group) and reap it."""
        if name == "daemon":
            if self.daemon is not None and self.daemon.process.poll() is None:
                self.daemon.process.kill()
                self.daemon.process.wait(timeout=10)
            return
        process = self.processes.pop(name, None)
        if process is None:
            return
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)

    def restart(self, name: str) -> None:
        self.kill(name)
        self.start_process(name)

    def alive(self) -> dict[str, bool]:
        state = {name: process.poll() is None for name, process in self.processes.items()}
        state["daemon"] = self.daemon is not None and self.daemon.process.poll() is None
        return state

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # --- the web API ---

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def wait_web(self, timeout: float = 30) -> None:
        def answers() -> bool:
            try:
                return httpx.get(f"{self.web_url}/api/invoices", timeout=2).status_code in (200, 401, 403)
            except httpx.HTTPError:
                return False

        wait_for(answers, timeout=timeout, what="the web process", interval=0.1)

    def setup_store(self) -> dict[str, str]:
        """A merchant, a regtest wallet, a BTC store and a full-control API token (in one manage.py shell)."""
        code = """
import json
from decimal import Decimal
from django.contrib.auth import get_user_model
from accounts.services import token_create
from stores.models import Store
from wallets.keys import generate_xpub
from wallets.models import Wallet
user = get_user_model().objects.create_user(username="m", email="m@example.com", password="x" * 20, is_staff=True)
wallet = Wallet.objects.create(name="w", owner=user, currency="BTC", network="regtest", xpub=generate_xpub("regtest"))
store = Store.objects.create(name="s", owner=user, default_currency="BTC", underpaid_percentage=Decimal(0),
                             transaction_speed=1, expiration=60)
store.wallets.add(wallet)
_, secret = token_create(user=user, permissions=["full_control"])
print("SETUP" + json.dumps({"store_id": store.pk, "token": secret, "xpub": wallet.xpub}))
"""
        out = self._manage("shell", "-c", code, timeout=60)
        line = next(line for line in out.splitlines() if line.startswith("SETUP"))
        return json.loads(line[len("SETUP") :])


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _ping(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
