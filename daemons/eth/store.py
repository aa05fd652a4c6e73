"""SQLite: the block cursor and recent block hashes, wallets, requests and the payments found.

One scan step (blocks, payments, cursor) is one transaction, so a restart resumes exactly after the last
committed block: nothing skipped, nothing scanned twice. Integers beyond int64 (wei) are stored as text.
"""

import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (number INTEGER PRIMARY KEY, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS wallets (address TEXT PRIMARY KEY, added INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS requests (
    request_id TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    asset TEXT NOT NULL,
    tag INTEGER NOT NULL,
    amount TEXT NOT NULL,
    requested TEXT NOT NULL,
    memo TEXT NOT NULL,
    created INTEGER NOT NULL,
    expiry INTEGER NOT NULL,
    live_until INTEGER,
    live INTEGER NOT NULL DEFAULT 1,
    status INTEGER NOT NULL DEFAULT 0,
    sent TEXT NOT NULL DEFAULT '0',
    tx_hashes TEXT NOT NULL DEFAULT '[]',
    confirmations INTEGER,
    late INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS requests_live_tag ON requests (address, asset, tag) WHERE live = 1;
CREATE INDEX IF NOT EXISTS requests_live_until ON requests (live_until) WHERE live = 1;
CREATE INDEX IF NOT EXISTS requests_tag ON requests (address, asset, tag, created);
CREATE TABLE IF NOT EXISTS payments (
    tx_hash TEXT NOT NULL,
    log_index INTEGER NOT NULL,
    block_number INTEGER NOT NULL,
    block_hash TEXT NOT NULL,
    block_time INTEGER NOT NULL,
    address TEXT NOT NULL,
    asset TEXT NOT NULL,
    sender TEXT NOT NULL,
    value TEXT NOT NULL,
    tag INTEGER NOT NULL,
    request_id TEXT,
    PRIMARY KEY (tx_hash, log_index)
);
CREATE INDEX IF NOT EXISTS payments_request ON payments (request_id);
CREATE INDEX IF NOT EXISTS payments_block ON payments (block_number);
"""


@dataclass
class Request:
    request_id: str
    address: str
    asset: str
    tag: int
    amount: int
    requested: int
    memo: str
    created: int
    expiry: int
    live_until: int | None
    status: int = 0
    sent: int = 0
    tx_hashes: list[str] = field(default_factory=list)
    confirmations: int | None = None
    late: bool = False

    @property
    def expires_at(self) -> int | None:
        return self.created + self.expiry if self.expiry else None


@dataclass(frozen=True)
class Payment:
    tx_hash: str
    log_index: int  # -1 for a native ETH transfer (the transaction's value)
    block_number: int
    block_hash: str
    block_time: int
    address: str
    asset: str
    sender: str
    value: int
    tag: int
    request_id: str | None


class Store:
    def __init__(self, path: Path):
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")  # a committed cursor must survive a power cut
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    # meta

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = ?", (key, value, value)
        )

    def cursor(self) -> int | None:
        value = self.get_meta("cursor")
        return int(value) if value is not None else None

    def chain_id(self) -> int | None:
        value = self.get_meta("chain_id")
        return int(value) if value is not None else None

    # blocks

    def block_hash(self, number: int) -> str | None:
        row = self.db.execute("SELECT hash FROM blocks WHERE number = ?", (number,)).fetchone()
        return row[0] if row else None

    def recent_blocks(self) -> list[tuple[int, str]]:
        return [(r[0], r[1]) for r in self.db.execute("SELECT number, hash FROM blocks ORDER BY number DESC")]

    def start(self, number: int, block_hash: str, chain_id: int) -> None:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("INSERT OR REPLACE INTO blocks (number, hash) VALUES (?, ?)", (number, block_hash))
            self.set_meta("cursor", str(number))
            self.set_meta("chain_id", str(chain_id))

    def commit_scan(
        self, blocks: list[tuple[int, str]], payments: list[Payment], cursor: int, keep: int
    ) -> list[Payment]:
        """Record a scanned range atomically; returns the payments that were new."""
        new = []
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("INSERT OR REPLACE INTO blocks (number, hash) VALUES (?, ?)", blocks)
            for p in payments:
                cur = self.db.execute(
                    "INSERT OR IGNORE INTO payments (tx_hash, log_index, block_number, block_hash, block_time, address,"
                    " asset, sender, value, tag, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        p.tx_hash,
                        p.log_index,
                        p.block_number,
                        p.block_hash,
                        p.block_time,
                        p.address,
                        p.asset,
                        p.sender,
                        str(p.value),
                        p.tag,
                        p.request_id,
                    ),
                )
                if cur.rowcount:
                    new.append(p)
            self.db.execute("DELETE FROM blocks WHERE number <= ?", (cursor - keep,))
            self.set_meta("cursor", str(cursor))
        return new

    def rollback(self, fork: int) -> list[Payment]:
        """Forget everything above block `fork` (a reorg); returns the payments dropped."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            dropped = [
                self._payment(r) for r in self.db.execute("SELECT * FROM payments WHERE block_number > ?", (fork,))
            ]
            self.db.execute("DELETE FROM payments WHERE block_number > ?", (fork,))
            self.db.execute("DELETE FROM blocks WHERE number > ?", (fork,))
            self.set_meta("cursor", str(fork))
        return dropped

    # wallets

    def add_wallet(self, address: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO wallets (address, added) VALUES (?, ?)", (address, int(time.time())))

    def wallets(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT address FROM wallets")]

    # requests

    def live_tags(self, address: str, asset: str) -> set[int]:
        rows = self.db.execute(
            "SELECT tag FROM requests WHERE address = ? AND asset = ? AND live = 1", (address, asset)
        )
        return {r[0] for r in rows}

    def insert_request(self, request: Request) -> None:
        self.db.execute(
            "INSERT INTO requests (request_id, address, asset, tag, amount, requested, memo, created, expiry,"
            " live_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                request.request_id,
                request.address,
                request.asset,
                request.tag,
                str(request.amount),
                str(request.requested),
                request.memo,
                request.created,
                request.expiry,
                request.live_until,
            ),
        )

    def request_for_payment(self, address: str, asset: str, tag: int, block_time: int, slack: int) -> Request | None:
        """The request that held this tag when the block was made: created before it (give or take `slack`
        seconds of clock difference) and still in its watch window at that time.

        Judged by the block's time, not by whether the request is live now, so a payment scanned late (the
        daemon or its node was down past the window) goes to the same request as if scanned at once. A tag is
        handed out again only after its holder's window ended, so these intervals do not overlap (but for the
        slack, where the request created before the block wins).
        """
        row = self.db.execute(
            "SELECT * FROM requests WHERE address = ? AND asset = ? AND tag = ? AND created <= ?"
            " AND (live_until IS NULL OR live_until >= ?) ORDER BY created <= ? DESC, created DESC LIMIT 1",
            (address, asset, tag, block_time + slack, block_time, block_time),
        ).fetchone()
        return self._request(row) if row else None

    def get_request(self, request_id: str) -> Request | None:
        row = self.db.execute("SELECT * FROM requests WHERE request_id = ?", (request_id,)).fetchone()
        return self._request(row) if row else None

    def update_request(self, request: Request) -> None:
        self.db.execute(
            "UPDATE requests SET status = ?, sent = ?, tx_hashes = ?, confirmations = ?, late = ? WHERE request_id = ?",
            (
                request.status,
                str(request.sent),
                json.dumps(request.tx_hashes),
                request.confirmations,
                int(request.late),
                request.request_id,
            ),
        )

    def expire_live(self, now: int) -> int:
        """Free the tags of requests past their watch window."""
        return self.db.execute(
            "UPDATE requests SET live = 0 WHERE live = 1 AND live_until IS NOT NULL AND live_until < ?", (now,)
        ).rowcount

    def request_payments(self, request_id: str) -> list[Payment]:
        rows = self.db.execute(
            "SELECT * FROM payments WHERE request_id = ? ORDER BY block_number, log_index", (request_id,)
        )
        return [self._payment(r) for r in rows]

    def requests_payments(self, address: str, request_ids: list[str]) -> tuple[int | None, dict[str, list[Payment]]]:
        """The cursor and, for each of `request_ids` that is a request of `address`, the payments attributed to
        it (oldest first); ids of other wallets or of no request are absent.

        One statement, so the cursor and the payments come from one snapshot (a scan commits both at once, and
        a rollback deletes the payments above the cursor it sets): every payment is at or below the cursor.
        Driven by the ids (json_each), then the requests' primary key and payments_request: a lookup per id,
        however many requests the wallet has.
        """
        rows = self.db.execute(
            "SELECT s.cursor, r.request_id AS owned, p.*"
            " FROM (SELECT (SELECT value FROM meta WHERE key = 'cursor') AS cursor) AS s"
            " LEFT JOIN json_each(?) AS asked"
            " LEFT JOIN requests AS r ON r.request_id = asked.value AND r.address = ?"
            " LEFT JOIN payments AS p ON p.request_id = r.request_id"
            " ORDER BY p.block_number, p.log_index",
            (json.dumps(request_ids), address),
        ).fetchall()
        cursor = rows[0]["cursor"]  # the constant row makes at least one row
        found: dict[str, list[Payment]] = {}
        for row in rows:
            if row["owned"] is not None:
                payments = found.setdefault(row["owned"], [])
                if row["tx_hash"] is not None:
                    payments.append(self._payment(row))
        return (int(cursor) if cursor is not None else None), found

    def unattributed(self, address: str, limit: int) -> list[Payment]:
        rows = self.db.execute(
            "SELECT * FROM payments WHERE address = ? AND request_id IS NULL ORDER BY block_number DESC LIMIT ?",
            (address, limit),
        )
        return [self._payment(r) for r in rows]

    def payments_for(self, address: str, limit: int) -> list[Payment]:
        rows = self.db.execute(
            "SELECT * FROM payments WHERE address = ? ORDER BY block_number DESC, log_index DESC LIMIT ?",
            (address, limit),
        )
        return [self._payment(r) for r in rows]

    def payment_by_tx(self, tx_hash: str) -> list[Payment]:
        return [self._payment(r) for r in self.db.execute("SELECT * FROM payments WHERE tx_hash = ?", (tx_hash,))]

    @staticmethod
    def _request(row: sqlite3.Row) -> Request:
        return Request(
            request_id=row["request_id"],
            address=row["address"],
            asset=row["asset"],
            tag=row["tag"],
            amount=int(row["amount"]),
            requested=int(row["requested"]),
            memo=row["memo"],
            created=row["created"],
            expiry=row["expiry"],
            live_until=row["live_until"],
            status=row["status"],
            sent=int(row["sent"]),
            tx_hashes=json.loads(row["tx_hashes"]),
            confirmations=row["confirmations"],
            late=bool(row["late"]),
        )

    @staticmethod
    def _payment(row: sqlite3.Row) -> Payment:
        return Payment(
            tx_hash=row["tx_hash"],
            log_index=row["log_index"],
            block_number=row["block_number"],
            block_hash=row["block_hash"],
            block_time=row["block_time"],
            address=row["address"],
            asset=row["asset"],
            sender=row["sender"],
            value=int(row["value"]),
            tag=row["tag"],
            request_id=row["request_id"],
        )
