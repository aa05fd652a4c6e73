"""Test helpers for the coin registry's settings (coins.registry reads settings.COINS)."""

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings as django_settings

from daemons.client import DaemonClient
from daemons.listener import Listener


def set_chain(settings, key: str = "btc", **changes) -> None:
    """Change one chain's settings (daemon_url, login, password, network, ...) through pytest-django's
    `settings` fixture: a new COINS dict, so the registry is rebuilt and the change is undone after the test."""
    coins = {name: dict(conf) for name, conf in django_settings.COINS.items()}
    coins.setdefault(key, {}).update(changes)
    settings.COINS = coins


USDT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"  # a contract address as a local node deploys it
USDC = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"


def enable_eth(
    settings,
    *,
    daemon_url: str = "http://127.0.0.1:9",
    login: str = "electrum",
    password: str = "x",
    chain_id: int = 1337,
    tokens: dict | None = None,
    network: str = "local",
) -> None:
    """BITCART_CRYPTOS=btc,eth with an Ethereum chain of a local node (its tokens: USDT and USDC, 6 decimals,
    at the given contracts)."""
    if tokens is None:
        tokens = {"USDT": {"contract": USDT, "decimals": 6}, "USDC": {"contract": USDC, "decimals": 6}}
    settings.BITCART_CRYPTOS = ["btc", "eth"]
    set_chain(
        settings,
        "eth",
        network=network,
        daemon_url=daemon_url,
        login=login,
        password=password,
        server="",
        chain_id=chain_id,
        tokens=json.dumps(tokens),
        explorer="",
        confirmations=2,
        tag_digits=4,
    )


@contextmanager
def listening(client: DaemonClient) -> Iterator[Listener]:
    """The real listener of the client's chain, in a thread with its own event loop, while the block runs."""
    instance = Listener(client)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(instance.run(stop=stop))

    thread = threading.Thread(target=run, name=f"listener-{client.chain}", daemon=True)
    thread.start()
    try:
        yield instance
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
        assert not thread.is_alive(), "listener did not stop"
