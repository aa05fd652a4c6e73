"""The scanner (block cursor, reorgs, matching) and payment requests.

One task walks the chain: it checks that the last block it recorded is still on the node's chain (else it
finds the fork point among the last ETH_REORG_DEPTH recorded hashes and drops everything above it), then scans
at most ETH_MAX_BLOCK_RANGE blocks past its cursor: each block with its transactions (native ETH to a wallet),
one eth_getLogs for ERC-20 Transfer logs to the wallets, the linkage of every block checked, and commits the
range, its payments and the new cursor in one SQLite transaction. Events go out after the commit.
"""

import asyncio
import logging
import secrets
import sqlite3
import time
from collections.abc import Callable

from coins import evm
from daemons.eth.chain import Node, NodeError, hx
from daemons.eth.config import Settings
from daemons.eth.errors import TAGS_EXHAUSTED, RPCError
from daemons.eth.store import Payment, Request, Store
from daemons.eth.tokens import ETHER, Token, check_address, tag_of, with_tag
from daemons.protocol.errors import NETWORK_ERROR
from daemons.protocol.events import Hub

logger = logging.getLogger("daemons.eth.service")

STATUS_STR = {0: "Unpaid", 1: "Expired", 2: "Unknown", 3: "Paid", 7: "Unconfirmed"}
CREATED_SLACK = 60  # seconds of clock difference tolerated between this host and block timestamps
FETCH_CONCURRENCY = 8  # block requests in flight during a scan step


class ChainMoved(Exception):
    """The chain changed under a scan step (a block's parent or a log's block hash did not match)."""


def normalize_wallet(value: object) -> str | None:
    if isinstance(value, dict):
        value = value.get("xpub")
    try:
        return check_address(value)
    except RPCError:
        return None


class Service:
    def __init__(self, settings: Settings, on_fatal: Callable[[BaseException], None] | None = None):
        self.settings = settings
        self.store = Store(settings.db_path)
        self.node = Node(settings.server, settings.rpc_timeout)
        self.hub = Hub("ETH", settings.polling_cap, normalize_wallet)
        self.on_fatal = on_fatal
        self.tip: int | None = None
        self.connected = False
        self.last_error: str | None = None
        self.started_at = time.time()
        self.wake = asyncio.Event()
        self.tasks: list[asyncio.Task] = []
        self.wallets: set[str] = set(self.store.wallets())
        self._announced_tip: int | None = None
        self.chain_checked = False

    async def start(self) -> None:
        """Refuse a data dir or a node of another chain. A node that does not answer yet is checked later by
        the scanner (the daemon must come up, and say NOT_SYNCED, while its node is down)."""
        stored = self.store.chain_id()
        if stored is not None and stored != self.settings.chain_id:
            raise RuntimeError(f"data dir belongs to chain {stored}, ETH_CHAIN_ID is {self.settings.chain_id}")
        try:
            await self._check_chain()
        except NodeError as exc:
            logger.warning("Ethereum node not reachable at start (%s); retrying in the background", exc)

    async def _check_chain(self) -> None:
        chain_id = await self.node.chain_id()
        if chain_id != self.settings.chain_id:
            raise RuntimeError(f"ETH_SERVER is chain {chain_id}, ETH_CHAIN_ID is {self.settings.chain_id}")
        self.chain_checked = True

    def run(self) -> None:
        loop = asyncio.get_running_loop()
        for coro in (self._scan_loop(), self._sweeper()):
            task = loop.create_task(coro)
            task.add_done_callback(self._task_done)
            self.tasks.append(task)

    def _task_done(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None and self.on_fatal:
            self.on_fatal(task.exception())  # type: ignore[arg-type]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.hub.close()
        await self.node.close()
        self.store.close()

    # chain walking

    async def _scan_loop(self) -> None:
        while True:
            more = False
            try:
                if not self.chain_checked:
                    await self._check_chain()
                more = await self.step()
                self.connected = True
                self.last_error = None
            except NodeError as exc:
                if self.connected or self.last_error is None:
                    logger.warning("Ethereum node: %s", exc)
                self.connected = False
                self.last_error = str(exc)
            except ChainMoved as exc:
                logger.info("chain moved during a scan step (%s); looking again", exc)
                more = True
            except (KeyError, TypeError, ValueError) as exc:
                # a node answering with something that is not a well-formed block/log/receipt: not ours to fix,
                # and not a reason to die (supervisord would restart us into the same answer); retry later
                logger.error("malformed answer from the Ethereum node: %r", exc)
                self.connected = False
                self.last_error = f"malformed answer: {exc!r}"[:300]
            if not more:
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), self.settings.poll_interval)
                except TimeoutError:
                    pass

    async def step(self) -> bool:
        """One look at the chain; True if there is more to scan right away."""
        tip = await self.node.block_number()
        self.tip = tip
        cursor = self.store.cursor()
        if cursor is None:
            start = self.settings.start_block - 1 if self.settings.start_block is not None else tip
            start = max(min(start, tip), 0)
            block = await self.node.block(start)
            if block is None:
                raise ChainMoved(f"block {start} vanished")
            self.store.start(start, hx(block["hash"]), self.settings.chain_id)
            cursor = start
        fork = await self._fork_point()
        if fork is not None:
            self._rollback(fork)
            cursor = fork
        if cursor < tip:
            end = min(tip, cursor + self.settings.max_block_range)
            await self._scan(cursor, end)
            cursor = end
        if tip != self._announced_tip and cursor >= tip:
            self._announced_tip = tip
            self.hub.publish(None, {"event": "new_block", "height": tip})
        return cursor < tip

    async def _fork_point(self) -> int | None:
        """None if our last recorded block is still on the node's chain; else the highest recorded one that is."""
        recent = self.store.recent_blocks()
        if not recent:
            return None
        for index, (number, known) in enumerate(recent):
            block = await self.node.block(number)
            if block is not None and hx(block["hash"]) == known:
                return None if index == 0 else number
        oldest = recent[-1][0]
        logger.critical("reorg deeper than the %s recorded blocks; rescanning from %s", len(recent), oldest - 1)
        return oldest - 1

    def _rollback(self, fork: int) -> None:
        dropped = self.store.rollback(fork)
        logger.warning("reorg: back to block %s, %s payment(s) dropped until seen again", fork, len(dropped))
        self._refresh({p.request_id for p in dropped if p.request_id})

    async def _scan(self, cursor: int, end: int) -> None:
        numbers = list(range(cursor + 1, end + 1))
        limit = asyncio.Semaphore(FETCH_CONCURRENCY)

        full = bool(self.wallets)  # transactions only matter when some wallet may be paid

        async def fetch(number: int):
            async with limit:
                return await self.node.block(number, full=full)

        blocks = await asyncio.gather(*(fetch(n) for n in numbers))
        parent = self.store.block_hash(cursor)
        hashes: dict[int, str] = {}
        times: dict[int, int] = {}
        for number, block in zip(numbers, blocks, strict=True):
            if block is None:
                raise ChainMoved(f"block {number} not available")
            if parent is not None and hx(block["parentHash"]) != parent:
                raise ChainMoved(f"block {number} does not follow {parent}")
            parent = hashes[number] = hx(block["hash"])
            times[number] = int(block["timestamp"])
        wallets = {w.lower(): w for w in self.wallets}
        payments: list[Payment] = []
        if wallets:
            for number, block in zip(numbers, blocks, strict=True):
                for tx in block["transactions"]:
                    to = tx.get("to")
                    if to and to.lower() in wallets and int(tx["value"]) > 0:
                        receipt = await self.node.receipt(hx(tx["hash"]))
                        if receipt is None or hx(receipt["blockHash"]) != hashes[number]:
                            raise ChainMoved(f"receipt of {hx(tx['hash'])} is not in block {number}")
                        if int(receipt["status"]) != 1:
                            continue  # reverted: no value moved
                        payments.append(
                            self._payment(
                                hx(tx["hash"]),
                                -1,
                                number,
                                hashes,
                                times,
                                wallets[to.lower()],
                                ETHER,
                                tx["from"],
                                int(tx["value"]),
                            )
                        )
            contracts = self.settings.tokens.contracts()
            if contracts:
                logs = await self.node.transfer_logs(cursor + 1, end, contracts, list(wallets.values()))
                for log in logs:
                    number = int(log["blockNumber"])
                    if hashes.get(number) != hx(log["blockHash"]):
                        raise ChainMoved(f"log in block {number} is from another chain")
                    if log.get("removed") or len(log["topics"]) != 3 or len(bytes(log["data"])) != 32:
                        continue  # not a standard Transfer(address indexed, address indexed, uint256)
                    token = self.settings.tokens.by_contract.get(log["address"].lower())
                    to = "0x" + hx(log["topics"][2])[-40:]
                    if token is None or to not in wallets:
                        continue
                    value = int.from_bytes(bytes(log["data"]), "big")
                    sender = "0x" + hx(log["topics"][1])[-40:]
                    if value:
                        payments.append(
                            self._payment(
                                hx(log["transactionHash"]),
                                int(log["logIndex"]),
                                number,
                                hashes,
                                times,
                                wallets[to],
                                token,
                                sender,
                                value,
                            )
                        )
        new = self.store.commit_scan(sorted(hashes.items()), payments, end, self.settings.reorg_depth)
        logger.debug("scanned blocks %s..%s: %s payment(s), %s new", cursor + 1, end, len(payments), len(new))
        for p in new:
            token = self.settings.tokens.by_key(p.asset)
            self.hub.publish(
                p.address,
                {
                    "event": "new_transaction",
                    "tx": p.tx_hash,
                    "address": p.address,
                    "to": p.address,  # Bitcart's field name
                    "from_address": check_address(p.sender),
                    "contract": token.contract,
                    "amount": token.format(p.value),
                    "height": p.block_number,
                    "log_index": p.log_index,
                    "request_id": p.request_id,
                },
            )
        self._refresh({p.request_id for p in new if p.request_id})

    def _payment(self, tx_hash, log_index, number, hashes, times, address, token: Token, sender, value) -> Payment:
        tag = tag_of(value, token, self.settings.tag_digits)
        request = self.store.request_for_payment(address, token.key, tag, times[number], CREATED_SLACK) if tag else None
        return Payment(
            tx_hash=tx_hash,
            log_index=log_index,
            block_number=number,
            block_hash=hashes[number],
            block_time=times[number],
            address=address,
            asset=token.key,
            sender=sender.lower(),
            value=value,
            tag=tag,
            request_id=request.request_id if request else None,
        )

    # requests

    def add_wallet(self, address: str) -> None:
        if address not in self.wallets:
            self.store.add_wallet(address)
            self.wallets.add(address)

    def create_request(self, *, address: str, token: Token, requested: int, memo: str, expiry: int) -> Request:
        digits = self.settings.tag_digits
        space = 10**digits
        self.add_wallet(address)
        now = int(time.time())
        live_until = now + expiry + self.settings.watch_window if expiry else None
        counter_key = f"tag:{address}:{token.key}"
        with self.store.db:
            self.store.db.execute("BEGIN IMMEDIATE")
            taken = self.store.live_tags(address, token.key)
            stored = self.store.get_meta(counter_key)
            # a wallet's first tag is random: tags say nothing about how many requests a merchant makes
            last = int(stored) if stored is not None else secrets.randbelow(space - 1) + 1
            # Round-robin from the last tag given: a freed tag is handed out again as late as possible, so a
            # payment arriving long after its request's window is unlikely to meet a new request with its tag.
            tag = 0
            for step in range(1, space):
                candidate = (last + step - 1) % (space - 1) + 1
                if candidate not in taken:
                    tag = candidate
                    break
            if not tag:
                raise RPCError(TAGS_EXHAUSTED)
            request = Request(
                request_id=secrets.token_hex(16),
                address=address,
                asset=token.key,
                tag=tag,
                amount=with_tag(max(requested, 1), tag, token, digits),
                requested=requested,
                memo=memo,
                created=now,
                expiry=expiry,
                live_until=live_until,
            )
            self.store.insert_request(request)
            self.store.set_meta(counter_key, str(tag))
        return request

    def request_state(self, request: Request) -> Request:
        """Paid (3) once the request's payments reach its amount, counting the most-confirmed first; every
        payment is mined (the daemon does not read the mempool), so 7 (unconfirmed) never appears."""
        payments = self.store.request_payments(request.request_id)
        tip = self.tip if self.tip is not None else max((p.block_number for p in payments), default=0)
        confirmations = {p: max(tip - p.block_number + 1, 1) for p in payments}
        total = 0
        needed = None
        for payment in sorted(payments, key=lambda p: confirmations[p], reverse=True):
            total += payment.value
            if total >= request.amount:
                needed = confirmations[payment]
                break
        expires_at = request.expires_at
        if needed is None:
            request.status = 1 if expires_at and time.time() > expires_at else 0
        else:
            request.status = 3
        request.sent = sum(p.value for p in payments)
        request.tx_hashes = sorted({p.tx_hash for p in payments})
        request.confirmations = needed
        request.late = bool(expires_at and any(p.block_time > expires_at for p in payments))
        return request

    def update_request(self, request: Request) -> Request:
        before = (request.status, request.sent, request.tx_hashes, request.confirmations, request.late)
        self.request_state(request)
        after = (request.status, request.sent, request.tx_hashes, request.confirmations, request.late)
        if after != before:
            self.store.update_request(request)
            if (request.status, request.sent) != before[:2]:
                self.publish_payment(request)
        return request

    def _refresh(self, request_ids: set) -> None:
        for request_id in sorted(request_ids):
            request = self.store.get_request(request_id)
            if request is not None:
                self.update_request(request)

    def publish_payment(self, request: Request) -> None:
        token = self.settings.tokens.by_key(request.asset)
        self.hub.publish(
            request.address,
            {
                "event": "new_payment",
                # Bitcart's merchants API matches new_payment by `address`, which Bitcart's ETH daemon fills
                # with the request key; the wallet's address is `payment_address`.
                "address": request.request_id,
                "request_id": request.request_id,
                "payment_address": request.address,
                "contract": token.contract,
                "status": request.status,
                "status_str": STATUS_STR[request.status],
                "tx_hashes": request.tx_hashes,
                "sent_amount": token.format(request.sent),
                "late": request.late,
            },
        )

    def export_request(self, request: Request) -> dict:
        token = self.settings.tokens.by_key(request.asset)
        digits = self.settings.tag_digits
        due = max(request.amount - request.sent, 0)
        to_pay = with_tag(due, request.tag, token, digits) if due else 0
        expires_at = request.expires_at or 0
        data = {
            "is_lightning": False,
            f"amount_{token.symbol}": token.format(request.amount),
            "amount_wei": request.amount,
            "amount": token.format(request.amount),
            "requested_amount": token.format(request.requested),
            "tag": request.tag,
            "due_amount": token.format(to_pay),
            "message": request.memo,
            "memo": request.memo,
            "timestamp": request.created,
            "time": request.created,
            "expiration": expires_at,
            "expiry": request.expiry,
            "exp": request.expiry,
            "status": request.status,
            "status_str": STATUS_STR[request.status],
            "request_id": request.request_id,
            "id": request.request_id,
            "address": request.address,
            "contract": token.contract,
            "symbol": token.symbol,
            "decimals": token.decimals,
            "URI": evm.eip681_uri(
                address=request.address,
                units=to_pay or request.amount,
                chain_id=self.settings.chain_id,
                contract=token.contract or "",
            ),
            "tx_hashes": request.tx_hashes,
            "sent_amount": token.format(request.sent),
            "late": request.late,
        }
        if request.confirmations is not None:
            data["confirmations"] = request.confirmations
        return data

    def sweep(self) -> None:
        """Free the tags of requests whose watch window ended; report expiry of unpaid ones."""
        now = int(time.time())
        rows = self.store.db.execute(
            "SELECT request_id FROM requests WHERE status = 0 AND expiry > 0 AND created + expiry < ?", (now,)
        ).fetchall()
        self._refresh({r[0] for r in rows})
        self.store.expire_live(now)

    async def _sweeper(self) -> None:
        while True:
            await asyncio.sleep(min(self.settings.poll_interval * 4, 15))
            try:
                self.sweep()
            except sqlite3.Error:  # housekeeping retries on the next tick
                logger.exception("expiry sweep failed")

    async def ask(self, coro):
        """Await a node call on behalf of a JSON-RPC method: a node failure is NETWORK_ERROR."""
        try:
            return await coro
        except NodeError as exc:
            raise RPCError(NETWORK_ERROR, f"Ethereum node: {exc}") from None
