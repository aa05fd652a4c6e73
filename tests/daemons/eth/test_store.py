"""The store's read for get_address_outputs: one statement, a lookup per id (no scan of a wallet's requests)."""

from daemons.eth.store import Payment, Request, Store

WALLET = "0x" + "aa" * 20
OTHER = "0x" + "bb" * 20
USDT = "0x" + "cc" * 20


def request(request_id: str, address: str = WALLET, asset: str = "", tag: int = 1) -> Request:
    return Request(request_id, address, asset, tag, 10**18, 10**18, "", 0, 0, None)


def payment(tx: int, log_index: int, block: int, request_id: str | None, asset: str = "") -> Payment:
    block_hash = f"0x{block:064x}"
    return Payment(f"0x{tx:064x}", log_index, block, block_hash, 0, WALLET, asset, OTHER, 5 * 10**20, 7, request_id)


def test_requests_payments_is_one_indexed_statement(tmp_path):
    store = Store(tmp_path / "daemon.sqlite3")
    try:
        store.start(10, "0x" + "00" * 32, 1337)
        # enough requests of the wallet that scanning them would show in the plan's choice
        with store.db:
            store.db.execute("BEGIN")
            for n in range(2000):
                store.insert_request(request(f"{n:032x}", tag=n % 9999 + 1))
        store.insert_request(request("f" * 32, address=OTHER))
        store.insert_request(request("e" * 32, asset=USDT))
        store.commit_scan(
            [(11, "0x" + "11" * 32), (12, "0x" + "12" * 32)],
            [
                payment(2, -1, 12, f"{1:032x}"),
                payment(1, -1, 11, f"{1:032x}"),
                payment(3, 4, 12, "e" * 32, asset=USDT),
                payment(4, -1, 12, None),
                payment(5, -1, 12, "f" * 32),
            ],
            12,
            128,
        )
        statements: list[str] = []
        store.db.set_trace_callback(statements.append)
        cursor, found = store.requests_payments(WALLET, [f"{1:032x}", "e" * 32, f"{2:032x}", "f" * 32, "x"])
        store.db.set_trace_callback(None)

        assert cursor == 12
        assert {k: [(p.tx_hash, p.log_index, p.block_number, p.value) for p in v] for k, v in found.items()} == {
            f"{1:032x}": [(f"0x{1:064x}", -1, 11, 5 * 10**20), (f"0x{2:064x}", -1, 12, 5 * 10**20)],
            "e" * 32: [(f"0x{3:064x}", 4, 12, 5 * 10**20)],
            f"{2:032x}": [],
        }
        assert len(statements) == 1
        plan = [row[3] for row in store.db.execute("EXPLAIN QUERY PLAN " + statements[0])]
        assert "SEARCH r USING INDEX sqlite_autoindex_requests_1 (request_id=?) LEFT-JOIN" in plan
        assert "SEARCH p USING INDEX payments_request (request_id=?) LEFT-JOIN" in plan
        assert not [step for step in plan if step.startswith(("SCAN r", "SCAN p", "SEARCH r USING INDEX requests_tag"))]
    finally:
        store.close()


def test_requests_payments_before_the_first_scan(tmp_path):
    store = Store(tmp_path / "daemon.sqlite3")
    try:
        store.insert_request(request("a" * 32))
        assert store.requests_payments(WALLET, ["a" * 32, "b" * 32]) == (None, {"a" * 32: []})
        assert store.requests_payments(WALLET, []) == (None, {})
    finally:
        store.close()
