"""The simulated regtest chain: blocks, transactions, mempool, scripthash index and persistence.

Every mutation is expressed as a small JSON record (`tx`, `block`, `drop`, `disconnect`) that is
applied by one function, `_apply`. Live operations and replay from the state file go through the same
code, so a restarted simulator rebuilds exactly the chain Electrum already has headers for.
Each public operation collects its records and appends them to the state file in one write.

Not thread-safe: the server drives it from a single asyncio loop.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import struct
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coins.encoding import DecodeError, sha256d
from daemons.simulator.primitives import (
    COIN,
    GENESIS_COINBASE_HEX,
    MAX_MONEY,
    REGTEST_BITS,
    BlockHeader,
    Transaction,
    TxIn,
    TxOut,
    address_to_script,
    bits_to_target,
    block_subsidy,
    genesis_header,
    history_status,
    merkle_branch,
    merkle_root,
    parse_header,
    parse_transaction,
    push_data,
    scripthash_of,
    sha256,
)

logger = logging.getLogger(__name__)

MAX_BLOCKS_PER_CALL = 1000
MAX_REORG_DEPTH = 1000
MAX_OUTPUTS_PER_TX = 1000
MAX_MEMPOOL_TXS = 20_000
MAX_TX_SIZE = 400_000
FEE_RATE_SAT_PER_VBYTE = 2
# Where coinbase rewards go when `mine` gets no address: a p2wpkh nobody watches.
DEFAULT_COINBASE_SCRIPT = b"\x00\x14" + sha256(b"bitcart regtest simulator coinbase")[:20]


class ChainError(Exception):
    """A control or broadcast request the chain refuses; `code` is stable for clients."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class StateFileError(Exception):
    """The state file cannot be replayed onto the regtest genesis."""


@dataclass
class TxRecord:
    tx: Transaction
    raw: bytes
    fee: int
    height: int | None = None  # None while in the mempool
    scripthashes: frozenset[str] = frozenset()


@dataclass
class Block:
    header: BlockHeader
    raw_header: bytes
    hash: str
    txids: list[str]


@dataclass
class Changes:
    """What one operation changed, so the server notifies exactly the affected subscribers."""

    scripthashes: set[str] = field(default_factory=set)
    tip_changed: bool = False

    def merge(self, other: Changes) -> None:
        self.scripthashes |= other.scripthashes
        self.tip_changed = self.tip_changed or other.tip_changed


def _coinbase(height: int, script: bytes, value: int) -> Transaction:
    # BIP34 height push plus random bytes, so that a replacement block at the same height (reorg)
    # gets a different coinbase txid, hence a different merkle root and block hash.
    script_sig = push_data(height.to_bytes((height.bit_length() + 8) // 8, "little")) + push_data(
        secrets.token_bytes(8)
    )
    return Transaction(2, (TxIn("00" * 32, 0xFFFFFFFF, script_sig, 0xFFFFFFFF),), (TxOut(value, script),), 0)


def _fake_funding_input() -> TxIn:
    # A p2wpkh spend of a coin the simulator never shows: random prevout, signature-shaped witness.
    # Electrum deserializes but cannot (and does not try to) validate it.
    signature = b"\x30\x44\x02\x20" + secrets.token_bytes(32) + b"\x02\x20" + secrets.token_bytes(32) + b"\x01"
    pubkey = b"\x02" + secrets.token_bytes(32)
    return TxIn(secrets.token_bytes(32).hex(), 0, b"", 0xFFFFFFFD, (signature, pubkey))


def _vsize(tx: Transaction) -> int:
    base = len(tx.serialize(with_witness=False))
    total = len(tx.serialize())
    return (base * 3 + total + 3) // 4


def _check_amount(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_MONEY:
        raise ChainError("bad_amount", f"amount_sat must be an integer in 1..{MAX_MONEY}, got {value!r}")
    return value


def _check_txid(txid: Any) -> str:
    if not isinstance(txid, str) or len(txid) != 64:
        raise ChainError("bad_txid", "txid must be 64 hex characters")
    try:
        bytes.fromhex(txid)
    except ValueError:
        raise ChainError("bad_txid", "txid must be 64 hex characters")
    return txid.lower()


class Chain:
    def __init__(self, state_file: Path | None = None) -> None:
        self.blocks: list[Block] = []
        self.txs: dict[str, TxRecord] = {}
        self.mempool: dict[str, None] = {}  # insertion-ordered set; parents always precede children
        self.positions: dict[str, int] = {}  # confirmed txid -> index in its block
        self.by_scripthash: dict[str, set[str]] = {}
        self.spent_by: dict[tuple[str, int], str] = {}
        self.state_file = state_file
        self._pending: list[dict[str, Any]] = []
        self._changes = Changes()

        genesis = genesis_header()
        coinbase_raw = bytes.fromhex(GENESIS_COINBASE_HEX)
        self._index_tx(parse_transaction(coinbase_raw), coinbase_raw, 0, height=0)
        raw_header = genesis.serialize()
        self.blocks.append(Block(genesis, raw_header, genesis.hash, [genesis.merkle_root]))
        self.positions[genesis.merkle_root] = 0
        if state_file is not None:
            self._load(state_file)
        self._changes = Changes()

    # --- reads ----------------------------------------------------------------------------------

    @property
    def height(self) -> int:
        return len(self.blocks) - 1

    @property
    def tip(self) -> Block:
        return self.blocks[-1]

    def header_hex(self, height: int) -> str:
        return self.blocks[height].raw_header.hex()

    def headers_hex(self, start: int, count: int) -> str:
        return b"".join(block.raw_header for block in self.blocks[start : start + count]).hex()

    def header_merkle(self, height: int, cp_height: int) -> tuple[str, list[str]]:
        """Root over block hashes 0..cp_height and the branch for `height` (protocol 1.4 checkpoints)."""
        hashes = [block.hash for block in self.blocks[: cp_height + 1]]
        return merkle_root(hashes), merkle_branch(hashes, height)

    def get_raw_tx(self, txid: str) -> bytes | None:
        record = self.txs.get(txid.lower())
        return record.raw if record else None

    def _mempool_height(self, record: TxRecord) -> int:
        # Protocol: -1 when an input spends an unconfirmed output, else 0.
        return -1 if any(txin.prev_txid in self.mempool for txin in record.tx.inputs) else 0

    def history(self, scripthash: str) -> list[dict[str, Any]]:
        txids = self.by_scripthash.get(scripthash.lower(), set())
        confirmed = sorted(
            (self.txs[txid].height or 0, self.positions[txid], txid) for txid in txids if txid not in self.mempool
        )
        items: list[dict[str, Any]] = [{"tx_hash": txid, "height": height} for height, _, txid in confirmed]
        for txid in self.mempool:
            if txid in txids:
                record = self.txs[txid]
                items.append({"tx_hash": txid, "height": self._mempool_height(record), "fee": record.fee})
        return items

    def status(self, scripthash: str) -> str | None:
        return history_status([(item["tx_hash"], item["height"]) for item in self.history(scripthash)])

    def _outputs_to(self, scripthash: str) -> Iterable[tuple[str, int, TxOut, TxRecord]]:
        for txid in self.by_scripthash.get(scripthash.lower(), set()):
            record = self.txs[txid]
            for vout, txout in enumerate(record.tx.outputs):
                if scripthash_of(txout.script) == scripthash.lower():
                    yield txid, vout, txout, record

    def listunspent(self, scripthash: str) -> list[dict[str, Any]]:
        utxos = [
            {"tx_hash": txid, "tx_pos": vout, "height": record.height or 0, "value": txout.value}
            for txid, vout, txout, record in self._outputs_to(scripthash)
            if (txid, vout) not in self.spent_by
        ]
        # Confirmed first by height, mempool (height 0) last, as ElectrumX orders them.
        return sorted(utxos, key=lambda u: (u["height"] == 0, u["height"], u["tx_hash"], u["tx_pos"]))

    def balance(self, scripthash: str) -> dict[str, int]:
        confirmed = 0
        unconfirmed = 0
        for txid, vout, txout, record in self._outputs_to(scripthash):
            spender = self.spent_by.get((txid, vout))
            spent_in_mempool = spender is not None and spender in self.mempool
            if record.height is not None:
                # A confirmed coin counts as confirmed until a block spends it; a mempool spend of it
                # shows as a negative unconfirmed delta (ElectrumX semantics).
                if spender is None or spent_in_mempool:
                    confirmed += txout.value
                if spent_in_mempool:
                    unconfirmed -= txout.value
            elif spender is None:
                # A mempool coin spent again in the mempool nets to zero.
                unconfirmed += txout.value
        return {"confirmed": confirmed, "unconfirmed": unconfirmed}

    def merkle_proof(self, txid: str) -> dict[str, Any]:
        record = self.txs.get(txid.lower())
        if record is None or record.height is None:
            raise ChainError("not_confirmed", f"transaction {txid} is not in a block")
        block = self.blocks[record.height]
        pos = self.positions[txid.lower()]
        return {"block_height": record.height, "merkle": merkle_branch(block.txids, pos), "pos": pos}

    def tx_info(self, txid: str) -> dict[str, Any]:
        txid = _check_txid(txid)
        record = self.txs.get(txid)
        if record is None:
            raise ChainError("not_found", f"unknown transaction {txid}")
        confirmed = record.height is not None
        return {
            "txid": txid,
            "status": "confirmed" if confirmed else "mempool",
            "height": record.height if confirmed else self._mempool_height(record),
            "confirmations": self.height - record.height + 1 if record.height is not None else 0,
            "block_hash": self.blocks[record.height].hash if record.height is not None else None,
            "fee": record.fee,
            "hex": record.raw.hex(),
        }

    def info(self) -> dict[str, Any]:
        return {
            "network": "regtest",
            "genesis": self.blocks[0].hash,
            "height": self.height,
            "tip": self.tip.hash,
            "mempool": list(self.mempool),
        }

    # --- writes ---------------------------------------------------------------------------------

    def take_changes(self) -> Changes:
        changes, self._changes = self._changes, Changes()
        return changes

    def pay(self, outputs: Sequence[tuple[str, int]]) -> dict[str, Any]:
        """A new mempool tx paying `outputs` [(address, sat)] from a fake coin, plus a change output."""
        if not outputs:
            raise ChainError("bad_outputs", "at least one output is needed")
        if len(outputs) > MAX_OUTPUTS_PER_TX:
            raise ChainError("bad_outputs", f"at most {MAX_OUTPUTS_PER_TX} outputs per transaction")
        txouts = []
        for address, amount in outputs:
            if not isinstance(address, str):
                raise ChainError("bad_address", "address must be a string")
            try:
                script = address_to_script(address.strip(), "regtest")
            except DecodeError as exc:
                raise ChainError("bad_address", f"not a regtest address: {address!r} ({exc})")
            txouts.append(TxOut(_check_amount(amount), script))
        if sum(out.value for out in txouts) > MAX_MONEY:
            raise ChainError("bad_amount", "total amount exceeds 21M BTC")
        change = TxOut(COIN // 10 + secrets.randbelow(COIN // 10), b"\x00\x14" + secrets.token_bytes(20))
        # Put the change at a random position, like real wallets, so clients don't rely on vout order.
        change_pos = secrets.randbelow(len(txouts) + 1)
        all_outputs = txouts[:change_pos] + [change] + txouts[change_pos:]
        tx = Transaction(2, (_fake_funding_input(),), tuple(all_outputs), self.height)
        fee = _vsize(tx) * FEE_RATE_SAT_PER_VBYTE
        self._accept(tx, tx.serialize(), fee)
        self._commit()
        vouts = [i for i in range(len(all_outputs)) if i != change_pos]
        return {
            "txid": tx.txid,
            "vout": vouts[0],
            "hex": tx.serialize().hex(),
            "fee": fee,
            "outputs": [
                {"address": address, "amount_sat": amount, "vout": vout}
                for (address, amount), vout in zip(outputs, vouts, strict=True)
            ],
        }

    def broadcast(self, raw: bytes) -> str:
        """Accept a client-made transaction into the mempool (blockchain.transaction.broadcast)."""
        if len(raw) > MAX_TX_SIZE:
            raise ChainError("tx_too_large", "transaction too large")
        try:
            tx = parse_transaction(raw)
        except DecodeError as exc:
            raise ChainError("tx_decode_failed", f"TX decode failed: {exc}")
        if tx.is_coinbase:
            raise ChainError("coinbase", "coinbase transactions cannot be broadcast")
        if tx.txid in self.txs:
            if tx.txid in self.mempool:
                return tx.txid  # re-broadcast of a mempool tx is harmless; Electrum retries
            raise ChainError("already_confirmed", "transaction already in block chain")
        input_total = 0
        inputs_known = True
        seen = set()
        for txin in tx.inputs:
            outpoint = (txin.prev_txid, txin.prev_vout)
            if outpoint in seen:
                raise ChainError("duplicate_inputs", "bad-txns-inputs-duplicate")
            seen.add(outpoint)
            if outpoint in self.spent_by:
                raise ChainError("conflict", f"txn-mempool-conflict: {txin.prev_txid}:{txin.prev_vout} already spent")
            parent = self.txs.get(txin.prev_txid)
            if parent is None:
                # Coins from outside the simulated chain (the fake funding inputs) are accepted as is.
                inputs_known = False
                continue
            if txin.prev_vout >= len(parent.tx.outputs):
                raise ChainError("missing_inputs", "bad-txns-inputs-missingorspent")
            input_total += parent.tx.outputs[txin.prev_vout].value
        output_total = sum(out.value for out in tx.outputs)
        fee = input_total - output_total if inputs_known else 0
        if fee < 0:
            raise ChainError("negative_fee", "bad-txns-in-belowout")
        self._accept(tx, raw, fee)
        self._commit()
        return tx.txid

    def _accept(self, tx: Transaction, raw: bytes, fee: int) -> None:
        if len(self.mempool) >= MAX_MEMPOOL_TXS:
            raise ChainError("mempool_full", f"mempool is full ({MAX_MEMPOOL_TXS} transactions); mine a block")
        self._record({"op": "tx", "hex": raw.hex(), "fee": fee})

    def mine(self, blocks: int = 1, address: str | None = None) -> dict[str, Any]:
        if isinstance(blocks, bool) or not isinstance(blocks, int) or not 1 <= blocks <= MAX_BLOCKS_PER_CALL:
            raise ChainError("bad_blocks", f"blocks must be an integer in 1..{MAX_BLOCKS_PER_CALL}")
        script = DEFAULT_COINBASE_SCRIPT
        if address is not None:
            try:
                script = address_to_script(str(address).strip(), "regtest")
            except DecodeError as exc:
                raise ChainError("bad_address", f"not a regtest address: {address!r} ({exc})")
        hashes = []
        for _ in range(blocks):
            hashes.append(self._mine_block(list(self.mempool), script))
        self._commit()
        return {"height": self.height, "hashes": hashes}

    def drop(self, txid: str) -> dict[str, Any]:
        txid = _check_txid(txid)
        if txid not in self.txs:
            raise ChainError("not_found", f"unknown transaction {txid}")
        if txid not in self.mempool:
            raise ChainError("confirmed", f"transaction {txid} is confirmed; use reorg to remove it")
        dropped = self._drop_with_descendants(txid)
        self._commit()
        return {"dropped": dropped}

    def reorg(
        self,
        depth: int = 1,
        keep_txs: bool = True,
        drop_txids: Sequence[str] = (),
        blocks: int | None = None,
    ) -> dict[str, Any]:
        """Replace the last `depth` blocks by `blocks` (default `depth`) new ones.

        keep_txs: the disconnected transactions are mined again at the same heights (only the block
        hashes change, so clients must re-verify); otherwise they go back to the mempool. Transactions in
        `drop_txids` vanish entirely (as if double-spent), with their mempool descendants.
        """
        if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= min(self.height, MAX_REORG_DEPTH):
            raise ChainError("bad_depth", f"depth must be an integer in 1..{min(self.height, MAX_REORG_DEPTH)}")
        new_count = depth if blocks is None else blocks
        if isinstance(new_count, bool) or not isinstance(new_count, int) or not 1 <= new_count <= MAX_BLOCKS_PER_CALL:
            raise ChainError("bad_blocks", f"blocks must be an integer in 1..{MAX_BLOCKS_PER_CALL}")
        to_drop = {_check_txid(txid) for txid in drop_txids}
        old_blocks = self.blocks[-depth:]
        disconnected_txs = [txid for block in old_blocks for txid in block.txids[1:]]
        unknown = to_drop - set(disconnected_txs) - set(self.mempool)
        if unknown:
            raise ChainError("not_found", f"not in the reorged blocks or the mempool: {sorted(unknown)}")
        for _ in range(depth):
            self._record({"op": "disconnect"})
        dropped: list[str] = []
        for txid in sorted(to_drop):
            if txid in self.mempool:
                dropped += self._drop_with_descendants(txid)
        hashes = []
        for i in range(new_count):
            if keep_txs and i < depth:
                txids = [txid for txid in old_blocks[i].txids[1:] if txid in self.mempool]
            else:
                txids = []
            hashes.append(self._mine_block(txids, DEFAULT_COINBASE_SCRIPT))
        self._commit()
        return {
            "height": self.height,
            "hashes": hashes,
            "disconnected": [block.hash for block in old_blocks],
            "dropped": dropped,
            "mempool": list(self.mempool),
        }

    def _mine_block(self, txids: list[str], script: bytes) -> str:
        height = self.height + 1
        fees = sum(self.txs[txid].fee for txid in txids)
        coinbase = _coinbase(height, script, block_subsidy(height) + fees)
        all_txids = [coinbase.txid, *txids]
        header = BlockHeader(
            version=0x20000000,
            prev_hash=self.tip.hash,
            merkle_root=merkle_root(all_txids),
            timestamp=max(self.tip.header.timestamp + 1, int(time.time())),
            bits=REGTEST_BITS,
            nonce=0,
        )
        # Real regtest proof of work: about two tries on average at this target.
        target = bits_to_target(REGTEST_BITS)
        raw = header.serialize()
        nonce = 0
        while int.from_bytes(sha256d(raw)[::-1], "big") > target:
            nonce += 1
            raw = raw[:76] + struct.pack("<I", nonce)
        self._record({"op": "block", "header": raw.hex(), "coinbase": coinbase.serialize().hex(), "txids": txids})
        return self.tip.hash

    def _drop_with_descendants(self, txid: str) -> list[str]:
        dropped = self._descendants(txid)
        for item in reversed(dropped):
            self._record({"op": "drop", "txid": item})
        return dropped

    # --- the single mutation path -----------------------------------------------------------------

    def _record(self, record: dict[str, Any]) -> None:
        self._apply(record)
        self._pending.append(record)

    def _apply(self, record: dict[str, Any]) -> None:
        op = record["op"]
        if op == "tx":
            raw = bytes.fromhex(record["hex"])
            tx = parse_transaction(raw)
            self._index_tx(tx, raw, int(record["fee"]), height=None)
        elif op == "block":
            self._connect_block(record)
        elif op == "drop":
            self._unindex_tx(record["txid"])
        elif op == "disconnect":
            self._disconnect_block()
        else:
            raise StateFileError(f"unknown record {op!r}")

    def _index_tx(self, tx: Transaction, raw: bytes, fee: int, *, height: int | None) -> None:
        txid = tx.txid
        touched = {scripthash_of(out.script) for out in tx.outputs}
        for txin in tx.inputs:
            parent = self.txs.get(txin.prev_txid)
            if parent is not None and txin.prev_vout < len(parent.tx.outputs):
                touched.add(scripthash_of(parent.tx.outputs[txin.prev_vout].script))
            if not txin.is_coinbase:
                self.spent_by[(txin.prev_txid, txin.prev_vout)] = txid
        self.txs[txid] = TxRecord(tx, raw, fee, height, frozenset(touched))
        if height is None:
            self.mempool[txid] = None
        for scripthash in touched:
            self.by_scripthash.setdefault(scripthash, set()).add(txid)
        self._changes.scripthashes |= touched

    def _unindex_tx(self, txid: str) -> None:
        record = self.txs.pop(txid)
        self.mempool.pop(txid, None)
        self.positions.pop(txid, None)
        for txin in record.tx.inputs:
            if self.spent_by.get((txin.prev_txid, txin.prev_vout)) == txid:
                del self.spent_by[(txin.prev_txid, txin.prev_vout)]
        for scripthash in record.scripthashes:
            txids = self.by_scripthash[scripthash]
            txids.discard(txid)
            if not txids:
                del self.by_scripthash[scripthash]
        self._changes.scripthashes |= record.scripthashes

    def _connect_block(self, record: dict[str, Any]) -> None:
        raw_header = bytes.fromhex(record["header"])
        header = parse_header(raw_header)
        if header.prev_hash != self.tip.hash:
            raise StateFileError(f"block {header.hash} does not extend the tip {self.tip.hash}")
        height = self.height + 1
        coinbase_raw = bytes.fromhex(record["coinbase"])
        coinbase = parse_transaction(coinbase_raw)
        txids = [coinbase.txid, *record["txids"]]
        missing = [txid for txid in record["txids"] if txid not in self.mempool]
        if missing:
            raise StateFileError(f"block {header.hash} includes transactions not in the mempool: {missing}")
        if merkle_root(txids) != header.merkle_root:
            raise StateFileError(f"block {header.hash} has a wrong merkle root")
        self._index_tx(coinbase, coinbase_raw, 0, height=height)
        for pos, txid in enumerate(txids):
            if pos:
                del self.mempool[txid]
                self.txs[txid].height = height
                self._changes.scripthashes |= self.txs[txid].scripthashes
            self.positions[txid] = pos
        self.blocks.append(Block(header, raw_header, header.hash, txids))
        self._changes.tip_changed = True

    def _disconnect_block(self) -> None:
        if self.height == 0:
            raise StateFileError("cannot disconnect the genesis block")
        block = self.blocks.pop()
        coinbase_txid, *txids = block.txids
        # Whatever spends the coinbase (only possible via broadcast) cannot outlive it.
        spenders = [
            spender
            for (prev_txid, _), spender in self.spent_by.items()
            if prev_txid == coinbase_txid and spender in self.mempool
        ]
        for spender in spenders:
            if spender in self.txs:
                for txid in reversed(self._descendants(spender)):
                    self._unindex_tx(txid)
        self._unindex_tx(coinbase_txid)
        # Back to the mempool, ahead of what is there, so that parents still precede children.
        returned = dict.fromkeys(txids)
        for txid in txids:
            self.txs[txid].height = None
            self.positions.pop(txid, None)
            self._changes.scripthashes |= self.txs[txid].scripthashes
        self.mempool = {**returned, **self.mempool}
        self._changes.tip_changed = True

    def _descendants(self, txid: str) -> list[str]:
        """`txid` and every mempool tx depending on it, parents first."""
        found = [txid]
        # Children always follow their parents in the mempool order, so one forward pass finds them all.
        doomed = {txid}
        for candidate in self.mempool:
            if candidate not in doomed and any(txin.prev_txid in doomed for txin in self.txs[candidate].tx.inputs):
                doomed.add(candidate)
                found.append(candidate)
        return found

    # --- persistence ------------------------------------------------------------------------------

    def _commit(self) -> None:
        records, self._pending = self._pending, []
        if self.state_file is None or not records:
            return
        data = "".join(json.dumps(record, separators=(",", ":")) + "\n" for record in records)
        with self.state_file.open("a", encoding="ascii") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())

    def _load(self, path: Path) -> None:
        if path.exists():
            lines = path.read_text(encoding="ascii").splitlines()
            for number, line in enumerate(lines, start=1):
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    if number == len(lines):
                        # A crash mid-append leaves a torn last line; everything before it is intact.
                        logger.warning("ignoring torn last line %d of %s", number, path)
                        break
                    raise StateFileError(f"{path}:{number}: not JSON")
                try:
                    self._apply(record)
                except (KeyError, TypeError, ValueError, DecodeError) as exc:
                    raise StateFileError(f"{path}:{number}: bad record: {exc!r}")
            logger.info("restored %d blocks and %d mempool txs from %s", self.height, len(self.mempool), path)
        self._compact(path)

    def _compact(self, path: Path) -> None:
        """Rewrite the log as the minimal records for the current state (drops and reorgs vanish)."""
        lines = []
        for block in self.blocks[1:]:
            coinbase_txid, *txids = block.txids
            for txid in txids:
                record = self.txs[txid]
                lines.append({"op": "tx", "hex": record.raw.hex(), "fee": record.fee})
            lines.append(
                {
                    "op": "block",
                    "header": block.raw_header.hex(),
                    "coinbase": self.txs[coinbase_txid].raw.hex(),
                    "txids": txids,
                }
            )
        for txid in self.mempool:
            lines.append({"op": "tx", "hex": self.txs[txid].raw.hex(), "fee": self.txs[txid].fee})
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("w", encoding="ascii") as handle:
            handle.write("".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
