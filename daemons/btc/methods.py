"""JSON-RPC methods: the ones the `bitcart` SDK calls (Bitcart's names and shapes) and the ones Django uses.

A method gets `wallet` (a loaded chain.Wallet) only when it is declared with requires_wallet; its other
parameters come from the call's params. Validation errors raise RPCError(INVALID_PARAMS, ...).
"""

import asyncio
import time
from collections.abc import Container
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

from electrum import bitcoin, keystore, mnemonic
from electrum.transaction import SerializationError, Transaction, tx_from_any
from electrum.version import ELECTRUM_VERSION

from daemons.btc.chain import Wallet, Watch, check_address, format_satoshis
from daemons.btc.errors import LIGHTNING_UNSUPPORTED, RPCError
from daemons.btc.service import Service
from daemons.btc.store import WatchEntry
from daemons.protocol.errors import (
    AMOUNT_TOO_PRECISE,
    INVALID_PARAMS,
    INVALID_TX_HASH,
    NO_CONFIG_KEY,
    NOT_SYNCED,
    REQUEST_NOT_FOUND,
    WALLET_NOT_LOADED,
)
from daemons.protocol.methods import BaseMethods, Registry

MAX_BATCH = 10_000  # addresses per watch/unwatch call
MAX_OUTPUT_QUERY = 1_000  # addresses per get_address_outputs call
# get_address_outputs answers within this many seconds (Django's client waits 10 s): what is not known by
# then is reported `pending`. The synchronizer gets SYNC_WAIT_SHARE of it before the server is asked.
OUTPUT_BUDGET = 6.0
MAX_OUTPUT_BUDGET = 60
SYNC_WAIT_SHARE = 0.6
SYNC_POLL = 0.02
MAX_SUPPLY_SAT = 21_000_000 * 100_000_000
MAX_EXPIRY = 10 * 365 * 24 * 3600
MAX_TX_BYTES = 400_000  # a standard transaction's weight limit, in bytes

registry = Registry(aliases={"getrequest": "get_request"}, error=RPCError)
registry.watch_only("payto", "paytomany", "addtransaction", "signtransaction")
rpc = registry.rpc


# parameter parsing


def parse_amount(value) -> int:
    """BTC amount (str/int/float/Decimal; None = any amount) to satoshis, refusing sub-satoshi precision."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise RPCError(INVALID_PARAMS, "amount must be a number or a decimal string")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise RPCError(INVALID_PARAMS, f"amount is not a number: {str(value)[:50]!r}")
    if not amount.is_finite() or amount < 0:
        raise RPCError(INVALID_PARAMS, "amount must be a finite, non-negative number")
    sat = amount * 100_000_000
    if sat != sat.to_integral_value():
        raise RPCError(AMOUNT_TOO_PRECISE)
    if sat > MAX_SUPPLY_SAT:
        raise RPCError(INVALID_PARAMS, "amount is larger than the bitcoin supply")
    return int(sat)


def parse_int(value, name: str, *, minimum: int, maximum: int, default: int | None = None) -> int:
    if value is None and default is not None:
        return default
    if isinstance(value, bool):
        raise RPCError(INVALID_PARAMS, f"{name} must be an integer")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if not isinstance(value, int) or not minimum <= value <= maximum:
        raise RPCError(INVALID_PARAMS, f"{name} must be an integer in [{minimum}, {maximum}]")
    return value


def parse_list(value, name: str, limit: int) -> list:
    if not isinstance(value, list):
        raise RPCError(INVALID_PARAMS, f"{name} must be a list")
    if len(value) > limit:
        raise RPCError(INVALID_PARAMS, f"{name}: at most {limit} items per call")
    return value


def parse_txid(value) -> str:
    if not isinstance(value, str) or len(value) != 64:
        raise RPCError(INVALID_TX_HASH, "should be a transaction hash")
    try:
        bytes.fromhex(value)
    except ValueError:
        raise RPCError(INVALID_TX_HASH, "should be a transaction hash")
    return value.lower()


# What Electrum raises on malformed transaction/PSBT input: SerializationError (and its subclasses) from
# the parsers, ValueError for text that is neither hex nor base64, and the rest from a structure that
# parsed but is inconsistent (an output script that cannot be decoded, an input index out of range).
_TX_PARSE_ERRORS = (SerializationError, ValueError, TypeError, AssertionError, IndexError, KeyError)


def parse_tx(value) -> Transaction:
    """A transaction (raw hex, or a PSBT in hex/base64) whose txid and size can be computed, else -32602.

    Everything the tx methods derive from it is computed here, inside the one guard, so that no input
    reaches Electrum's parsers outside it (Electrum parses lazily: `00` only fails on first use).
    """
    if isinstance(value, dict):
        value = value.get("hex")
    if not isinstance(value, str) or not value.strip():
        raise RPCError(INVALID_PARAMS, "transaction must be a non-empty hex string")
    if len(value) > 2 * MAX_TX_BYTES:
        raise RPCError(INVALID_PARAMS, f"transaction is larger than {MAX_TX_BYTES} bytes")
    try:
        tx = tx_from_any(value.strip())
        tx.deserialize()
        tx.txid()
        tx.estimated_size()
        tx.is_complete()
    except _TX_PARSE_ERRORS as exc:
        raise RPCError(INVALID_PARAMS, f"cannot parse transaction: {str(exc)[:200]}")
    return tx


def address_items(value, known: Container[str] = ()) -> list[str]:
    """Addresses from ["addr", ...] or [{"address": "addr", ...}, ...]. Those in `known` (watched, so checked
    when they were added) skip the check: a bech32 decode is ~30 µs, a few seconds per 100k addresses."""
    out = []
    for item in parse_list(value, "addresses", MAX_BATCH):
        address = item.get("address") if isinstance(item, dict) else item
        out.append(address if isinstance(address, str) and address in known else check_address(address))
    return out


class Methods(BaseMethods):
    registry = registry

    def __init__(self, service: Service):
        self.service = service
        self.chain = service.chain
        self.store = service.store

    def wallet(self, value) -> Wallet:
        # Bitcart sends either the xpub or {"xpub": ..., "contract": ..., "diskless": ...}; only xpub matters here.
        if isinstance(value, dict):
            value = value.get("xpub")
        if not value:
            raise RPCError(WALLET_NOT_LOADED, "Wallet not loaded")
        return self.service.wallet(value)

    # general

    @rpc()
    def version(self):
        return ELECTRUM_VERSION

    @rpc()
    def getinfo(self):
        tip = self.chain.tip()
        network = self.chain.network
        server = network.get_parameters().server.host if network else None
        return {
            "network": self.service.settings.network,
            "server": server,
            "blockchain_height": tip["height"],
            "server_height": tip["server_height"],
            "connected": tip["connected"],
            "synchronized": tip["synchronized"],
            "spv_nodes": len(network.get_interfaces()) if network else 0,
            "version": ELECTRUM_VERSION,
            "total_wallets": len(self.chain.wallets),
            "uptime": int(time.time() - self.service.started_at),
        }

    @rpc()
    def get_tip(self):
        return self.chain.tip()

    @rpc()
    def is_synchronized(self):
        return self.chain.tip()["synchronized"]

    @rpc()
    def validatekey(self, key, *_args, **_kwargs):
        if not isinstance(key, str) or len(key) > 1000:
            return False
        try:
            if keystore.is_master_key(key):
                keystore.from_master_key(key)
                return True
            return bool(mnemonic.is_seed(key))
        except (ValueError, TypeError, bitcoin.BitcoinException):
            return False

    @rpc()
    def validateaddress(self, address):
        return isinstance(address, str) and bitcoin.is_address(address)

    @rpc()
    def setconfig(self, key, value):
        if not isinstance(key, str) or not key or len(key) > 200:
            raise RPCError(INVALID_PARAMS, "key must be a non-empty string")
        self.store.set_config(key, value)
        return True

    @rpc()
    def getconfig(self, key):
        if not isinstance(key, str):
            raise RPCError(INVALID_PARAMS, "key must be a string")
        found, value = self.store.get_config(key)
        if found:
            return value
        if self.chain.config is not None and self.chain.config.get(key) is not None:
            return self.chain.config.get(key)
        raise RPCError(NO_CONFIG_KEY, f"No config key {key[:100]!r}")

    @rpc()
    def modifypaymenturl(self, url, amount, divisibility=None):
        if not isinstance(url, str):
            raise RPCError(INVALID_PARAMS, "url must be a string")
        if not Decimal(parse_amount(amount)):
            return url
        parsed = urlparse(url)
        query = dict(parse_qsl(parsed.query))
        query["amount"] = format_satoshis(parse_amount(amount)).rstrip("0").rstrip(".")
        return urlunparse(parsed._replace(query=urlencode(query)))

    # chain queries (server)

    @rpc()
    async def getaddresshistory(self, address):
        check_address(address)
        network = self.chain.require_network()
        history = await self.chain.ask(network.get_history_for_scripthash(bitcoin.address_to_scripthash(address)))
        return [{"tx_hash": item["tx_hash"], "height": item["height"]} for item in history]

    @rpc()
    async def getaddressbalance(self, address):
        check_address(address)
        network = self.chain.require_network()
        balance = await self.chain.ask(network.get_balance_for_scripthash(bitcoin.address_to_scripthash(address)))
        return {
            "confirmed": format_satoshis(int(balance.get("confirmed", 0))),
            "unconfirmed": format_satoshis(int(balance.get("unconfirmed", 0))),
        }

    @rpc()
    async def gettransaction(self, txid):
        tx = await self.chain.fetch_tx(parse_txid(txid))
        return str(tx)

    @rpc()
    async def get_transaction(self, tx_hash, use_spv=False):
        """Decoded transaction plus confirmations (SPV-verified through the first output's address history)."""
        txid = parse_txid(tx_hash)
        tx = await self.chain.fetch_tx(txid)
        result = tx.to_json()
        confirmations = 0
        for output in tx.outputs():
            if output.address:
                for item in await self.chain.server_outputs(output.address):
                    if item["txid"] == txid:
                        confirmations = item["confirmations"]
                        break
                break
        result["confirmations"] = confirmations
        return result

    @rpc()
    async def broadcast(self, tx):
        parsed = parse_tx(tx)
        if not parsed.is_complete():
            raise RPCError(INVALID_PARAMS, "transaction is not signed")
        await self.chain.broadcast(parsed)
        return parsed.txid()

    @rpc()
    def get_tx_size(self, raw_tx):
        return parse_tx(raw_tx).estimated_size()

    @rpc()
    def get_tx_hash(self, raw_tx):
        return parse_tx(raw_tx).txid()

    @rpc()
    def get_default_fee(self, tx):
        size = tx if isinstance(tx, int) and not isinstance(tx, bool) else parse_tx(tx).estimated_size()
        if not 0 < size < 10_000_000:
            raise RPCError(INVALID_PARAMS, "size out of range")
        return format_satoshis(self.chain.config.estimate_fee(size, allow_fallback_to_static_rates=True))

    @rpc()
    def recommended_fee(self, target):
        target = parse_int(target, "target", minimum=1, maximum=1008)
        fee = self.chain.config.eta_target_to_fee(target)
        return fee if fee is not None else 0

    # SDK wallet methods

    @rpc(requires_wallet=True)
    def add_request(self, amount=None, memo="", expiry=3600, force=False, lightning=False, *, wallet):
        """Create a payment request on a never-used receiving address (m/0/i) of the wallet.

        `force` is accepted for compatibility and ignored: a fresh address is always allocated, so there is no
        gap limit to force past and no expired request's address is ever handed out again.
        """
        if lightning:
            raise RPCError(LIGHTNING_UNSUPPORTED, "Lightning not supported in this wallet type")
        amount_sat = parse_amount(amount)
        if memo is None:
            memo = ""
        if not isinstance(memo, str) or len(memo) > 10_000:
            raise RPCError(INVALID_PARAMS, "memo must be a string of at most 10000 characters")
        expiry = parse_int(expiry if expiry is not None else 0, "expiry", minimum=0, maximum=MAX_EXPIRY)
        now = int(time.time())
        window = self.service.settings.watch_window
        request_watch_until = now + expiry + window if expiry else None
        request = self.store.create_request(
            xpub=wallet.xpub,
            derive=wallet.derive,
            amount_sat=amount_sat,
            memo=memo,
            expiry=expiry,
            watch_until=request_watch_until,
            now=now,
        )
        self.chain.add_watched(wallet, [(request.address, Watch(request.idx, request_watch_until, "request"))])
        self.service.request_created(request.expires_at)
        return self.service.export_request(request)

    @rpc(requires_wallet=True)
    def get_request(self, key, *, wallet):
        if not isinstance(key, str):
            raise RPCError(INVALID_PARAMS, "request key must be an address or request id")
        request = self.store.get_request(wallet.xpub, key)
        if request is None:
            raise RPCError(REQUEST_NOT_FOUND, "Request not found")
        if request.address in wallet.watched and self.chain.address_complete(wallet, request.address):
            request = self.service.update_request(wallet, request)
        elif request.status == 0 and request.expires_at and time.time() > request.expires_at:
            request.status = 1
        return self.service.export_request(request)

    @rpc(requires_wallet=True)
    def getbalance(self, *, wallet):
        """Balance of the addresses this daemon watches for the wallet (not the whole xpub's history)."""
        confirmed, unconfirmed, unmatured = wallet.adb.get_balance(list(wallet.watched))
        return {
            "confirmed": format_satoshis(confirmed),
            "unconfirmed": format_satoshis(unconfirmed),
            "unmatured": format_satoshis(unmatured),
        }

    @rpc(requires_wallet=True)
    def getaddressbalance_wallet(self, address, *, wallet):
        check_address(address)
        confirmed, unconfirmed, unmatured = wallet.adb.get_addr_balance(address)
        return {
            "confirmed": format_satoshis(confirmed),
            "unconfirmed": format_satoshis(unconfirmed),
            "unmatured": format_satoshis(unmatured),
        }

    @rpc(requires_wallet=True)
    def onchain_history(self, *, wallet):
        """Incoming outputs of the watched addresses (a watch-only, invoice-scoped view of Electrum's history)."""
        transactions = []
        income = 0
        for address in wallet.watched:
            for output in self.chain.watched_outputs(wallet, address):
                income += output["value_sat"]
                verified = wallet.adb.db.get_verified_tx(output["txid"])
                transactions.append(
                    {
                        "txid": output["txid"],
                        "vout": output["vout"],
                        "address": address,
                        "height": output["height"],
                        "confirmations": output["confirmations"],
                        "incoming": True,
                        "bc_value": format_satoshis(output["value_sat"]),
                        "timestamp": verified.timestamp if verified else None,
                    }
                )
        transactions.sort(key=lambda t: (t["height"] or 2**31, t["txid"], t["vout"]))
        return {
            "summary": {"incoming": format_satoshis(income), "outgoing": format_satoshis(0)},
            "transactions": transactions,
        }

    @rpc(requires_wallet=True)
    def get_updates(self, *, wallet):
        return self.service.hub.drain(wallet.xpub)

    # Django's methods

    @rpc(requires_wallet=True)
    def watch_addresses(self, addresses, *, wallet):
        """Start watching [{"address", "index", "until"}]; idempotent (re-sending updates `until`).

        Only the entry with the highest index is re-derived from the xpub (a check that Django and the daemon
        agree on xpub, network and script type without paying ~0.25 ms of EC math per address).
        """
        entries = []
        seen = set()
        for item in parse_list(addresses, "addresses", MAX_BATCH):
            if isinstance(item, str):
                item = {"address": item}
            if not isinstance(item, dict):
                raise RPCError(INVALID_PARAMS, "each address must be a string or {address, index, until}")
            address = item.get("address")
            if not (isinstance(address, str) and address in wallet.watched):  # else checked when first watched
                address = check_address(address)
            index = item.get("index")
            if index is not None:
                index = parse_int(index, "index", minimum=0, maximum=2**31 - 1)
            until = item.get("until")
            if until is not None:
                if isinstance(until, bool) or not isinstance(until, (int, float)):
                    raise RPCError(INVALID_PARAMS, "until must be a unix timestamp")
                until = float(until)
            if address not in seen:
                seen.add(address)
                entries.append(WatchEntry(address, index, until))
        indexed = [e for e in entries if e.index is not None]
        if indexed:
            top = max(indexed, key=lambda e: e.index)
            if wallet.derive(top.index) != top.address:
                raise RPCError(
                    INVALID_PARAMS,
                    f"address {top.address} is not m/0/{top.index} of this xpub (wrong xpub, network or index)",
                )
        now = time.time()
        live = [e for e in entries if e.until is None or e.until > now]
        # What is watched exactly so already is not written again: Django re-registers every open invoice after
        # each reconnect, and 100k no-op upserts were ~10% of the daemon's CPU right after a restart (py-spy).
        # (Conflicts are found when an entry is first registered or changes.)
        changed = [
            e
            for e in live
            if (current := wallet.watched.get(e.address)) is None
            or (current.index, current.until) != (e.index, e.until)
        ]
        conflicts = self.store.watch(wallet.xpub, changed) if changed else []
        self.chain.add_watched(wallet, [(e.address, Watch(e.index, e.until, "watch")) for e in changed])
        return {"watched": len(live), "skipped_expired": len(entries) - len(live), "conflicts": conflicts}

    @rpc(requires_wallet=True)
    def unwatch_addresses(self, addresses, *, wallet):
        items = address_items(addresses)
        removed = self.store.unwatch(wallet.xpub, items)
        self.chain.remove_watched(wallet, items)
        return {"unwatched": removed}

    @rpc(requires_wallet=True)
    async def get_address_outputs(self, addresses, budget=None, *, wallet):
        """Authoritative outputs per address, for reconciliation.

        A watched address whose synchronizer view is complete is answered from the SPV-checked
        AddressSynchronizer. One still loading (after a restart) is handed to the synchronizer ahead of the
        rest and waited for; an unwatched one, or one the synchronizer has not completed within
        SYNC_WAIT_SHARE of the budget, is fetched from the server (concurrently) and SPV-checked here.
        Whatever is not answered within `budget` seconds (default OUTPUT_BUDGET; a caller sets it below its own
        timeout) is listed in `pending` and left out of `outputs`: nothing may be concluded about it.
        """
        items = address_items(addresses, known=wallet.watched)
        if len(items) > MAX_OUTPUT_QUERY:
            raise RPCError(INVALID_PARAMS, f"at most {MAX_OUTPUT_QUERY} addresses per call")
        if budget is None:
            budget = OUTPUT_BUDGET
        if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 0 <= budget <= MAX_OUTPUT_BUDGET:
            raise RPCError(INVALID_PARAMS, f"budget must be a number of seconds in [0, {MAX_OUTPUT_BUDGET}]")
        tip = self.chain.tip()
        if not tip["connected"]:
            raise RPCError(NOT_SYNCED)
        chain = self.chain
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + budget
        unique = list(dict.fromkeys(items))
        watched = [address for address in unique if address in wallet.watched]
        unwatched = [address for address in unique if address not in wallet.watched]
        asking = loop.create_task(chain.server_outputs_many(unwatched, deadline)) if unwatched else None
        try:
            chain.prioritize(wallet, watched)
            waiting = chain.incomplete(wallet, watched)
            sync_deadline = started + budget * SYNC_WAIT_SHARE
            waited = False
            while waiting and wallet.adb.synchronizer is not None and loop.time() < sync_deadline:
                await asyncio.sleep(SYNC_POLL)
                waited = True
                waiting = chain.incomplete(wallet, waiting)
            if waited:  # one that was complete may have taken a notification meanwhile: look at all again
                waiting = chain.incomplete(wallet, watched)
            # A snapshot of the views complete now, before the awaits below.
            left = set(waiting)
            outputs = {a: chain.watched_outputs(wallet, a) for a in watched if a not in left and a in wallet.watched}
            fetched = await chain.server_outputs_many(waiting, deadline)  # the synchronizer is behind: ask
            if asking is not None:
                fetched.update(await asking)
        finally:
            if asking is not None and not asking.done():
                asking.cancel()
        outputs.update(fetched)
        pending = [address for address in unique if address not in outputs]
        return {"height": self.chain.tip()["height"], "outputs": outputs, "pending": pending}

    @rpc(requires_wallet=True)
    def get_watched(self, limit=0, offset=0, *, wallet):
        limit = parse_int(limit, "limit", minimum=0, maximum=MAX_BATCH)
        offset = parse_int(offset, "offset", minimum=0, maximum=2**62)
        result = {
            "count": len(wallet.watched),
            "synchronized": wallet.is_synced(),
            "requests": self.store.request_count(wallet.xpub),
        }
        if limit:
            result["addresses"] = self.store.watched_list(wallet.xpub, limit, offset)
        return result
