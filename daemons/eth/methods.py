"""JSON-RPC methods: the ones the `bitcart` SDK calls for ETH (Bitcart's names and shapes) plus a few of ours.

A method declared with requires_wallet gets `wallet` (the checksummed address from the `xpub` kwarg) and
`token` (from its `contract`). Validation errors raise RPCError with a spec code.
"""

import json
import time
from dataclasses import dataclass

from eth_abi import decode as abi_decode
from eth_abi.exceptions import DecodingError

from daemons.eth.chain import VIEWS, hx
from daemons.eth.errors import SPEC_VERSION, RPCError
from daemons.eth.service import Service
from daemons.eth.tokens import Token, check_address
from daemons.protocol.errors import (
    INVALID_PARAMS,
    INVALID_TX_HASH,
    NO_CONFIG_KEY,
    REQUEST_NOT_FOUND,
    TX_NOT_FOUND,
)
from daemons.protocol.methods import BaseMethods, Registry

MAX_EXPIRY = 10 * 365 * 24 * 3600
MAX_HISTORY = 1000
MAX_BATCH = 10_000  # entries per watch/unwatch call, as daemons/btc
MAX_OUTPUT_QUERY = 1_000  # request ids per get_address_outputs call, as daemons/btc's addresses
MAX_OUTPUT_BUDGET = 60  # seconds; accepted for daemons/btc's signature (answers here come from the store at once)

registry = Registry(aliases={"getrequest": "get_request"}, error=RPCError)
registry.watch_only("payto", "paytomany", "broadcast")
rpc = registry.rpc


@dataclass(frozen=True)
class Wallet:
    address: str
    token: Token


def parse_int(value, name: str, *, minimum: int, maximum: int) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise RPCError(INVALID_PARAMS, f"{name} must be an integer in [{minimum}, {maximum}]")
    return value


def parse_keys(value, limit: int) -> list[str]:
    """Django's `addresses` list: strings, or {"address": ..., ...} as it sends to watch_addresses. For ETH the
    key is a request id (matched as get_request does: trimmed, lower case)."""
    if not isinstance(value, list):
        raise RPCError(INVALID_PARAMS, "addresses must be a list")
    if len(value) > limit:
        raise RPCError(INVALID_PARAMS, f"addresses: at most {limit} items per call")
    keys = []
    for item in value:
        key = item.get("address") if isinstance(item, dict) else item
        if not isinstance(key, str):
            raise RPCError(INVALID_PARAMS, "each address must be a request id or {address: request id, ...}")
        keys.append(key.strip().lower())
    return keys


def parse_tx_hash(value) -> str:
    if not isinstance(value, str) or len(value) != 66 or not value.startswith("0x"):
        raise RPCError(INVALID_TX_HASH, "should be a transaction hash")
    try:
        bytes.fromhex(value[2:])
    except ValueError:
        raise RPCError(INVALID_TX_HASH, "should be a transaction hash") from None
    return value.lower()


class Methods(BaseMethods):
    registry = registry

    def __init__(self, service: Service):
        self.service = service
        self.store = service.store
        self.tokens = service.settings.tokens

    def wallet(self, value) -> Wallet:
        """Bitcart sends the wallet as `xpub`: an address, or {"xpub": address, "contract": token}."""
        contract = None
        if isinstance(value, dict):
            contract = value.get("contract")
            value = value.get("xpub")
        return Wallet(check_address(value), self.tokens.resolve(contract))

    # general

    @rpc()
    def version(self):
        return SPEC_VERSION

    @rpc()
    def get_tip(self):
        """The node's tip as last seen, the scan cursor (last block fully processed), and the connection state."""
        cursor = self.store.cursor()
        tip = self.service.tip
        return {
            "height": tip,
            "cursor": cursor,
            "connected": self.service.connected,
            "synchronized": self.service.connected and tip is not None and cursor is not None and cursor >= tip,
            "error": self.service.last_error,
        }

    @rpc()
    def getinfo(self):
        tip = self.get_tip()
        settings = self.service.settings
        return {
            "network": settings.network,
            "chain_id": settings.chain_id,
            "blockchain_height": tip["height"],
            "cursor": tip["cursor"],
            "connected": tip["connected"],
            "synchronized": tip["synchronized"],
            "version": SPEC_VERSION,
            "tokens": self.tokens.export(),
            "total_wallets": len(self.service.wallets),
            "uptime": int(time.time() - self.service.started_at),
        }

    @rpc()
    def is_synchronized(self):
        return self.get_tip()["synchronized"]

    @rpc()
    def validateaddress(self, address):
        try:
            check_address(address)
        except RPCError:
            return False
        return True

    @rpc()
    def validatekey(self, key, *_args, **_kwargs):
        """An address is the only key this watch-only daemon takes."""
        return self.validateaddress(key)

    @rpc()
    def normalizeaddress(self, address):
        return check_address(address)

    @rpc()
    def get_tokens(self):
        return self.tokens.export()

    @rpc()
    def setconfig(self, key, value):
        if not isinstance(key, str) or not key or len(key) > 200:
            raise RPCError(INVALID_PARAMS, "key must be a non-empty string")
        self.store.set_meta(f"config:{key}", json.dumps(value))
        return True

    @rpc()
    def getconfig(self, key):
        if not isinstance(key, str):
            raise RPCError(INVALID_PARAMS, "key must be a string")
        value = self.store.get_meta(f"config:{key}")
        if value is None:
            raise RPCError(NO_CONFIG_KEY, f"No config key {key[:100]!r}")
        return json.loads(value)

    # chain queries

    @rpc()
    async def readcontract(self, contract, function, *args):
        """An ERC-20 view of a registered token: symbol, name, decimals, totalSupply (what the SDK reads)."""
        token = self.tokens.resolve(contract)
        if token.contract is None:
            raise RPCError(INVALID_PARAMS, "contract must be a token")
        if function not in VIEWS or args:
            raise RPCError(INVALID_PARAMS, f"function must be one of {sorted(VIEWS)} without arguments")
        selector, kind = VIEWS[function]
        raw = await self.service.ask(self.service.node.eth_call(token.contract, selector))
        try:
            return abi_decode([kind], raw)[0]
        except DecodingError:
            raise RPCError(INVALID_PARAMS, f"{function} returned no decodable value") from None

    @rpc()
    async def get_tx_status(self, tx):
        """Receipt summary: {"status" (1 ok, 0 reverted), "confirmations", "block_number"}; 0 confirmations
        while unmined."""
        tx_hash = parse_tx_hash(tx)
        receipt = await self.service.ask(self.service.node.receipt(tx_hash))
        if receipt is None:
            known = await self.service.ask(self.service.node.transaction(tx_hash))
            if known is None:
                raise RPCError(TX_NOT_FOUND)
            return {"status": None, "confirmations": 0, "block_number": None}
        tip = await self.service.ask(self.service.node.block_number())
        number = int(receipt["blockNumber"])
        return {"status": int(receipt["status"]), "confirmations": max(tip - number + 1, 0), "block_number": number}

    @rpc()
    async def get_transaction(self, tx, use_spv=False):
        tx_hash = parse_tx_hash(tx)
        data = await self.service.ask(self.service.node.transaction(tx_hash))
        if data is None:
            raise RPCError(TX_NOT_FOUND)
        tip = self.service.tip or 0
        number = data.get("blockNumber")
        return {
            "hash": hx(data["hash"]),
            "from": data["from"],
            "to": data.get("to"),
            "value": str(int(data["value"])),
            "input": hx(data["input"]),
            "nonce": int(data["nonce"]),
            "block_number": number,
            "confirmations": max(tip - number + 1, 0) if number is not None else 0,
        }

    @rpc()
    async def get_default_fee(self, *_args):
        """The node's gas price in wei, as a string."""
        return str(await self.service.ask(self.service.node.gas_price()))

    # wallet methods

    @rpc(requires_wallet=True)
    def add_request(self, amount=None, memo="", expiration=3600, force=False, expiry=None, *, wallet: Wallet):
        """A payment request to the wallet's own address, told apart from the others by its payment tag.

        `amount` is what the merchant asks; the request's `amount` (what the buyer is asked to send) is the
        smallest amount >= it whose tag digits are the request's tag. `expiration` (seconds, Bitcart's ETH name,
        which the SDK sends) or `expiry` (daemons/btc's); 0/None = never. `force` is accepted and ignored.
        """
        requested = wallet.token.parse(amount)
        if memo is None:
            memo = ""
        if not isinstance(memo, str) or len(memo) > 10_000:
            raise RPCError(INVALID_PARAMS, "memo must be a string of at most 10000 characters")
        seconds = expiry if expiry is not None else expiration
        seconds = parse_int(seconds if seconds is not None else 0, "expiration", minimum=0, maximum=MAX_EXPIRY)
        request = self.service.create_request(
            address=wallet.address, token=wallet.token, requested=requested, memo=memo, expiry=seconds
        )
        self.service.wake.set()
        return self.service.export_request(request)

    @rpc(requires_wallet=True)
    def get_request(self, key, *, wallet: Wallet):
        if not isinstance(key, str):
            raise RPCError(INVALID_PARAMS, "request key must be a string")
        request = self.store.get_request(key.strip().lower())
        if request is None or request.address != wallet.address:
            raise RPCError(REQUEST_NOT_FOUND, "Request not found")
        return self.service.export_request(self.service.update_request(request))

    @rpc(requires_wallet=True)
    async def getbalance(self, *, wallet: Wallet):
        """The wallet address's balance of the asset, read from the node at its tip."""
        node = self.service.node
        if wallet.token.contract is None:
            units = await self.service.ask(node.balance(wallet.address))
        else:
            units = await self.service.ask(node.token_balance(wallet.token.contract, wallet.address))
        zero = wallet.token.format(0)
        return {"confirmed": wallet.token.format(units), "unconfirmed": zero, "unmatured": zero}

    @rpc(requires_wallet=True)
    def history(self, limit=100, *, wallet: Wallet):
        """Incoming payments found for the wallet (newest first), attributed or not."""
        limit = parse_int(limit, "limit", minimum=1, maximum=MAX_HISTORY)
        tip = self.service.tip or 0
        out = []
        for p in self.store.payments_for(wallet.address, limit):
            token = self.tokens.by_key(p.asset)
            out.append(
                {
                    "tx_hash": p.tx_hash,
                    "log_index": p.log_index,
                    "height": p.block_number,
                    "confirmations": max(tip - p.block_number + 1, 0),
                    "from_address": p.sender,
                    "contract": token.contract,
                    "amount": token.format(p.value),
                    "tag": p.tag,
                    "request_id": p.request_id,
                }
            )
        return out

    @rpc(requires_wallet=True)
    def get_updates(self, *, wallet: Wallet):
        return self.service.hub.drain(wallet.address)

    # Django's reconciliation methods (daemons/btc's names and shapes; a request id stands for an address)

    @rpc(requires_wallet=True)
    def get_address_outputs(self, addresses, budget=None, *, wallet: Wallet):
        """The payments attributed to each of these request ids of the wallet's address (of any asset: the
        `contract` of the wallet is checked but does not narrow), for Django's reconciliation.

        `height` is the scan cursor, and `confirmations` are counted from it: the store knows every payment up
        to the cursor (after reorg handling) and none above it. `vout` is a token Transfer's log index, 0 for a
        native transfer (one per transaction); a request has one asset, so (txid, vout) is unique per request.
        Ids of no request of this wallet are listed in `unknown`, not in `outputs`. Before the first scan
        (no cursor yet) the wallet's ids are `pending`: nothing is known about the chain. `budget` (seconds)
        is accepted as daemons/btc takes it; the answer never waits for the node.
        """
        keys = list(dict.fromkeys(parse_keys(addresses, MAX_OUTPUT_QUERY)))
        if budget is not None and (
            isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 0 <= budget <= MAX_OUTPUT_BUDGET
        ):
            raise RPCError(INVALID_PARAMS, f"budget must be a number of seconds in [0, {MAX_OUTPUT_BUDGET}]")
        cursor, found = self.store.requests_payments(wallet.address, keys)
        unknown = [key for key in keys if key not in found]
        if cursor is None:
            return {"height": 0, "outputs": {}, "pending": [key for key in keys if key in found], "unknown": unknown}
        outputs = {
            request_id: [
                {
                    "txid": p.tx_hash,
                    "vout": max(p.log_index, 0),  # -1 (native) in the store
                    "value": p.value,
                    "value_sat": p.value,  # the field name Django's client reads
                    "height": p.block_number,
                    "confirmations": cursor - p.block_number + 1,
                }
                for p in payments
            ]
            for request_id, payments in found.items()
        }
        return {"height": cursor, "outputs": outputs, "pending": [], "unknown": unknown}

    @rpc(requires_wallet=True)
    def watch_addresses(self, addresses, *, wallet: Wallet):
        """Accepted for Django's call shape ([{"address": request id, "index", "until"}] or ids) and does
        nothing: a request is watched from add_request until its watch window ends (its payment tag is held that
        long), whatever Django says. Hence `watched` 0: this call started watching nothing."""
        parse_keys(addresses, MAX_BATCH)
        return {"watched": 0, "skipped_expired": 0, "conflicts": []}

    @rpc(requires_wallet=True)
    def unwatch_addresses(self, addresses, *, wallet: Wallet):
        """Accepted and does nothing (see watch_addresses): a request's tag stays held, and its payments
        attributed, until its watch window ends."""
        parse_keys(addresses, MAX_BATCH)
        return {"unwatched": 0}
