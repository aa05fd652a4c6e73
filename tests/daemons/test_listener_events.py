"""How the listener reads the daemon's event messages (the shapes the daemon README documents)."""

import asyncio
from types import SimpleNamespace

from daemons.listener import Listener
from tests.chains import enable_eth

XPUB = "vpub-test"
ADDRESS = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"


def handled(message: dict, chain: str = "btc") -> list[tuple[str, list[str]]]:
    # handle() makes no daemon call itself: a client that only names its chain will do.
    listener = Listener(client=SimpleNamespace(chain=chain))  # type: ignore[arg-type]
    seen: list[tuple[str, list[str]]] = []

    def on_addresses(xpub: str, addresses: list[str]) -> int:
        seen.append((xpub, addresses))
        return 0

    def on_block() -> int:
        seen.append(("block", []))
        return 0

    listener.on_addresses = on_addresses  # type: ignore[method-assign]
    listener.on_block = on_block  # type: ignore[method-assign]
    asyncio.run(listener.handle(message))
    return seen


def test_new_payment_is_routed_by_its_bitcoin_addresses_not_its_request_key():
    update = {
        "event": "new_payment",
        "address": "8-5f4f40ae",  # Bitcart's meaning: the SDK request's key
        "status": 7,
        "status_str": "Unconfirmed",
        "tx_hashes": ["ab" * 32],
        "sent_amount": "0.00100000",
        "request_id": "8-5f4f40ae",
        "payment_address": ADDRESS,
        "addresses": [ADDRESS],
    }
    assert handled({"updates": [update], "currency": "BTC", "wallet": XPUB}) == [(XPUB, [ADDRESS])]


def test_a_bitcart_shaped_new_payment_is_never_read_as_an_address():
    # Bitcart's own daemon sends only these fields; its `address` is a request key, nothing to look up.
    update = {"event": "new_payment", "address": "8-5f4f40ae", "status": 7, "status_str": "Unconfirmed"}
    assert handled({"updates": [update], "currency": "BTC", "wallet": XPUB}) == []


def test_address_events_and_blocks():
    updates = [
        {"event": "new_transaction", "tx": "ab" * 32, "addresses": [ADDRESS]},
        {"event": "verified_tx", "tx": "ab" * 32, "height": 5, "addresses": "not a list"},
        {"event": "new_block", "height": 5},
    ]
    assert handled({"updates": updates, "currency": "BTC", "wallet": XPUB}) == [(XPUB, [ADDRESS]), ("block", [])]


def test_ethereum_events_are_routed_by_their_request_id(settings):
    enable_eth(settings)
    wallet = "0x52908400098527886E0F7030069857D2E4169EE7"
    updates = [
        # daemons/eth's events (its README): `address` of new_payment is the request id, as in Bitcart.
        {"event": "new_payment", "address": "r-1", "request_id": "r-1", "payment_address": wallet, "status": 3},
        {"event": "new_transaction", "tx": "0x" + "ab" * 32, "address": wallet, "request_id": "r-2"},
        {"event": "new_transaction", "tx": "0x" + "cd" * 32, "address": wallet, "request_id": None},  # unmatched
        {"event": "new_block", "height": 9},
    ]
    assert handled({"updates": updates, "currency": "ETH", "wallet": wallet}, chain="eth") == [
        (wallet, ["r-1", "r-2"]),
        ("block", []),
    ]
