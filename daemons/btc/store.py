"""The daemon's own state in SQLite: watched addresses, SDK payment requests, index counters, config.

Why not Electrum's wallet file: Electrum 4.3.4 rewrites the whole JSON wallet on every `add_request` and
keeps every request and transaction of the wallet's life in it, so request creation slows down with
history. Here a request is one indexed INSERT, and the set of addresses handed to Electrum is exactly the
watched set (open invoices + monitoring window), which is bounded no matter how long the daemon runs.

All calls happen on the event-loop thread; each write is one short transaction (WAL, synchronous=NORMAL:
durable across a process crash, which is what a SIGKILLed daemon needs).
"""

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

SCHEMA_VERSION = 1
# Sized for 100k+ requests per wallet: integer wallet ids instead of the 111-char xpub in every key, and
# requests keyed by (wallet, index), which only ever appends. Per request only two B-trees take a write at
# a random position (requests_address and watched), which keeps the pages touched per INSERT constant.
SCHEMA = """
CREATE TABLE IF NOT EXISTS wallets (
    id INTEGER PRIMARY KEY,
    xpub TEXT NOT NULL UNIQUE,
    next_index INTEGER NOT NULL DEFAULT 0,      -- next index the daemon hands to an SDK request
    reserved_floor INTEGER NOT NULL DEFAULT 0   -- 1 + highest index registered through watch_addresses
);
CREATE TABLE IF NOT EXISTS watched (
    wallet_id INTEGER NOT NULL,
    address TEXT NOT NULL,
    idx INTEGER,
    until REAL,                                 -- unix time after which it is dropped; NULL = while open
    source TEXT NOT NULL,                       -- 'watch' (Django) | 'request' (SDK add_request)
    PRIMARY KEY (wallet_id, address)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS watched_until ON watched (until) WHERE until IS NOT NULL;
CREATE TABLE IF NOT EXISTS requests (
    wallet_id INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    address TEXT NOT NULL,
    amount_sat INTEGER,                         -- NULL: any amount
    memo TEXT NOT NULL,
    created INTEGER NOT NULL,
    expiry INTEGER NOT NULL,                    -- seconds; 0 = never
    expires_at INTEGER,
    status INTEGER NOT NULL,
    tx_hashes TEXT NOT NULL DEFAULT '[]',
    sent_sat INTEGER NOT NULL DEFAULT 0,
    confirmations INTEGER,
    PRIMARY KEY (wallet_id, idx)
);
CREATE UNIQUE INDEX IF NOT EXISTS requests_address ON requests (address);
CREATE INDEX IF NOT EXISTS requests_open ON requests (expires_at) WHERE status = 0;
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_CHUNK = 500  # stays under SQLite's bound-parameter limit


@dataclass
class Request:
    request_id: str
    xpub: str
    address: str
    idx: int
    amount_sat: int | None
    memo: str
    created: int
    expiry: int
    expires_at: int | None
    status: int
    tx_hashes: list[str]
    sent_sat: int
    confirmations: int | None


@dataclass(frozen=True)
class WatchEntry:
    address: str
    index: int | None
    until: float | None


def _chunks(items: Sequence, size: int = _CHUNK) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class StoreError(Exception):
    pass


def request_id(xpub: str, index: int) -> str:
    """Opaque to clients, but it names its index, so lookups by id use the (wallet, index) key."""
    tag = hashlib.sha256(f"{xpub}:{index}".encode()).hexdigest()[:8]
    return f"{index:x}-{tag}"


def _parse_request_id(xpub: str, key: str) -> int | None:
    head, _, _tag = key.partition("-")
    try:
        index = int(head, 16) if 0 < len(head) <= 8 else None
    except ValueError:
        return None
    return index if index is not None and request_id(xpub, index) == key else None


class Store:
    def __init__(self, path: Path):
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=5)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA cache_size=-32768")  # 32 MB: the hot index pages of a 100k-request wallet
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        tables = self.conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
        if version != SCHEMA_VERSION and tables:
            raise StoreError(f"{path} has schema version {version}, this daemon needs {SCHEMA_VERSION}")
        self.conn.executescript(SCHEMA)
        self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self._wallet_ids: dict[str, int] = {}

    def close(self) -> None:
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.conn.close()

    def _tx(self):
        # a rolled-back transaction may have inserted a wallet row whose id was cached
        return _Transaction(self.conn, on_rollback=self._wallet_ids.clear)

    def _wallet_id(self, xpub: str, *, create: bool = True) -> int | None:
        wallet_id = self._wallet_ids.get(xpub)
        if wallet_id is None:
            row = self.conn.execute("SELECT id FROM wallets WHERE xpub = ?", (xpub,)).fetchone()
            if row is None:
                if not create:
                    return None
                row = (self.conn.execute("INSERT INTO wallets (xpub) VALUES (?)", (xpub,)).lastrowid,)
            wallet_id = self._wallet_ids[xpub] = row[0]
        return wallet_id

    # wallets and watched addresses

    def watched_by_xpub(self) -> dict[str, list[tuple[str, int | None, float | None, str]]]:
        out: dict[str, list] = {}
        for xpub, address, idx, until, source in self.conn.execute(
            "SELECT w.xpub, a.address, a.idx, a.until, a.source FROM watched a JOIN wallets w ON w.id = a.wallet_id"
        ):
            out.setdefault(xpub, []).append((address, idx, until, source))
        return out

    def watch(self, xpub: str, entries: Sequence[WatchEntry]) -> list[int]:
        """Upsert Django-registered addresses; returns indexes that an SDK request already holds."""
        conflicts: list[int] = []
        indexes = sorted({e.index for e in entries if e.index is not None})
        with self._tx():
            wallet_id = self._wallet_id(xpub)
            for chunk in _chunks(indexes):
                marks = ",".join("?" * len(chunk))
                conflicts += [
                    row[0]
                    for row in self.conn.execute(
                        f"SELECT idx FROM requests WHERE wallet_id = ? AND idx IN ({marks})", (wallet_id, *chunk)
                    )
                ]
            self.conn.executemany(
                "INSERT INTO watched (wallet_id, address, idx, until, source) VALUES (?, ?, ?, ?, 'watch') "
                "ON CONFLICT (wallet_id, address) DO UPDATE SET until = excluded.until, "
                "idx = coalesce(excluded.idx, watched.idx)",
                [(wallet_id, e.address, e.index, e.until) for e in entries],
            )
            if indexes:
                self.conn.execute(
                    "UPDATE wallets SET reserved_floor = max(reserved_floor, ?) WHERE id = ?",
                    (indexes[-1] + 1, wallet_id),
                )
        return conflicts

    def unwatch(self, xpub: str, addresses: Sequence[str]) -> int:
        wallet_id = self._wallet_id(xpub, create=False)
        if wallet_id is None:
            return 0
        removed = 0
        with self._tx():
            for chunk in _chunks(addresses):
                marks = ",".join("?" * len(chunk))
                removed += self.conn.execute(
                    f"DELETE FROM watched WHERE wallet_id = ? AND address IN ({marks})", (wallet_id, *chunk)
                ).rowcount
        return removed

    def expire_watched(self, now: float, limit: int = 10_000) -> list[tuple[str, str]]:
        rows = self.conn.execute(
            "SELECT a.wallet_id, w.xpub, a.address FROM watched a JOIN wallets w ON w.id = a.wallet_id "
            "WHERE a.until IS NOT NULL AND a.until < ? LIMIT ?",
            (now, limit),
        ).fetchall()
        if rows:
            with self._tx():
                self.conn.executemany(
                    "DELETE FROM watched WHERE wallet_id = ? AND address = ?", [(r[0], r[2]) for r in rows]
                )
        return [(xpub, address) for _id, xpub, address in rows]

    def watched_count(self, xpub: str) -> int:
        wallet_id = self._wallet_id(xpub, create=False)
        if wallet_id is None:
            return 0
        return self.conn.execute("SELECT count(*) FROM watched WHERE wallet_id = ?", (wallet_id,)).fetchone()[0]

    def watched_list(self, xpub: str, limit: int, offset: int) -> list[dict]:
        wallet_id = self._wallet_id(xpub, create=False)
        return [
            {"address": a, "index": i, "until": u, "source": s}
            for a, i, u, s in self.conn.execute(
                "SELECT address, idx, until, source FROM watched WHERE wallet_id = ? ORDER BY idx LIMIT ? OFFSET ?",
                (wallet_id, limit, offset),
            )
        ]

    # SDK payment requests

    def create_request(
        self,
        *,
        xpub: str,
        derive: Callable[[int], str],
        amount_sat: int | None,
        memo: str,
        expiry: int,
        watch_until: float | None,
        now: int | None = None,
    ) -> Request:
        """Bind the next never-used index of `xpub` to a new request and watch its address.

        The index comes from a per-wallet counter that only grows and starts above every index Django
        registered, so no address is handed out twice; the (wallet, index) key and UNIQUE(address) back that up.
        """
        now = int(time.time()) if now is None else now
        with self._tx():
            wallet_id = self._wallet_id(xpub)
            next_index, floor = self.conn.execute(
                "SELECT next_index, reserved_floor FROM wallets WHERE id = ?", (wallet_id,)
            ).fetchone()
            idx = max(next_index, floor)
            address = derive(idx)
            request = Request(
                request_id=request_id(xpub, idx),
                xpub=xpub,
                address=address,
                idx=idx,
                amount_sat=amount_sat,
                memo=memo,
                created=now,
                expiry=expiry,
                expires_at=now + expiry if expiry else None,
                status=0,
                tx_hashes=[],
                sent_sat=0,
                confirmations=None,
            )
            self.conn.execute(
                "INSERT INTO requests (wallet_id, idx, address, amount_sat, memo, created, expiry, expires_at, status) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
                (wallet_id, idx, address, amount_sat, memo, now, expiry, request.expires_at),
            )
            self.conn.execute(
                "INSERT INTO watched (wallet_id, address, idx, until, source) VALUES (?, ?, ?, ?, 'request') "
                "ON CONFLICT (wallet_id, address) DO UPDATE SET until = excluded.until",
                (wallet_id, address, idx, watch_until),
            )
            self.conn.execute("UPDATE wallets SET next_index = ? WHERE id = ?", (idx + 1, wallet_id))
        return request

    _REQUEST_COLUMNS = (
        "w.xpub, r.address, r.idx, r.amount_sat, r.memo, r.created, r.expiry, r.expires_at, r.status, "
        "r.tx_hashes, r.sent_sat, r.confirmations FROM requests r JOIN wallets w ON w.id = r.wallet_id"
    )

    @staticmethod
    def _request(row) -> Request:
        xpub, address, idx, amount, memo, created, expiry, expires_at, status, tx_hashes, sent, conf = row
        return Request(
            request_id(xpub, idx),
            xpub,
            address,
            idx,
            amount,
            memo,
            created,
            expiry,
            expires_at,
            status,
            json.loads(tx_hashes),
            sent,
            conf,
        )

    def get_request(self, xpub: str, key: str) -> Request | None:
        wallet_id = self._wallet_id(xpub, create=False)
        if wallet_id is None:
            return None
        index = _parse_request_id(xpub, key)
        if index is not None:
            row = self.conn.execute(
                f"SELECT {self._REQUEST_COLUMNS} WHERE r.wallet_id = ? AND r.idx = ?", (wallet_id, index)
            ).fetchone()
        else:
            row = self.conn.execute(
                f"SELECT {self._REQUEST_COLUMNS} WHERE r.address = ? AND r.wallet_id = ?", (key, wallet_id)
            ).fetchone()
        return self._request(row) if row else None

    def request_for_address(self, address: str) -> Request | None:
        row = self.conn.execute(f"SELECT {self._REQUEST_COLUMNS} WHERE r.address = ?", (address,)).fetchone()
        return self._request(row) if row else None

    def update_request(self, request: Request) -> None:
        with self._tx():
            self.conn.execute(
                "UPDATE requests SET status = ?, tx_hashes = ?, sent_sat = ?, confirmations = ? "
                "WHERE wallet_id = ? AND idx = ?",
                (
                    request.status,
                    json.dumps(request.tx_hashes),
                    request.sent_sat,
                    request.confirmations,
                    self._wallet_id(request.xpub),
                    request.idx,
                ),
            )

    def next_request_expiry(self) -> int | None:
        """The earliest deadline of an unpaid request (the partial index requests_open makes it one seek)."""
        return self.conn.execute("SELECT min(expires_at) FROM requests WHERE status = 0").fetchone()[0]

    def expire_requests(self, now: float, limit: int = 1000) -> list[Request]:
        rows = self.conn.execute(
            f"SELECT r.wallet_id, {self._REQUEST_COLUMNS} WHERE r.status = 0 AND r.expires_at < ? LIMIT ?",
            (now, limit),
        ).fetchall()
        if rows:
            with self._tx():
                self.conn.executemany(
                    "UPDATE requests SET status = 1 WHERE wallet_id = ? AND idx = ? AND status = 0",
                    [(row[0], row[3]) for row in rows],
                )
        expired = [self._request(row[1:]) for row in rows]
        for request in expired:
            request.status = 1
        return expired

    def request_count(self, xpub: str) -> int:
        wallet_id = self._wallet_id(xpub, create=False)
        if wallet_id is None:
            return 0
        return self.conn.execute("SELECT count(*) FROM requests WHERE wallet_id = ?", (wallet_id,)).fetchone()[0]

    # config (setconfig/getconfig)

    def set_config(self, key: str, value) -> None:
        with self._tx():
            self.conn.execute(
                "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )

    def get_config(self, key: str):
        row = self.conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return (True, json.loads(row[0])) if row else (False, None)


class _Transaction:
    def __init__(self, conn: sqlite3.Connection, on_rollback: Callable[[], None]):
        self.conn = conn
        self.on_rollback = on_rollback

    def __enter__(self):
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")
            self.on_rollback()
        return False
