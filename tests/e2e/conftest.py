"""Real processes: the regtest chain simulator, the Electrum daemon, and the listener."""

import asyncio
import threading
from pathlib import Path

import pytest

from daemons.btc.testing import start_daemon
from daemons.client import DaemonClient
from daemons.listener import Listener
from daemons.simulator.client import SimulatorClient
from daemons.simulator.testing import start_simulator


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
    settings.BTC_DAEMON_URL = daemon.url
    settings.BTC_LOGIN = daemon.login
    settings.BTC_PASSWORD = daemon.password
    return DaemonClient(daemon.url, login=daemon.login, password=daemon.password)


@pytest.fixture
def listener(daemon_client):
    """The real listener, in a thread with its own event loop, for the duration of a test."""
    instance = Listener(daemon_client)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(instance.run(stop=stop))

    thread = threading.Thread(target=run, name="listener", daemon=True)
    thread.start()
    yield instance
    loop.call_soon_threadsafe(stop.set)
    thread.join(timeout=30)
    assert not thread.is_alive(), "listener did not stop"
