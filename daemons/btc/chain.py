"""Electrum 4.3.4 glue: one Network, and per xpub an in-memory AddressSynchronizer over the watched set.

Why an AddressSynchronizer and not an Electrum wallet: it is the part of a wallet that subscribes
addresses, fetches histories and transactions, SPV-verifies them against the header chain and undoes
verifications on reorgs; that is everything a payment processor needs from Electrum. Its database lives
in memory and holds only the watched addresses (SQLite in store.py is the durable record), so nothing is
ever rewritten on disk per invoice and the work per address does not depend on the wallet's history. On
restart the watched set is re-subscribed: O(watched), not O(history).
"""

import asyncio
import functools
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import aiorpcx
from electrum import bitcoin, constants, segwit_addr, util, verifier
from electrum import synchronizer as electrum_synchronizer
from electrum.address_synchronizer import AddressSynchronizer
from electrum.bip32 import BIP32Node
from electrum.interface import NetworkException
from electrum.network import Network
from electrum.simple_config import SimpleConfig
from electrum.transaction import Transaction
from electrum.util import BitcoinException
from electrum.wallet_db import WalletDB

from daemons.btc.config import Settings
from daemons.btc.errors import LOADING_WALLET, RPCError
from daemons.btc.keys import ReceiveChain, address_to_scripthash
from daemons.protocol.errors import INVALID_ADDRESS, NETWORK_ERROR, NOT_SYNCED, TX_NOT_FOUND

logger = logging.getLogger("daemons.btc.chain")

SERVER_TIMEOUT = 30  # seconds for one request to the Electrum server
SERVER_CONCURRENCY = 50  # our own requests in flight per get_address_outputs call (aiorpcx's window starts at 50)
STATUS_STR = {0: "Unpaid", 1: "Expired", 2: "Unknown", 3: "Paid", 7: "Unconfirmed"}
SINGLE_SIG_XTYPES = ("standard", "p2wpkh-p2sh", "p2wpkh")
_REBUILD_MIN_STALE = 1000  # addresses no longer watched that an AddressSynchronizer may carry before a rebuild
_TX_CACHE_SIZE = 2000
# Subscribing thousands of addresses at once (a restart, a big watch_addresses batch) queues thousands of
# Electrum tasks ahead of every HTTP request on the one event loop; feeding them in slices keeps the daemon
# answering (measured: get_tip stalled ~8 s behind a 10k re-subscription before this).
FEED_BATCH = 500
SUBSCRIBE_BATCH = 100  # subscriptions per JSON-RPC batch message
_SUBSCRIBE = "blockchain.scripthash.subscribe"
FEED_WAIT = 0.01


def select_network(name: str) -> None:
    {"mainnet": constants.set_mainnet, "testnet": constants.set_testnet, "regtest": constants.set_regtest}[name]()


def parse_xpub(xpub) -> BIP32Node:
    """A single-sig account xpub of the active network, else LoadingWalletError with the reason."""
    if not isinstance(xpub, str) or not 0 < len(xpub) <= 200:
        raise RPCError(LOADING_WALLET, "xpub must be a non-empty string")
    try:
        node = BIP32Node.from_xkey(xpub.strip())
    except (BitcoinException, ValueError, TypeError) as exc:
        raise RPCError(LOADING_WALLET, f"Error loading wallet: not an extended public key of this network ({exc})")
    if node.is_private():
        raise RPCError(LOADING_WALLET, "Error loading wallet: watch-only daemon, give the extended PUBLIC key")
    if node.xtype not in SINGLE_SIG_XTYPES:
        raise RPCError(LOADING_WALLET, f"Error loading wallet: unsupported key type {node.xtype}")
    return node


def check_address(address) -> str:
    if not isinstance(address, str) or not bitcoin.is_address(address):
        raise RPCError(INVALID_ADDRESS, f"Invalid bitcoin address: {str(address)[:100]!r}")
    return address


def format_satoshis(value: int | None) -> str:
    if value is None:
        return "None"
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(int(value)), 100_000_000)
    return f"{sign}{whole}.{frac:08d}"


@dataclass
class Watch:
    index: int | None
    until: float | None
    source: str  # 'watch' | 'request'


class _Adb(AddressSynchronizer):
    """Reports every server history change, which Electrum itself does not announce.

    A transaction that leaves an address' history (dropped from the mempool, replaced, reorged out) only
    becomes "local" inside Electrum with no callback; the payment processor has to hear about it.
    """

    on_history: Callable[["_Adb", str, set[str]], None] | None = None

    def receive_history_callback(self, addr, hist, tx_fees):
        old = {txid for txid, _height in self.db.get_addr_history(addr)}
        super().receive_history_callback(addr, hist, tx_fees)
        if self.on_history is not None:
            self.on_history(self, addr, old | {txid for txid, _height in hist})


@dataclass
class Wallet:
    xpub: str
    node: BIP32Node
    chain: ReceiveChain
    adb: _Adb
    watched: dict[str, Watch] = field(default_factory=dict)
    stale: set[str] = field(default_factory=set)  # in the adb but no longer watched
    pending: list[str] = field(default_factory=list)  # watched, waiting to be fed to the synchronizer
    scripthashes: dict[str, str] = field(default_factory=dict)  # of watched addresses, once computed
    deferred: set[str] = field(default_factory=set)  # changed while incomplete: re-checked (Service.defer)
    # What was announced per txid ("seen" or ("verified", height)) and which watched addresses it paid, so
    # that each state change is pushed once, also across adb rebuilds.
    tx_state: dict[str, object] = field(default_factory=dict)
    tx_addresses: dict[str, set[str]] = field(default_factory=dict)

    def derive(self, index: int) -> str:
        return self.chain.address(index)

    def is_synced(self) -> bool:
        return not self.pending and self.adb.is_up_to_date()


class Chain:
    def __init__(self, settings: Settings, on_change: Callable[[Wallet, set[str]], None], on_block: Callable):
        self.settings = settings
        self.on_change = on_change  # (wallet, addresses whose state may have changed)
        self.on_block = on_block  # (height)
        self.config: SimpleConfig | None = None
        self.network: Network | None = None
        self.wallets: dict[str, Wallet] = {}
        self._by_adb: dict[int, Wallet] = {}
        self._tx_cache: OrderedDict[str, str] = OrderedDict()
        self._tx_inflight: dict[str, asyncio.Future] = {}
        self._last_block: tuple[int, str | None] = (-1, None)
        self._callbacks: list[tuple[Callable, str]] = []
        self._background: set[asyncio.Task] = set()
        self._connected = False
        self._batch_subscriptions = True

    # lifecycle

    async def start(self) -> None:
        settings = self.settings
        settings.electrum_path.mkdir(parents=True, exist_ok=True)
        options = {
            "electrum_path": str(settings.electrum_path),
            "oneserver": settings.oneserver,
            "auto_connect": not settings.oneserver,
            "forget_config": True,
            "use_exchange_rate": False,
            "verbosity": "*" if settings.debug else "",
        }
        if settings.server:
            options["server"] = settings.server
        if settings.network != "mainnet":
            options[settings.network] = True
        self.config = SimpleConfig(options, read_user_config_function=lambda _path: {})
        # Electrum schedules everything on its "global" loop; make that the aiohttp loop so the whole
        # daemon is one thread and Electrum callbacks run synchronously next to our handlers.
        util._asyncio_event_loop = asyncio.get_running_loop()
        # The synchronizer hashes every address it subscribes (100k after a restart); keys.py's function gives
        # Electrum's result ~5x cheaper. Checked here against Electrum's like the fast derivation is.
        probes = [segwit_addr.encode_segwit_address(constants.net.SEGWIT_HRP, 0, bytes(range(n))) for n in (20, 32)]
        if all(address_to_scripthash(a) == bitcoin.address_to_scripthash(a) for a in probes):
            electrum_synchronizer.address_to_scripthash = address_to_scripthash
        else:
            logger.warning("fast scripthash disagrees with Electrum's; using Electrum's")
        self.network = Network(self.config)
        for event, func in (
            ("adb_added_tx", self._cb_tx),
            ("adb_added_verified_tx", self._cb_tx),
            ("adb_removed_verified_tx", self._cb_tx),
            ("adb_set_up_to_date", self._cb_up_to_date),
            ("blockchain_updated", self._cb_block),
        ):
            util.register_callback(func, [event])
            self._callbacks.append((func, event))

    def connect(self) -> None:
        """Start talking to servers. Separate from start() so the daemon can answer HTTP first: re-subscribing
        a large watched set after a restart keeps the loop busy for a while."""
        self.network.start()
        self._connected = True

    async def stop(self, timeout: float = 10) -> None:
        for func, _event in self._callbacks:
            util.unregister_callback(func)
        self._callbacks.clear()
        adbs = [w.adb for w in self.wallets.values()]
        try:
            await asyncio.wait_for(asyncio.gather(*(adb.stop() for adb in adbs), return_exceptions=True), timeout)
        except TimeoutError:
            logger.warning("address synchronizers did not stop within %ss", timeout)
        if self.network is not None and self._connected:
            try:
                await asyncio.wait_for(self.network.stop(full_shutdown=True), timeout)
            except TimeoutError:
                logger.warning("Electrum network did not stop within %ss", timeout)

    # wallets

    def wallet(self, xpub: str, initial: Iterable[tuple[str, Watch]] = ()) -> Wallet:
        wallet = self.wallets.get(xpub)
        if wallet is None:
            node = parse_xpub(xpub)
            adb = self._new_adb(xpub, start=False)
            wallet = Wallet(xpub=xpub, node=node, chain=ReceiveChain(node), adb=adb)
            if self.network is not None:
                adb.start_network(self.network)
            self.wallets[xpub] = wallet
            self._by_adb[id(adb)] = wallet
            self.add_watched(wallet, initial)
        return wallet

    def _new_adb(self, xpub: str, *, start: bool = True) -> _Adb:
        adb = _Adb(WalletDB("", manual_upgrades=False), self.config, name=xpub[4:16])
        adb.on_history = self._cb_history
        if start and self.network is not None:
            adb.start_network(self.network)
        return adb

    def add_watched(self, wallet: Wallet, entries: Iterable[tuple[str, Watch]]) -> None:
        fresh = []
        for address, watch in entries:
            current = wallet.watched.get(address)
            if current is not None and current.source == "request":
                watch.source = "request"  # Django re-registering an SDK request's address keeps its status tracking
            wallet.watched[address] = watch
            wallet.stale.discard(address)
            # Watched but not in the adb yet means queued in `pending` already (Django re-registering everything
            # right after a restart would otherwise queue every address twice).
            if current is None and not wallet.adb.is_mine(address):
                fresh.append(address)
        if wallet.pending or len(fresh) > FEED_BATCH:
            feeding = bool(wallet.pending)
            wallet.pending.extend(fresh)
            if not feeding:
                self._spawn(self._feed(wallet))
        else:
            self._subscribe(wallet.adb, fresh)

    async def _feed(self, wallet: Wallet) -> None:
        while wallet.pending:
            synchronizer = wallet.adb.synchronizer
            if synchronizer is None or synchronizer.interface is None:
                await asyncio.sleep(0.2)  # not connected: nothing to pace against yet
                continue
            batch = wallet.pending[:FEED_BATCH]
            del wallet.pending[:FEED_BATCH]
            batch = [a for a in batch if a in wallet.watched and not wallet.adb.is_mine(a)]
            if not batch:  # all unwatched meanwhile, or subscribed ahead of the queue (Chain.prioritize)
                await asyncio.sleep(0)
                continue
            self._subscribe(wallet.adb, batch)
            for _ in range(500):  # wait for most of the slice to be answered, at most ~5 s
                # sleep first: the synchronizer's own task sends the slice
                await asyncio.sleep(FEED_WAIT)
                current = wallet.adb.synchronizer
                if current is None or len(current.requested_addrs) + len(current.requested_histories) < FEED_BATCH // 2:
                    break

    def _subscribe(self, adb: _Adb, addresses: list[str]) -> None:
        """AddressSynchronizer.add_address for many addresses at once.

        add_address schedules one thread-safe future per address (~0.1 ms each, 1.3 s for a 10k batch), and its
        coroutine `_add_address` re-validates the address (a pure-Python bech32 decode, ~30 µs: 3 s of a 100k
        restart). We are on the loop thread and the addresses were validated on the way in (check_address: an
        invalid one would kill the synchronizer's task group), so this does what `_add_address` does, in place:
        each address is marked requested before this returns, so no window where it looks complete. Then the
        subscriptions go out as JSON-RPC batches (_subscribe_batch), or one by one through Electrum's queue.
        """
        if not addresses:
            return
        for address in addresses:
            adb.db.history.setdefault(address, [])
        adb.set_up_to_date(False)
        synchronizer = adb.synchronizer
        if synchronizer is None:
            return  # not started yet: Synchronizer.main bootstraps every address in the db
        requested = synchronizer.requested_addrs
        fresh = [address for address in addresses if address not in requested]
        requested.update(fresh)
        interface = synchronizer.interface
        session = interface.session if interface is not None else None
        if self._batch_subscriptions and session is not None:
            wallet = self._by_adb.get(id(adb))
            hashes = wallet.scripthashes if wallet is not None else {}
            for start in range(0, len(fresh), SUBSCRIBE_BATCH):
                chunk = fresh[start : start + SUBSCRIBE_BATCH]
                self._spawn(self._subscribe_batch(synchronizer, session, synchronizer.status_queue, chunk, hashes))
        else:
            for address in fresh:
                synchronizer.add_queue.put_nowait(address)

    async def _subscribe_batch(
        self, synchronizer, session, status_queue: asyncio.Queue, addresses: list[str], known: dict[str, str]
    ) -> None:
        """Subscribe `addresses` in one JSON-RPC batch, then hand each status to the synchronizer exactly as its
        own per-address `subscribe_to_address` does (same session subscription table, cache, status queue).

        Why: per address, Electrum's path spawns a task, takes two semaphores, arms two timeouts and writes one
        message; py-spy put that at ~40% of the daemon's CPU while it re-subscribed 100k addresses after a
        restart, the daemon being the bottleneck of finding payments made while it was down. A status that
        matches the local history (the usual case: unpaid and empty) is not queued: Electrum would compare and
        drop it. Any failure hands the addresses to Electrum's own path (batches are JSON-RPC 2.0, which
        ElectrumX, Fulcrum and electrs answer; a server that refuses them turns batching off).

        `status_queue` marks the synchronizer's generation these addresses were marked requested in: Electrum
        replaces its queue and "requested" set on every (re)start and then re-subscribes every address itself,
        so a batch from an older generation must not touch the new one (Electrum's own path would later fail to
        remove an address this one already removed).
        """
        if synchronizer.status_queue is not status_queue:
            return
        hashes = []
        for address in addresses:  # kept per watched address: Chain.incomplete needs them again
            scripthash = known.get(address)
            if scripthash is None:
                scripthash = known[address] = address_to_scripthash(address)
            hashes.append(scripthash)
        keys = [_SUBSCRIBE + repr([scripthash]) for scripthash in hashes]  # NotificationSession's keys
        for address, scripthash, key in zip(addresses, hashes, keys, strict=True):
            # Before sending: a notification for it may be read before this task resumes, and the session
            # drops the connection on one it has no subscription for.
            synchronizer.scripthash_to_address[scripthash] = address
            if status_queue not in session.subscriptions[key]:
                session.subscriptions[key].append(status_queue)
        try:
            async with session.send_batch(raise_errors=False) as batch:
                for scripthash in hashes:
                    batch.add_request(_SUBSCRIBE, [scripthash])
            results = batch.results
        except (aiorpcx.ProtocolError, aiorpcx.RPCError, aiorpcx.TaskTimeout) as exc:
            # TaskTimeout is a CancelledError subclass, but not this task being cancelled. Either way Electrum's
            # own path takes these addresses, and every later one: correct, only slower.
            if synchronizer.status_queue is not status_queue:
                return  # the session went away under it, not a server that cannot batch
            logger.warning("a batch of subscriptions failed (%r); subscribing one by one from now on", exc)
            self._batch_subscriptions = False
            results = [exc] * len(addresses)
        if synchronizer.status_queue is not status_queue:
            return  # restarted meanwhile (reconnect): the synchronizer re-subscribes every address itself
        if self._batch_subscriptions and all(isinstance(status, BaseException) for status in results):
            logger.warning("the server refused a batch of subscriptions (%r); subscribing one by one", results[0])
            self._batch_subscriptions = False
        adb = synchronizer.adb
        requested = synchronizer.requested_addrs
        for address, scripthash, key, status in zip(addresses, hashes, keys, results, strict=True):
            if isinstance(status, BaseException):
                synchronizer.add_queue.put_nowait(address)  # Electrum's path: its own retries and reconnects
                continue
            session.cache[key] = status
            if status != electrum_synchronizer.history_status(adb.db.get_addr_history(address)):
                status_queue.put_nowait([scripthash, status])
            requested.discard(address)

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)  # a reference, so the task is not garbage-collected mid-way
        task.add_done_callback(self._background.discard)

    def remove_watched(self, wallet: Wallet, addresses: Iterable[str]) -> None:
        for address in addresses:
            wallet.scripthashes.pop(address, None)
            if wallet.watched.pop(address, None) is not None:
                wallet.stale.add(address)
        # Electrum has no way to unsubscribe an address; so once enough stale ones pile up, swap in a fresh
        # AddressSynchronizer with only the watched set. Amortised O(1) per unwatched address.
        if len(wallet.stale) > max(_REBUILD_MIN_STALE, len(wallet.watched)):
            self._rebuild(wallet)

    def _rebuild(self, wallet: Wallet) -> None:
        old = wallet.adb
        keep = set()
        for address in wallet.watched:
            keep.update(txid for txid, _height in old.db.get_addr_history(address))
        wallet.tx_state = {txid: state for txid, state in wallet.tx_state.items() if txid in keep}
        wallet.tx_addresses = {txid: addrs & wallet.watched.keys() for txid, addrs in wallet.tx_addresses.items()}
        wallet.tx_addresses = {txid: addrs for txid, addrs in wallet.tx_addresses.items() if txid in keep}
        wallet.adb = self._new_adb(wallet.xpub)
        self._by_adb.pop(id(old), None)
        self._by_adb[id(wallet.adb)] = wallet
        wallet.stale.clear()
        watched, wallet.watched = wallet.watched, {}
        self.add_watched(wallet, watched.items())
        self._spawn(asyncio.wait_for(old.stop(), 30))
        logger.info("rebuilt address synchronizer for %s… with %d addresses", wallet.xpub[:16], len(wallet.watched))

    # Electrum callbacks (run on the loop thread)

    def _cb_tx(self, adb, txid: str) -> None:
        wallet = self._by_adb.get(id(adb))
        if wallet is None:
            return
        touched = {a for a in adb.db.get_txo_addresses(txid) if a in wallet.watched}
        touched |= wallet.tx_addresses.get(txid, set()) & wallet.watched.keys()
        if touched:
            self.on_change(wallet, touched)

    def _cb_history(self, adb, address: str, _txids: set[str]) -> None:
        wallet = self._by_adb.get(id(adb))
        if wallet is not None and address in wallet.watched:
            self.on_change(wallet, {address})

    def _cb_up_to_date(self, adb) -> None:
        # Electrum fires this after every processed batch of notifications; changes that arrived while their
        # address was still being fetched are looked at again now that the view is whole.
        wallet = self._by_adb.get(id(adb))
        if wallet is not None and wallet.deferred and adb.is_up_to_date():
            deferred, wallet.deferred = wallet.deferred, set()
            self.on_change(wallet, deferred & wallet.watched.keys())

    def _cb_block(self, *_args) -> None:
        if self.network is None:
            return
        height = self.network.get_local_height()
        tip = self.network.blockchain().get_hash(height) if height >= 0 else None
        if (height, tip) != self._last_block:
            self._last_block = (height, tip)
            self.on_block(height)

    # state

    def tip(self) -> dict:
        network = self.network
        connected = bool(network and network.is_connected())
        height = network.get_local_height() if network else 0
        server_height = network.get_server_height() if network else 0
        return {
            "height": height,
            "server_height": server_height,
            "connected": connected,
            "synchronized": connected and server_height > 0 and server_height - height <= 1,
        }

    def watched_outputs(self, wallet: Wallet, address: str) -> list[dict]:
        """Outputs paying `address` as the AddressSynchronizer knows them (server history, SPV status).

        Transactions Electrum kept only as "local" (dropped from the server's view) are left out.
        """
        adb = wallet.adb
        out = []
        for txid, _height in adb.db.get_addr_history(address):
            info = adb.get_tx_height(txid)
            verified = adb.db.is_in_verified_tx(txid)
            for vout, (value, _coinbase) in sorted(adb.db.get_txo_addr(txid, address).items()):
                out.append(
                    {
                        "txid": txid,
                        "vout": vout,
                        "value_sat": value,
                        "height": max(info.height, 0),
                        "confirmations": info.conf if verified else 0,
                    }
                )
        return out

    def address_complete(self, wallet: Wallet, address: str) -> bool:
        """Whether the synchronizer's view of `address` is whole: subscribed, answered, history and every
        transaction in it fetched. Until then (after a restart, a rebuild, a reconnect) an absent payment may
        just be not loaded yet, so nothing may be concluded from absence."""
        return not self.incomplete(wallet, [address])

    def incomplete(self, wallet: Wallet, addresses: Iterable[str]) -> list[str]:
        """The addresses among `addresses` whose view is not complete (see address_complete), in one pass.

        Complete means: the current server session answered the subscription, the history stored locally is
        the one of the latest status the server announced (Electrum keeps it in the session's cache; between
        the answer and the history request there are task switches in which the address is in none of the
        synchronizer's "requested" sets), and every transaction in it is fetched.

        An open history request alone does not make it incomplete: Electrum stores the history, fetches the
        transactions and only then closes the request. If the stored history already has the latest announced
        status and its transactions are here, the view is whole (a newer announcement changes the cached
        status first, so it cannot match). Waiting for the request to close instead cost a 100 ms synchronizer
        tick on about half of the payments.
        """
        adb = wallet.adb
        synchronizer = adb.synchronizer
        interface = synchronizer.interface if synchronizer is not None else None
        session = interface.session if interface is not None else None
        if session is None:
            return list(addresses)  # not connected, or a new session that has not answered anything yet
        statuses = session.cache
        requested = synchronizer.requested_addrs
        stale = synchronizer._stale_histories  # history announced but not matching yet: the stored one is old
        db = adb.db
        out = []
        for address in addresses:
            scripthash = wallet.scripthashes.get(address)
            if scripthash is None:
                scripthash = address_to_scripthash(address)
                if address in wallet.watched:
                    wallet.scripthashes[address] = scripthash
            key = _SUBSCRIBE + repr([scripthash])  # NotificationSession.get_hashable_key_for_rpc_call
            if not adb.is_mine(address) or address in requested or address in stale or key not in statuses:
                out.append(address)
                continue
            history = db.get_addr_history(address)
            if electrum_synchronizer.history_status(history) != statuses[key] or any(
                db.get_transaction(txid) is None for txid, _height in history
            ):
                out.append(address)
        return out

    def prioritize(self, wallet: Wallet, addresses: Iterable[str]) -> None:
        """Hand watched addresses still queued in the feed (after a restart) to the synchronizer now: someone is
        asking about them. The feed skips them later (they are then in the adb)."""
        if wallet.pending:
            adb = wallet.adb
            self._subscribe(adb, [a for a in addresses if a in wallet.watched and not adb.is_mine(a)])

    def tx_states(self, wallet: Wallet, address: str, complete: bool) -> dict[str, object]:
        """Current state per txid touching `address`: "seen", ("verified", height), or None when gone
        (only concluded when the address' view is `complete`)."""
        adb = wallet.adb
        states: dict[str, object] = {}
        history = adb.db.get_addr_history(address)
        for txid, _height in history:
            if not adb.db.get_txo_addr(txid, address):
                continue  # history known, transaction not fetched yet (or it only spends from here)
            info = adb.db.get_verified_tx(txid)
            states[txid] = ("verified", info.height) if info else "seen"
        if complete:
            for txid, addrs in wallet.tx_addresses.items():
                if address in addrs and txid not in states:
                    states[txid] = None
        return states

    async def server_outputs_many(self, addresses: list[str], deadline: float) -> dict[str, list[dict]]:
        """server_outputs for many addresses, at most SERVER_CONCURRENCY requests in flight (Electrum's session
        pipelines them; one at a time, 1000 addresses took longer than Django's 10 s client timeout while a
        restart's re-subscription shared the session). Addresses not answered by `deadline` (loop time) are
        left out; a server error fails the call as a whole, as before."""
        if not addresses:
            return {}
        self.require_network()
        loop = asyncio.get_running_loop()
        semaphore = asyncio.Semaphore(SERVER_CONCURRENCY)

        async def one(address: str) -> tuple[str, list[dict]]:
            async with semaphore:
                return address, await self.server_outputs(address)

        tasks = [loop.create_task(one(address)) for address in addresses]
        done, late = await asyncio.wait(
            tasks, timeout=max(deadline - loop.time(), 0), return_when=asyncio.FIRST_EXCEPTION
        )
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=5)  # let them unwind (each is a cancelled wait on the server)
        result = {}
        for task in done:
            address, outputs = task.result()  # the first RPCError, if any
            result[address] = outputs
        return result

    async def server_outputs(self, address: str) -> list[dict]:
        """Outputs paying `address` fetched from the server, confirmations counted only for SPV-verified ones."""
        network = self.require_network()
        scripthash = address_to_scripthash(address)
        history = await self.ask(network.get_history_for_scripthash(scripthash))
        local_height = network.get_local_height()
        out = []
        for item in history[:1000]:  # an invoice address has a handful; refuse to walk a hot wallet's history
            txid, height = item["tx_hash"], int(item["height"])
            tx = await self.fetch_tx(txid)
            confirmations = 0
            if height > 0 and await self._verify(txid, height):
                confirmations = max(local_height - height + 1, 0)
            for vout, output in enumerate(tx.outputs()):
                if output.address == address:
                    out.append(
                        {
                            "txid": txid,
                            "vout": vout,
                            "value_sat": output.value,
                            "height": max(height, 0),
                            "confirmations": confirmations,
                        }
                    )
        return out

    async def fetch_tx(self, txid: str) -> Transaction:
        raw = self._tx_cache.get(txid)
        if raw is None:
            # Concurrent lookups of one txid (several addresses paid by one tx) share one request.
            inflight = self._tx_inflight.get(txid)
            if inflight is None:
                inflight = asyncio.ensure_future(self.ask(self.require_network().get_transaction(txid)))
                self._tx_inflight[txid] = inflight
                inflight.add_done_callback(functools.partial(self._tx_fetched, txid))
            raw = await asyncio.shield(inflight)  # one waiter cancelled (deadline) must not cancel the others'
            self._tx_cache[txid] = raw
            if len(self._tx_cache) > _TX_CACHE_SIZE:
                self._tx_cache.popitem(last=False)
        else:
            self._tx_cache.move_to_end(txid)
        tx = Transaction(raw)
        if tx.txid() != txid:
            self._tx_cache.pop(txid, None)
            raise RPCError(NETWORK_ERROR, "server returned a transaction that does not match its txid")
        return tx

    def _tx_fetched(self, txid: str, future: asyncio.Future) -> None:
        if self._tx_inflight.get(txid) is future:
            del self._tx_inflight[txid]
        if not future.cancelled():
            future.exception()  # retrieved here too: every waiter may have been cancelled by then

    async def _verify(self, txid: str, height: int) -> bool:
        network = self.require_network()
        header = network.blockchain().read_header(height)
        if header is None:
            return False  # headers not synced that far yet: not verified *yet*
        merkle = await self.ask(network.get_merkle_for_transaction(txid, height))
        try:
            verifier.verify_tx_is_in_block(txid, merkle.get("merkle"), merkle.get("pos"), header, height)
        except (verifier.MerkleVerificationFailure, verifier.MissingBlockHeader, TypeError, ValueError) as exc:
            logger.warning("SPV proof for %s at %d rejected: %s", txid, height, exc)
            return False
        return True

    def require_network(self) -> Network:
        if self.network is None or not self.network.is_connected():
            raise RPCError(NOT_SYNCED)
        return self.network

    async def ask(self, coro):
        try:
            return await asyncio.wait_for(coro, SERVER_TIMEOUT)
        except TimeoutError:
            raise RPCError(NETWORK_ERROR, "Electrum server did not answer in time")
        except NetworkException as exc:
            original = getattr(exc, "original_exception", exc)
            message = str(getattr(original, "message", original))
            if "no such" in message.lower() or "not found" in message.lower():
                raise RPCError(TX_NOT_FOUND, message[:300])
            raise RPCError(NETWORK_ERROR, f"Electrum server error: {message[:300]}")

    async def broadcast(self, tx: Transaction) -> None:
        network = self.require_network()
        try:
            await asyncio.wait_for(network.broadcast_transaction(tx), SERVER_TIMEOUT)
        except TimeoutError:
            raise RPCError(NETWORK_ERROR, "Electrum server did not answer in time")
        except NetworkException as exc:
            raise RPCError(NETWORK_ERROR, f"broadcast failed: {str(exc)[:300]}")


def now() -> float:
    return time.time()
