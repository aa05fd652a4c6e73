"""Never lose or double-count a payment, whatever crashes in between (issue 4).

The whole process set runs as real subprocesses (web, Celery worker and beat, listener, the
Electrum daemon, Redis, the chain simulator) on a dedicated PostgreSQL database. A buyer script
creates invoices through the web API and pays them through the simulator while each process in
turn is killed with SIGKILL and started again. Afterwards the database must match what the buyer
paid, output by output, and every invoice's status history must be one unbroken chain.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from decimal import Decimal

import httpx
import pytest
import redis

from daemons.processes import wait_for
from invoices.services import TRANSITIONS
from tests.faults.cluster import DAEMON, RECONCILE_SECONDS, Cluster
from webhooks import services as webhooks_services

pytestmark = pytest.mark.slow

PRICE_SAT = 100_000  # every invoice asks 0.001 BTC
SATS = Decimal(100_000_000)
SETTLE_SECONDS = 60
# How each invoice of the stream is paid, in turn: amounts of separate transactions, or ("one tx", amounts).
PLANS: list[list[int] | tuple[str, list[int]]] = [
    [100_000],
    [60_000, 40_000],
    [130_000],
    [50_000],
    ("one tx", [70_000, 30_000]),
    [],
]


@dataclass
class Bought:
    invoice_id: str
    address: str
    outputs: list[tuple[str, int, int]] = field(default_factory=list)  # (txid, vout, sat)
    late: bool = False  # created with a one-minute expiry

    @property
    def paid(self) -> int:
        return sum(amount for _, _, amount in self.outputs)

    def expected(self) -> tuple[str, str, Decimal]:
        """(status, exception_status, sent_amount) once every payment has one confirmation."""
        total = self.paid
        if total >= PRICE_SAT:
            exception = "paid_late" if self.late else ("paid_over" if total > PRICE_SAT else "none")
            return "complete", exception, Decimal(total) / SATS
        waiting = "expired" if self.late else "pending"
        return waiting, "paid_partial" if total else "none", Decimal(total) / SATS


class Buyer:
    def __init__(self, cluster: Cluster, setup: dict[str, str]) -> None:
        self.cluster = cluster
        self.store_id = setup["store_id"]
        self.http = httpx.Client(
            base_url=cluster.web_url, headers={"Authorization": f"Bearer {setup['token']}"}, timeout=15
        )
        self.sim = cluster.simulator
        self.bought: list[Bought] = []
        self.refused = 0  # creations that failed (web down, Redis down, ...): nothing to pay

    def create(self, *, expiration: int | None = None) -> Bought | None:
        # A buyer e-mail: each completed invoice also puts a receipt in the outbox.
        body: dict = {"store_id": self.store_id, "price": "0.001", "currency": "BTC", "buyer_email": "b@example.com"}
        if expiration is not None:
            body["expiration"] = expiration
        try:
            response = self.http.post("/api/invoices", json=body)
        except httpx.HTTPError:
            self.refused += 1
            return None
        if response.status_code != 201:
            self.refused += 1
            return None
        data = response.json()
        bought = Bought(data["id"], data["payments"][0]["payment_address"], late=expiration is not None)
        self.bought.append(bought)
        return bought

    def pay(self, bought: Bought, plan: list[int] | tuple[str, list[int]]) -> None:
        if isinstance(plan, tuple):
            answer = self.sim.pay_many([(bought.address, amount) for amount in plan[1]])
            bought.outputs += [(answer["txid"], o["vout"], o["amount_sat"]) for o in answer["outputs"]]
            return
        for amount in plan:
            answer = self.sim.pay(bought.address, amount)
            bought.outputs.append((answer["txid"], answer["vout"], amount))


# --- reading the cluster's database ---------------------------------------------------------


def invoice_states(cluster: Cluster) -> dict[str, tuple[str, str, Decimal]]:
    connection = cluster.db()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, status, exception_status, sent_amount FROM invoices_invoice")
            return {row[0]: (row[1], row[2], Decimal(row[3])) for row in cursor.fetchall()}
    finally:
        connection.close()


def query(cluster: Cluster, sql: str, params: tuple = ()) -> list[tuple]:
    connection = cluster.db()
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    finally:
        connection.close()


def mismatches(cluster: Cluster, bought: list[Bought]) -> dict[str, tuple]:
    states = invoice_states(cluster)
    return {
        b.invoice_id: (states.get(b.invoice_id), b.expected())
        for b in bought
        if states.get(b.invoice_id) != b.expected()
    }


def assert_status_chains(cluster: Cluster) -> int:
    """Every status change left exactly one event: per invoice, the status events link old→new
    from (pending, none) to the current state, each an allowed, real change."""
    rows = query(
        cluster,
        "SELECT invoice_id, old_status, new_status, old_exception_status, new_exception_status FROM "
        "invoices_invoiceevent WHERE kind = 'status' ORDER BY id",
    )
    chains: dict[str, list[tuple[str, str, str, str]]] = {}
    for invoice_id, old, new, old_exception, new_exception in rows:
        chains.setdefault(invoice_id, []).append((old, new, old_exception, new_exception))
    created = dict(
        query(cluster, "SELECT invoice_id, count(*) FROM invoices_invoiceevent WHERE kind = 'created' GROUP BY 1")
    )
    states = invoice_states(cluster)
    problems: list[tuple] = []
    for invoice_id, (status, exception, _) in states.items():
        if created.get(invoice_id) != 1:
            problems.append((invoice_id, "created events", created.get(invoice_id)))
        current = ("pending", "none")
        for old, new, old_exception, new_exception in chains.get(invoice_id, []):
            if (old, old_exception) != current or (new, new_exception) == current:
                problems.append((invoice_id, "broken chain", chains[invoice_id]))
                break
            if new != old and new not in TRANSITIONS[old]:
                problems.append((invoice_id, "forbidden", old, new))
            current = (new, new_exception)
        if current != (status, exception):
            problems.append((invoice_id, "chain ends elsewhere", current, (status, exception)))
    assert problems == []
    return len(rows)


def assert_payments_exact(cluster: Cluster, buyer: Buyer) -> int:
    """Each output the buyer sent has exactly one Payment row, on the right address, confirmed; no other row exists."""
    rows = query(
        cluster,
        "SELECT pm.invoice_id, pm.address, p.txid, p.vout, p.amount, p.state FROM invoices_payment p "
        "JOIN invoices_paymentmethod pm ON pm.id = p.payment_method_id",
    )
    recorded = sorted(
        (invoice_id, address, txid, vout, amount, state) for invoice_id, address, txid, vout, amount, state in rows
    )
    sent = sorted(
        (b.invoice_id, b.address, txid, vout, amount, "confirmed")
        for b in buyer.bought
        for txid, vout, amount in b.outputs
    )
    assert recorded == sent
    # The database itself refuses a second row for an output.
    constraint = query(
        cluster,
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'payment_unique_output'",
    )
    assert constraint == [("UNIQUE (txid, vout, payment_method_id)",)]
    return len(rows)


# --- the tests ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    instance = Cluster(tmp_path_factory.mktemp("faults"))
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()


@pytest.fixture(scope="module")
def buyer(cluster):
    return Buyer(cluster, cluster.setup_store())


def assert_outbox_delivered(cluster: Cluster) -> None:
    """The outbox lived through the same kills: exactly one receipt per completed invoice (a lost
    or repeated fan-out writes no second one), each delivered by the fan-out or by beat's sweep.
    A message held by a worker killed mid-send is retried when its lock lapses (LOCK_FOR)."""
    undelivered = "SELECT count(*) FROM webhooks_webhookmessage WHERE status <> 'delivered'"
    lock = webhooks_services.LOCK_FOR.total_seconds()
    wait_for(lambda: query(cluster, undelivered)[0][0] == 0, timeout=lock + 60, what="the outbox", interval=0.5)
    [(complete,)] = query(cluster, "SELECT count(*) FROM invoices_invoice WHERE status = 'complete'")
    receipts = query(
        cluster,
        "SELECT m.recipient, count(*) FROM webhooks_webhookmessage m JOIN webhooks_webhookevent e ON e.sequence = "
        "m.event_id WHERE m.kind = 'email' GROUP BY e.invoice_id, m.recipient",
    )
    assert complete > 0 and len(receipts) == complete
    assert {row for row in receipts} == {("b@example.com", 1)}


def test_payment_stream_survives_kill_9_of_every_process(cluster, buyer):
    started = time.monotonic()
    late_unpaid = buyer.create(expiration=1)
    late_paid = buyer.create(expiration=1)
    assert late_unpaid is not None and late_paid is not None
    plans = iter(PLANS * 10)
    for round_number, victim in enumerate(["listener-btc", DAEMON, "worker", "web", "redis", None]):
        batch = [b for b in (buyer.create() for _ in range(len(PLANS))) if b is not None]
        assert len(batch) == len(PLANS)  # everything is up between rounds
        if victim is not None:
            cluster.kill(victim)
        for bought in batch:
            buyer.pay(bought, next(plans))
        if victim != "web":
            # An invoice created while this process is down (it may be refused: that is fine).
            during = buyer.create()
            if during is not None:
                buyer.pay(during, [100_000])
        if round_number % 2:
            buyer.sim.mine(blocks=1)
        time.sleep(1.5)
        if victim is not None:
            cluster.start_process(victim)
            if victim == "web":
                cluster.wait_web()
        assert all(cluster.alive().values()), cluster.alive()

    # The one-minute invoices: one stays unpaid, the other is paid after the sweep expired it.
    wait_for(
        lambda: invoice_states(cluster)[late_paid.invoice_id][0] == "expired",
        timeout=max(5.0, 80 - (time.monotonic() - started)),
        what="the one-minute invoice to expire",
    )
    buyer.pay(late_paid, [100_000])
    buyer.sim.mine(blocks=1)
    try:
        wait_for(lambda: not mismatches(cluster, buyer.bought), timeout=SETTLE_SECONDS, what="settle", interval=0.5)
    except TimeoutError:
        pytest.fail(f"not settled after {SETTLE_SECONDS}s: {mismatches(cluster, buyer.bought)}")

    paid_invoices = [b for b in buyer.bought if b.outputs]
    payments = assert_payments_exact(cluster, buyer)
    events = assert_status_chains(cluster)
    assert_outbox_delivered(cluster)
    # Invoices whose creation answer was lost (if any) exist unpaid; nothing else is in the database.
    states = invoice_states(cluster)
    known = {b.invoice_id for b in buyer.bought}
    assert all(state[2] == 0 for invoice_id, state in states.items() if invoice_id not in known)
    assert len(paid_invoices) >= 30 and payments >= 36 and events >= len(paid_invoices) + 1
    causes = dict(query(cluster, "SELECT cause, count(*) FROM invoices_invoiceevent GROUP BY 1 ORDER BY 1"))
    # Recovery paths were exercised: changes found by a reconnect resync and by beat's reconciliation.
    assert causes.get("reconnect", 0) > 0 and causes.get("reconcile", 0) + causes.get("reconnect", 0) > 0
    print(
        f"\nstream: {len(buyer.bought)} invoices ({len(paid_invoices)} paid, {payments} outputs), "
        f"{buyer.refused} creations refused during outages, {events} status events, events by cause {causes}, "
        f"restarted by autorestart (program, exit code) {cluster.restarts}, {time.monotonic() - started:.1f}s"
    )


def test_payments_during_listener_and_daemon_downtime_found_within_one_reconcile_period(cluster, buyer):
    cluster.kill("listener-btc")
    cluster.kill(DAEMON)
    batch = [buyer.create() for _ in range(8)]
    assert all(batch)
    for bought in batch:
        buyer.pay(bought, [100_000])
    time.sleep(1)
    assert {invoice_states(cluster)[b.invoice_id][0] for b in batch} == {"pending"}  # nobody saw them yet

    cluster.start_process(DAEMON)
    cluster.start_process("listener-btc")
    restarted = time.monotonic()
    ids = {b.invoice_id for b in batch}

    def all_paid() -> bool:
        states = invoice_states(cluster)
        return all(states[i] == ("paid", "none", Decimal("0.001")) for i in ids)

    wait_for(all_paid, timeout=RECONCILE_SECONDS * 4, what="the downtime payments", interval=0.05)
    found_after = time.monotonic() - restarted
    print(f"\ndowntime payments ({len(ids)}) found {found_after:.2f}s after the daemon and listener restarted")
    assert found_after <= RECONCILE_SECONDS
    rows = query(
        cluster,
        "SELECT count(*) FROM invoices_payment p JOIN invoices_paymentmethod pm ON pm.id = p.payment_method_id "
        "WHERE pm.invoice_id = ANY(%s)",
        (list(ids),),
    )
    assert rows == [(len(ids),)]


def test_beat_reconciliation_resumes_soon_after_a_worker_killed_mid_run(cluster, buyer):
    """SIGKILL never runs the task's `finally`: the reconcile lock it held must not stop beat's
    reconciliation for long. Only beat can find these payments (the listener is down)."""
    broker = redis.Redis(port=cluster.redis_port, socket_timeout=2)
    cluster.kill("listener-btc")
    wait_for(lambda: broker.llen("celery") == 0, timeout=30, what="the worker to drain its queue")
    # Freeze the daemon so that the next reconcile run blocks (up to DAEMON_TIMEOUT) holding the lock.
    os.kill(cluster.pid(DAEMON), signal.SIGSTOP)
    try:
        wait_for(lambda: broker.keys("*lock:reconcile"), timeout=40, what="a run holding the lock", interval=0.05)
        cluster.kill("worker")
    finally:
        os.kill(cluster.pid(DAEMON), signal.SIGCONT)
    assert broker.keys("*lock:reconcile")  # left behind by the killed run
    cluster.start_process("worker")
    batch = [buyer.create() for _ in range(4)]
    assert all(batch)
    for bought in batch:
        buyer.pay(bought, [100_000])
    paid_at = time.monotonic()
    ids = {b.invoice_id for b in batch}
    # A lock left behind lapses within 30 s (invoices.tasks.LOCK_SECONDS), then one beat period and one run.
    # (With the lock at 300 s, the time limit, as before, this fails: nothing is found for five minutes.)
    bound = 30 + RECONCILE_SECONDS + 5

    def all_paid() -> bool:
        states = invoice_states(cluster)
        return all(states[i][0] == "paid" for i in ids)

    try:
        wait_for(all_paid, timeout=bound, what="beat to find the payments", interval=0.2)
    finally:
        cluster.start_process("listener-btc")
    print(f"\nafter a worker killed mid-reconcile, beat found {len(ids)} payments in {time.monotonic() - paid_at:.1f}s")
