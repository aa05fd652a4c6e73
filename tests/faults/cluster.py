"""The whole process set as real subprocesses, each of which a test can kill -9 and start again.

    cluster = Cluster(tmp_path)
    try:
        cluster.start()
        secret = cluster.setup_store()
        ...
        cluster.kill("listener-btc"); cluster.start_process("listener-btc")
    finally:
        cluster.stop()

The processes are the ones `manage.py supervisord_conf` generates for this environment, started as
supervisord starts them: the command, the program's environment on top of supervisord's own (here
the cluster's variables, as a user would export them), the working directory. Nothing is rebuilt
here, so the configuration users run is the one tested. The environment is the sandbox a user gets
from `make run` with production settings and a PostgreSQL DATABASE_URL: the embedded Redis, the
regtest simulator, the Electrum daemon (its RPC password generated in the data directory and read
from there by Django), web, worker, beat and the listener. A dedicated PostgreSQL database is created,
migrated by `manage.py migrate` and dropped at the end. Every process runs in its own process group
and is killed with it.
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
import time
from pathlib import Path

import httpx
import psycopg
import redis

from bitcart.management.commands.supervisord_conf import Program, parse
from daemons.processes import wait_for
from daemons.simulator.client import SimulatorClient, SimulatorError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN_DSN = os.environ.get("FAULTS_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
EXPIRY_SWEEP_SECONDS = 2
RECONCILE_SECONDS = 5
DAEMON = "daemon-btc"
START_RETRIES = 100  # supervisord_conf's startretries: then supervisord gives a program up (FATAL)


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
        self.simulator_port = free_port()
        self.simulator_control_port = free_port()
        self.data = self.directory / "data"
        self.processes: dict[str, subprocess.Popen] = {}
        self.programs: dict[str, Program] = {}
        self.db_created = False
        # supervisord's autorestart: a program that exits on its own is started again (kill() is the
        # test's deliberate outage, which the test ends itself). What was restarted is kept here.
        self.restarts: list[tuple[str, int | None]] = []
        self._lock = threading.RLock()
        self._supervising = threading.Event()
        # What a user exports before starting supervisord; supervisord passes it on to every program.
        self.env = {
            **{key: value for key, value in os.environ.items() if not key.startswith(("BTC_", "REDIS_"))},
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{self.db_name}",
            "EMBEDDED_REDIS_PORT": str(self.redis_port),
            "BITCART_DATA_DIR": str(self.data),
            "BTC_NETWORK": "regtest",
            "BTC_DAEMON_URL": f"http://127.0.0.1:{self.daemon_port}",
            "SIMULATOR_PORT": str(self.simulator_port),
            "SIMULATOR_CONTROL_PORT": str(self.simulator_control_port),
            "WEB_PORT": str(self.web_port),
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
        self.programs = parse(self._manage("supervisord_conf", timeout=60))
        assert list(self.programs) == ["redis", "simulator", DAEMON, "web", "worker", "beat", "listener-btc"]
        self.start_process("redis")
        self._manage("migrate", "--noinput", timeout=120)
        for name in list(self.programs)[1:]:  # in supervisord's order (priority)
            self.start_process(name)
        self.wait_web()
        self._supervising.set()
        threading.Thread(target=self._supervise, name="cluster-supervisor", daemon=True).start()

    def _supervise(self) -> None:
        """Restart programs that exited on their own, as supervisord does (autorestart=true)."""
        while self._supervising.is_set():
            with self._lock:
                for name, process in list(self.processes.items()):
                    gave_up = sum(1 for restarted, _ in self.restarts if restarted == name) >= START_RETRIES
                    if process.poll() is not None and self.programs[name].autorestart and not gave_up:
                        self.restarts.append((name, process.returncode))
                        self.start_process(name)
            time.sleep(0.2)

    def stop(self) -> None:
        """Kill everything (process groups), then drop the database. Never raises for a dead process."""
        self._supervising.clear()
        for name in list(self.processes):
            self.kill(name)
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

    def start_process(self, name: str) -> None:
        """Start one program as supervisord would, then wait (bounded) until it serves."""
        program = self.programs[name]
        with self._lock, (self.logs / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(
                program.command,
                cwd=program.directory,
                env={**self.env, **program.environment},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill -9 takes its children too
            )
        ready = {"redis": self._redis_ready, "simulator": self._simulator_ready, DAEMON: self._daemon_ready}.get(name)
        if ready is not None:
            wait_for(lambda: self._alive_or_raise(name) and ready(), timeout=60, what=name, interval=0.1)

    def _alive_or_raise(self, name: str) -> bool:
        process = self.processes[name]
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.log(name)[-3000:]}")
        return True

    def _redis_ready(self) -> bool:
        return _ping(redis.Redis(port=self.redis_port, socket_timeout=1, socket_connect_timeout=1))

    def _simulator_ready(self) -> bool:
        try:
            return bool(self.simulator.info())
        except SimulatorError:
            return False

    def _daemon_ready(self) -> bool:
        """Its RPC answers with the password it generated in the data directory (as Django reads it)."""
        program = self.programs[DAEMON]
        password_file = Path(program.environment["BTC_DATA_PATH"]) / "password"
        if not password_file.exists():
            return False
        auth = (program.environment["BTC_LOGIN"], password_file.read_text().strip())
        body = {"jsonrpc": "2.0", "id": 1, "method": "get_tip", "params": []}
        try:
            response = httpx.post(f"http://127.0.0.1:{self.daemon_port}/", json=body, auth=auth, timeout=2)
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and "result" in response.json()

    def pid(self, name: str) -> int:
        return self.processes[name].pid

    def kill(self, name: str) -> None:
        """kill -9 the process (its whole group) and reap it."""
        with self._lock:
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
        return {name: process.poll() is None for name, process in self.processes.items()}

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    @property
    def simulator(self) -> SimulatorClient:
        return SimulatorClient(f"http://127.0.0.1:{self.simulator_control_port}", timeout=5)

    # --- the web API ---

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def wait_web(self, timeout: float = 30) -> None:
        def answers() -> bool:
            try:
                # An anonymous caller is refused by the API: the whole Django stack answered.
                return httpx.get(f"{self.web_url}/api/invoices", timeout=2).status_code == 401
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
