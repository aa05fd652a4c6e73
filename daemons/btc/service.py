"""The daemon's state machine: watched sets, SDK requests and the events derived from Electrum callbacks."""

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from urllib.parse import quote

from daemons.btc.chain import STATUS_STR, Chain, Wallet, Watch, format_satoshis
from daemons.btc.config import Settings
from daemons.btc.errors import RPCError
from daemons.btc.store import Request, Store
from daemons.protocol.events import Hub

logger = logging.getLogger("daemons.btc.service")

# An address whose view is incomplete when it changes is looked at again on this schedule (doubling, capped)
# until its view is complete, whatever Electrum does meanwhile: see Service._recheck_loop.
RECHECK_FIRST = 0.005
RECHECK_MAX = 1.0
EXPIRY_SLACK = 0.005  # wake this long after a request's deadline, so that it has passed


def bip21_uri(address: str, amount_sat: int | None, message: str, extra: dict[str, str]) -> str:
    """Electrum's create_bip21_uri without its is_address() re-check (the address is ours, just derived)."""
    query = []
    if amount_sat:
        query.append("amount=" + format_satoshis(amount_sat).rstrip("0").rstrip("."))
    if message:
        query.append("message=" + quote(message))
    query += [f"{key}={quote(value)}" for key, value in extra.items()]
    return f"bitcoin:{address}" + ("?" + "&".join(query) if query else "")


class Service:
    def __init__(self, settings: Settings, on_fatal: Callable[[BaseException], None]):
        self.settings = settings
        self.on_fatal = on_fatal
        self.store = Store(settings.db_path)
        self.hub = Hub("BTC", settings.polling_cap)
        self.chain = Chain(settings, on_change=self._on_change, on_block=self._on_block)
        self._changes: asyncio.Queue = asyncio.Queue()
        self._recheck_wakeup = asyncio.Event()
        self._expiry_wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self.started_at = time.time()

    async def start(self) -> None:
        await self.chain.start()
        # Wallets with watched addresses load eagerly, so events flow after a restart without any call.
        for xpub, rows in self.store.watched_by_xpub().items():
            try:
                self.wallet(xpub, initial=[(a, Watch(i, u, s)) for a, i, u, s in rows])
            except RPCError as exc:  # a row written under another BTC_NETWORK must not stop startup
                logger.error("skipping stored wallet %s…: %s", xpub[:16], exc)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._change_worker()),
            loop.create_task(self._recheck_loop()),
            loop.create_task(self._expiry_loop()),
            loop.create_task(self._sweeper()),
        ]
        for task in self._tasks:
            task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        # These loops only end by cancellation; anything else is a bug that would silently stop event
        # delivery, so the daemon shuts down (the supervisor restarts it and state is re-derived).
        if not task.cancelled() and task.exception() is not None:
            self.on_fatal(task.exception())

    def connect(self) -> None:
        self.chain.connect()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.hub.close()
        await self.chain.stop()
        self.store.close()

    def wallet(self, xpub: str, initial=()) -> Wallet:
        wallet = self.chain.wallet(xpub, initial)
        self.hub.track_wallet(xpub)
        return wallet

    # change processing

    def _on_change(self, wallet: Wallet, addresses: set[str]) -> None:
        self._changes.put_nowait((wallet, addresses))

    def _on_block(self, height: int) -> None:
        self.hub.publish(None, {"event": "new_block", "height": height})

    async def _change_worker(self) -> None:
        while True:
            wallet, addresses = await self._changes.get()
            # Coalesce a burst (a block touching many invoices) into one pass per address.
            pending = {wallet.xpub: (wallet, set(addresses))}
            while not self._changes.empty():
                more_wallet, more = self._changes.get_nowait()
                pending.setdefault(more_wallet.xpub, (more_wallet, set()))[1].update(more)
            for wallet, addrs in pending.values():
                for address in addrs:
                    try:
                        self.refresh_address(wallet, address)
                    except sqlite3.Error:  # e.g. disk full: the next change or get_request retries it
                        logger.exception("failed to store a change of %s", address)

    def refresh_address(self, wallet: Wallet, address: str) -> None:
        watch = wallet.watched.get(address)
        if watch is None:
            return
        complete = self.chain.address_complete(wallet, address)
        if not complete:
            self.defer(wallet, address)
        for txid, state in self.chain.tx_states(wallet, address, complete).items():
            self._announce(wallet, txid, state)
        if watch.source == "request" and complete:
            request = self.store.request_for_address(address)
            if request is not None:
                self.update_request(wallet, request)

    def defer(self, wallet: Wallet, address: str) -> None:
        """Look at `address` again once its view is complete. The re-check loop guarantees that this happens:
        Electrum's own "up to date" callback (Chain._cb_up_to_date) comes sooner sometimes, but not always."""
        wallet.deferred.add(address)
        self._recheck_wakeup.set()

    async def _recheck_loop(self) -> None:
        """Re-check deferred addresses until their view is complete: after RECHECK_FIRST, then doubling up to
        RECHECK_MAX while some stay incomplete (after a restart, a reconnect), fast again on a new deferral.

        Why not wait for Electrum's `adb_set_up_to_date`: its synchronizer fires it every 100 ms only on a
        change of "up to date" or if it processed a notification since the last tick, and it notes that when it
        *dequeues* a status, before the history request is registered. A tick in between reads "up to date",
        clears the note and fires while nothing is pending yet; the history and the transaction then come, the
        address is deferred, and no later tick fires again: the change was only seen at the next block.
        """
        delay = RECHECK_FIRST
        while True:
            if not any(wallet.deferred for wallet in self.chain.wallets.values()):
                self._recheck_wakeup.clear()
                await self._recheck_wakeup.wait()
                delay = RECHECK_FIRST
            elif self._recheck_wakeup.is_set():
                delay = RECHECK_FIRST
            self._recheck_wakeup.clear()
            await asyncio.sleep(delay)
            progressed = False
            for wallet in list(self.chain.wallets.values()):
                if not wallet.deferred:
                    continue
                deferred = wallet.deferred & wallet.watched.keys()
                waiting = set(self.chain.incomplete(wallet, deferred))
                wallet.deferred = waiting
                for address in deferred - waiting:
                    progressed = True
                    try:
                        self.refresh_address(wallet, address)
                    except sqlite3.Error:  # e.g. disk full: deferred again, retried on the next pass
                        logger.exception("failed to store a change of %s", address)
                        wallet.deferred.add(address)
            delay = RECHECK_FIRST if progressed else min(delay * 2, RECHECK_MAX)

    def _announce(self, wallet: Wallet, txid: str, state) -> None:
        previous = wallet.tx_state.get(txid)
        if state is not None:
            addrs = {a for a in wallet.adb.db.get_txo_addresses(txid) if a in wallet.watched}
            wallet.tx_addresses[txid] = addrs | wallet.tx_addresses.get(txid, set())
        addrs = sorted(wallet.tx_addresses.get(txid, set()))
        if state == previous:
            return
        xpub = wallet.xpub
        if state is None:
            wallet.tx_state.pop(txid, None)
            wallet.tx_addresses.pop(txid, None)
            if previous is not None:
                self.hub.publish(xpub, {"event": "removed_tx", "tx": txid, "addresses": addrs}, extended=True)
            return
        if previous is None:
            self.hub.publish(xpub, {"event": "new_transaction", "tx": txid, "addresses": addrs})
        if isinstance(state, tuple):
            self.hub.publish(xpub, {"event": "verified_tx", "tx": txid, "height": state[1], "addresses": addrs})
        elif isinstance(previous, tuple):
            self.hub.publish(xpub, {"event": "unverified_tx", "tx": txid, "addresses": addrs}, extended=True)
        wallet.tx_state[txid] = state

    # SDK requests

    def request_state(self, wallet: Wallet, request: Request) -> Request:
        """Electrum's rule: paid once outputs to the address reach the amount, counting the most-confirmed
        outputs first; 3 (paid) if those have >= 1 SPV-verified confirmation, 7 (unconfirmed) otherwise."""
        outputs = self.chain.watched_outputs(wallet, request.address)
        amount = request.amount_sat or 0
        conf_needed = None
        total = 0
        for output in sorted(outputs, key=lambda o: o["confirmations"], reverse=True):
            total += output["value_sat"]
            if total >= amount:
                conf_needed = output["confirmations"]
                break
        if conf_needed is None:
            status = 1 if request.expires_at and time.time() > request.expires_at else 0
        else:
            status = 7 if conf_needed == 0 else 3
        request.status = status
        request.tx_hashes = sorted({o["txid"] for o in outputs})
        request.sent_sat = sum(o["value_sat"] for o in outputs)
        request.confirmations = conf_needed
        return request

    def update_request(self, wallet: Wallet, request: Request) -> Request:
        before = (request.status, request.tx_hashes, request.sent_sat, request.confirmations)
        self.request_state(wallet, request)
        if (request.status, request.tx_hashes, request.sent_sat, request.confirmations) != before:
            self.store.update_request(request)
            if request.status != before[0]:
                self.publish_payment(request)
        return request

    def publish_payment(self, request: Request) -> None:
        """Bitcart's `new_payment`, field by field: `address` is the request key (Bitcart's daemon sends
        `str(request_id)` there and its worker matches it against the key `add_request` returned), then
        status, status_str, tx_hashes, sent_amount. Ours on top, under names neither Bitcart's worker nor the
        SDK read (both pass only the fields their handler declares): `request_id` (the same key),
        `payment_address` (the bitcoin address) and `addresses` (it, as a list, like our other address events).
        Never add a field named `contract`: Bitcart's worker handler declares it and would filter on it."""
        self.hub.publish(
            request.xpub,
            {
                "event": "new_payment",
                "address": request.request_id,
                "status": request.status,
                "status_str": STATUS_STR.get(request.status, "Unknown"),
                "tx_hashes": request.tx_hashes,
                "sent_amount": format_satoshis(request.sent_sat),
                "request_id": request.request_id,
                "payment_address": request.address,
                "addresses": [request.address],
            },
        )

    def export_request(self, request: Request) -> dict:
        expiration = request.expires_at or 0
        extra = {"time": str(request.created)}
        if request.expiry:
            extra["exp"] = str(request.expiry)
        data = {
            "is_lightning": False,
            "amount_BTC": format_satoshis(request.amount_sat or 0),
            "amount_sat": request.amount_sat or 0,
            "message": request.memo,
            "memo": request.memo,
            "timestamp": request.created,
            "time": request.created,
            "expiration": expiration,
            "expiry": request.expiry,
            "exp": request.expiry,
            "status": request.status,
            "status_str": STATUS_STR.get(request.status, "Unknown"),
            "request_id": request.request_id,
            "id": request.request_id,
            "address": request.address,
            "index": request.idx,
            "URI": bip21_uri(request.address, request.amount_sat, request.memo, extra),
            "tx_hashes": request.tx_hashes,
            "sent_amount": format_satoshis(request.sent_sat),
        }
        data["bip21"] = data["URI"]
        if request.confirmations is not None:
            data["confirmations"] = request.confirmations
        return data

    # housekeeping

    async def _sweeper(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sweep_interval)
            try:
                self.sweep()
            except sqlite3.Error:  # housekeeping retries on the next tick
                logger.exception("expiry sweep failed")

    def sweep(self, now: float | None = None) -> None:
        """Drop watched addresses whose `until` passed (their timing is not visible to anyone)."""
        now = time.time() if now is None else now
        expired: dict[str, list[str]] = {}
        for xpub, address in self.store.expire_watched(now):
            expired.setdefault(xpub, []).append(address)
        for xpub, addresses in expired.items():
            wallet = self.chain.wallets.get(xpub)
            if wallet is not None:
                self.chain.remove_watched(wallet, addresses)

    def request_created(self, expires_at: int | None) -> None:
        if expires_at is not None:
            self._expiry_wakeup.set()  # it may be the earliest deadline now

    async def _expiry_loop(self) -> None:
        """Announce each unpaid request's expiry at its deadline: one timer, always set to the earliest open
        deadline (an indexed MIN), re-armed when a request is created. At most `sweep_interval` between
        looks, so a clock jump or a missed wake-up is bounded too."""
        while True:
            delay = self.settings.sweep_interval
            try:
                self.expire_requests()
                deadline = self.store.next_request_expiry()
            except sqlite3.Error:
                logger.exception("request expiry failed")
            else:
                if deadline is not None:
                    delay = min(max(deadline - time.time(), 0) + EXPIRY_SLACK, delay)
            self._expiry_wakeup.clear()
            try:
                await asyncio.wait_for(self._expiry_wakeup.wait(), delay)
            except TimeoutError:
                pass

    def expire_requests(self, now: float | None = None) -> None:
        for request in self.store.expire_requests(time.time() if now is None else now):
            self.publish_payment(request)
