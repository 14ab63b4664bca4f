"""Correctness across copies (issue 5): several Paydesk processes on one Postgres database,
coordinating through it alone.

- 4 ``paydesk worker`` processes deliver due webhook logs to a loopback receiver: every log
  delivered, none attempted twice; with one worker killed (SIGKILL) mid-run, every log is
  still delivered once its lease expires, and only logs that worker held are seen twice.
- 4 processes request and decide refunds on the same payments: no payment over-refunded,
  every refund decided once.

The copies are real processes (``subprocess``), each with its own connections. Tests wait on
conditions in the database with timeouts; nothing asserts on timings. Every process is
started in its own process group and killed with it when the test ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import func, insert, select

from core.access import policy, roles
from core.clock import system_clock
from core.context import Context
from core.errors import InputError
from core.refunds.records import RefundView
from core.refunds.states import COUNTED
from core.store.db import Database, open_database
from core.store.migrate import upgrade
from core.store.models import (
    AuditEvent,
    Merchant,
    Payment,
    PolicySetting,
    Refund,
    TaskRun,
    WebhookAttempt,
    WebhookLog,
)
from core.webhooks.dispatcher import Dispatcher
from core.webhooks.events import NewEvent, enqueue_many
from tests.webhook_receiver import ADMIN, add_log, add_merchant, add_staff

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 4
LOGS = 3_000  # the figure is 10,000; a few thousand keep the suite short
MERCHANTS = [f"mer_{c}" for c in "ABCDEFGH"]
# A lease that expires soon after the kill, and still covers the wait of a log that a live
# worker claimed (at most a few hundred queued per worker) plus its attempt.
KILL_TEST_LEASE = 10
WAIT = 180.0  # seconds: the bound on any condition these tests wait for
STOP_GRACE = 20.0  # seconds a process gets to stop after SIGTERM before it is killed

T = TypeVar("T")


# -- the loopback receiver -----------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # 4 workers open up to 64 connections at once; the default backlog of 5 would drop some.
    request_queue_size = 512


class CountingReceiver:
    """Answers every POST with 200 on 127.0.0.1 (threads of this process) and counts the
    ``webhook-id`` of each request as it arrives."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the dispatcher's client expects

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver._counts[self.headers.get("webhook-id", "")] += 1
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def url(self, merchant_id: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook/{merchant_id}"

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(self._counts)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[CountingReceiver]:
    r = CountingReceiver()
    yield r
    r.close()


# -- processes -------------------------------------------------------------------------------


@dataclass
class Copy:
    """A process started by a test, with its stdout and stderr in files."""

    name: str
    proc: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.stderr.read_text(errors="replace").splitlines()[-lines:])

    def client_id(self) -> str | None:
        """A worker's client id, from its log's start line ("Worker <id> on <database>: …")."""
        found = re.search(r"Worker (\S+) on ", self.stderr.read_text(errors="replace"))
        return found.group(1) if found else None


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)  # each copy leads its own group (start_new_session)


def _stop(copies: list[Copy]) -> None:
    """SIGTERM every copy still running (a worker then stops cleanly), SIGKILL what remains."""
    for c in copies:
        if c.proc.poll() is None:
            _signal_group(c.proc, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    for c in copies:
        with contextlib.suppress(subprocess.TimeoutExpired):
            c.proc.wait(max(0.1, deadline - time.monotonic()))
    for c in copies:
        # Whatever is left of the group, the leader included.
        _signal_group(c.proc, signal.SIGKILL)
        if c.proc.poll() is None:
            c.proc.wait(10)


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[[str, list[str]], Copy]]:
    """``spawn(name, argv)`` starts a process in the repository; all are stopped at the end."""
    copies: list[Copy] = []
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        # Nothing here has a password to look up; never touch the machine's keyring.
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
    }

    def start(name: str, argv: list[str]) -> Copy:
        stdout, stderr = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
        with stdout.open("wb") as out, stderr.open("wb") as err:
            proc = subprocess.Popen(
                argv, stdout=out, stderr=err, cwd=ROOT, env=env, start_new_session=True
            )
        copy = Copy(name, proc, stdout, stderr)
        copies.append(copy)
        return copy

    try:
        yield start
    finally:
        _stop(copies)


def worker_argv(url: str) -> list[str]:
    """``paydesk --database URL worker``: the console script's entry point."""
    return [sys.executable, "-m", "desktop.entry", "--database", url, "worker"]


def wait_for(
    what: str, condition: Callable[[], T], watch: Sequence[Copy] = (), timeout: float = WAIT
) -> T:
    """Poll ``condition`` until it returns something true; fail if ``timeout`` passes or a
    watched process ends first."""
    end = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        for c in watch:
            if c.proc.poll() is not None:
                pytest.fail(f"{c.name} exited with {c.proc.returncode}:\n{c.tail()}")
        if time.monotonic() > end:
            pytest.fail(f"Waited {timeout:.0f} s for {what} in vain.")
        time.sleep(0.1)


# -- webhook deliveries ----------------------------------------------------------------------


@pytest.fixture
def shared_db(pg_schema_url: str) -> Iterator[tuple[str, Context]]:
    """The URL every copy opens, migrated, and this test's own Context on it."""
    db = open_database(pg_schema_url)
    upgrade(db)
    ctx = Context(db=db, clock=system_clock, client_id="test-setup")
    yield pg_schema_url, ctx
    db.dispose()


def _set_policy(ctx: Context, **values: str) -> None:
    for key, text in values.items():
        policy.set_value(ctx, ADMIN, key, text)


def _start_workers(
    spawn: Callable[[str, list[str]], Copy], url: str, db: Database, n: int = WORKERS
) -> list[Copy]:
    """Start ``n`` workers and wait until each one's dispatcher ran (and so listens)."""
    workers = [spawn(f"worker-{i}", worker_argv(url)) for i in range(n)]

    def dispatchers_up() -> bool:
        with db.read() as s:
            ran = s.scalar(
                select(func.count()).select_from(TaskRun).where(TaskRun.task == "webhook_dispatch")
            )
        return ran >= n and all(w.client_id() for w in workers)

    wait_for(f"{n} workers to dispatch", dispatchers_up, workers)
    return workers


def _client_of(owner: str, client_ids: list[str]) -> str:
    """The client id in a lease owner (``<client id>/<dispatcher>``, cut to 64 characters)."""
    suffix = owner.rsplit("/", 1)[1]
    (found,) = [c for c in client_ids if f"{c}/{suffix}"[-64:] == owner]
    return found


def _setup_endpoints(ctx: Context, receiver: CountingReceiver) -> None:
    add_staff(ctx)
    for m in MERCHANTS:
        add_merchant(ctx, m, url=receiver.url(m))
    # Anything that fails is tried again within seconds, so a failure shows up as a
    # second attempt row rather than as a wait of minutes.
    _set_policy(ctx, webhook_retry_schedule="0,1,1,1,1")


def _enqueue(ctx: Context, n: int) -> list[str]:
    """``n`` due logs over the merchants, committed (and announced) at once."""
    with ctx.db.write() as s:
        return enqueue_many(
            s,
            (
                NewEvent(
                    MERCHANTS[i % len(MERCHANTS)],
                    "payment.captured",
                    {"payment_id": f"pay_mc{i:010d}", "amount": 1250 + i, "currency": "INR"},
                    f"pay_mc{i:010d}",
                )
                for i in range(n)
            ),
            now=ctx.clock.now(),
            origin=ctx.client_id,
        )


def _settled(db: Database, receiver: CountingReceiver, ids: list[str]) -> Callable[[], bool]:
    def done() -> bool:
        with db.read() as s:
            left = s.scalar(
                select(func.count()).select_from(WebhookLog).where(WebhookLog.status == "pending")
            )
        return left == 0 and len(receiver.counts()) >= len(ids)

    return done


def _attempts_per_log(db: Database) -> dict[str, list[Any]]:
    """Each log's attempt rows (client, started_at, response_code)."""
    a = WebhookAttempt
    with db.read() as s:
        rows = s.execute(select(a.webhook_log_id, a.client, a.started_at, a.response_code)).all()
    found: dict[str, list[Any]] = {}
    for a in rows:
        found.setdefault(a.webhook_log_id, []).append(a)
    return found


def _statuses(db: Database) -> dict[str, int]:
    with db.read() as s:
        return dict(
            s.execute(select(WebhookLog.status, func.count()).group_by(WebhookLog.status)).all()
        )


def test_four_workers_deliver_every_log_once(shared_db, receiver, spawn):
    url, ctx = shared_db
    _setup_endpoints(ctx, receiver)
    workers = _start_workers(spawn, url, ctx.db)

    ids = _enqueue(ctx, LOGS)
    wait_for("every log to be delivered", _settled(ctx.db, receiver, ids), workers)

    assert _statuses(ctx.db) == {"success": LOGS}
    counts = receiver.counts()
    assert set(counts) == set(ids)
    twice = {i: n for i, n in counts.items() if n > 1}
    assert twice == {}, f"{len(twice)} logs reached the receiver more than once"
    attempts = _attempts_per_log(ctx.db)
    assert set(attempts) == set(ids)
    assert [i for i, rows in attempts.items() if len(rows) != 1] == []
    assert all(rows[0].response_code == 200 for rows in attempts.values())
    clients = {rows[0].client for rows in attempts.values()}
    assert clients <= {w.client_id() for w in workers}
    assert len(clients) >= 2, "one worker did all the work: the copies did not share it"
    assert all(w.proc.poll() is None for w in workers)


def test_logs_of_a_killed_worker_are_delivered_after_its_lease_expires(shared_db, receiver, spawn):
    url, ctx = shared_db
    _setup_endpoints(ctx, receiver)
    _set_policy(ctx, webhook_lease_seconds=str(KILL_TEST_LEASE))
    workers = _start_workers(spawn, url, ctx.db)
    by_client = {w.client_id(): w for w in workers}

    ids = _enqueue(ctx, LOGS)
    wait_for(
        "a quarter of the logs to arrive",
        lambda: len(receiver.counts()) >= LOGS // 4,
        workers,
    )

    # The victim: the worker holding the most leases right now, so it dies mid-run.
    def holders() -> list[tuple[str, int]]:
        with ctx.db.read() as s:
            return s.execute(
                select(WebhookLog.lease_owner, func.count())
                .where(WebhookLog.status == "pending", WebhookLog.lease_owner.is_not(None))
                .group_by(WebhookLog.lease_owner)
                .order_by(func.count().desc())
            ).all()

    owner = wait_for("a worker holding leases", holders, workers)[0][0]
    victim = by_client[_client_of(owner, list(by_client))]
    _signal_group(victim.proc, signal.SIGKILL)
    victim.proc.wait(10)
    survivors = [w for w in workers if w is not victim]

    # What the victim held when it died: claimed, perhaps sent, never recorded.
    with ctx.db.read() as s:
        held = dict(
            s.execute(
                select(WebhookLog.id, WebhookLog.lease_expires_at).where(
                    WebhookLog.status == "pending", WebhookLog.lease_owner == owner
                )
            ).all()
        )
    assert held, "the killed worker held no leases: it was not mid-run"
    assert len(receiver.counts()) < LOGS, "every log had arrived before the kill"

    wait_for("every log to be delivered", _settled(ctx.db, receiver, ids), survivors)

    assert _statuses(ctx.db) == {"success": LOGS}
    counts = receiver.counts()
    assert set(counts) == set(ids)
    twice = {i for i, n in counts.items() if n > 1}
    # At-least-once: only what the victim was sending may arrive again, and at most once more
    # (each redelivery carried the same webhook-id, which is what the receiver counted).
    assert twice <= set(held), f"{sorted(twice - set(held))[:5]}… were not the victim's"
    assert max(counts.values()) <= 2
    attempts = _attempts_per_log(ctx.db)
    assert set(attempts) == set(ids)
    assert [i for i, rows in attempts.items() if len(rows) != 1] == []
    victim_id = victim.client_id()
    taken_over = [i for i in held if attempts[i][0].client != victim_id]
    assert taken_over, "no live worker took over the killed worker's logs"
    # Only once the victim's lease had run out. (Logs the victim itself recorded were in a
    # commit that reached the server just as it died.)
    assert [i for i in taken_over if attempts[i][0].started_at < held[i]] == []
    assert all(w.proc.poll() is None for w in survivors)


def test_lease_policy_sets_how_long_a_claim_holds(ctx):
    add_staff(ctx)
    add_merchant(ctx, url="http://127.0.0.1:9/hook")
    first, second = add_log(ctx), add_log(ctx)
    dispatcher = Dispatcher(ctx)
    try:
        dispatcher._claim(1, [], None)  # the default: 60 s + 4 × the 5 s timeout
        policy.set_value(ctx, ADMIN, "webhook_lease_seconds", "7")
        dispatcher._policy_read_at = None  # as at the start of the next run
        dispatcher._claim(1, [], None)
    finally:
        dispatcher.close()
    now = ctx.clock.now()
    with ctx.db.read() as s:
        leases = dict(s.execute(select(WebhookLog.id, WebhookLog.lease_expires_at)).all())
    assert {leases[first] - now, leases[second] - now} == {
        timedelta(seconds=80),
        timedelta(seconds=7),
    }


@pytest.mark.parametrize(
    ("text", "sentence"),
    [("-5", "The value cannot be negative."), ("soon", "'soon' is not a whole number.")],
)
def test_bad_lease_policy_is_refused_and_nothing_is_written(ctx, text, sentence):
    add_staff(ctx)
    with pytest.raises(InputError) as refused:
        policy.set_value(ctx, ADMIN, "webhook_lease_seconds", text)
    assert refused.value.message == sentence
    with ctx.db.read() as s:
        assert s.scalar(select(func.count()).select_from(PolicySetting)) == 0
        assert policy.get(s, "webhook_lease_seconds") == 0


# -- refunds -----------------------------------------------------------------------------------

PAYMENTS = 10
PAYMENT_AMOUNT = 10_000  # ₹100.00; each request asks ₹5.00–₹20.00
ROUNDS = 6
DECISIONS = {
    "refund.approve": "approved",
    "refund.reject": "rejected",
    "refund.cancel": "cancelled",
}


def _add_payments(ctx: Context) -> list[str]:
    now = ctx.clock.now()
    ids = [f"pay_mc{i:014d}" for i in range(PAYMENTS)]
    with ctx.db.write() as s:
        s.add(
            Merchant(id="mer_refunds", name="Refund Shop", email="shop@example.com", created_at=now)
        )
        s.flush()
        s.execute(
            insert(Payment),
            [
                dict(
                    id=pid,
                    merchant_id="mer_refunds",
                    order_id=f"order_{pid}",
                    amount=PAYMENT_AMOUNT,
                    currency="INR",
                    method="card",
                    status="success",
                    captured=True,
                    refunded_amount=0,
                    created_at=now,
                    updated_at=now,
                )
                for pid in ids
            ],
        )
    return ids


def _driver_result(copy: Copy) -> dict[str, Any]:
    assert copy.proc.returncode == 0, f"{copy.name} failed:\n{copy.tail()}"
    return json.loads(copy.stdout.read_text())


def test_four_copies_refunding_the_same_payments_never_over_refund_and_decide_once(
    shared_db, spawn, tmp_path
):
    url, ctx = shared_db
    roles.ensure_first_admin(ctx, "root")
    for i in range(1, WORKERS + 1):
        roles.set_staff_role(ctx, "root", f"r{i}", "support")
        roles.set_staff_role(ctx, "root", f"a{i}", "finance")
    payment_ids = _add_payments(ctx)
    go = tmp_path / "go"
    drivers = []
    for i in range(1, WORKERS + 1):
        argv = [sys.executable, "-m", "tests.refund_driver", url, str(i), str(go), str(ROUNDS)]
        drivers.append(spawn(f"driver-{i}", argv + payment_ids))
    go.touch()  # every copy starts its rounds at the same moment
    wait_for("every copy to finish", lambda: all(d.proc.poll() is not None for d in drivers))
    results = [_driver_result(d) for d in drivers]

    with ctx.db.read() as s:
        refunded = dict(s.execute(select(Payment.id, Payment.refunded_amount)).all())
        stored = [RefundView.of(r) for r in s.scalars(select(Refund))]
        decisions = s.execute(
            select(AuditEvent.entity_id, AuditEvent.action, AuditEvent.actor).where(
                AuditEvent.action.in_(list(DECISIONS))
            )
        ).all()

    # No payment over-refunded; its bookkeeping is the sum of its refunds that count.
    for pid in payment_ids:
        counted = sum(r.amount for r in stored if r.payment_id == pid and r.status in COUNTED)
        assert counted <= PAYMENT_AMOUNT, pid
        assert refunded[pid] == counted, pid

    # Every refund created was answered to exactly one copy's request.
    requested = [rid for res in results for rid in res["requested"]]
    assert sorted(requested) == sorted(r.id for r in stored)
    assert sum(res["refused"] for res in results) > 0, "no request reached a payment's limit"

    # Each refund decided once: one decision event, by whoever the refund names, and exactly
    # one copy was told its decision went through.
    events = Counter(e.entity_id for e in decisions)
    assert [rid for rid, n in events.items() if n != 1] == []
    event_of = {e.entity_id: e for e in decisions}
    told: dict[str, str] = {}
    for res in results:
        for rid, status in res["decided"].items():
            assert rid not in told, f"{rid} was decided by two copies"
            told[rid] = status
    for r in stored:
        if r.status == "pending_approval":
            assert (r.decided_by, r.version, r.id in event_of, r.id in told) == (
                None,
                1,
                False,
                False,
            )
            continue
        e = event_of[r.id]
        assert (DECISIONS[e.action], e.actor) == (r.status, r.decided_by), r.id
        assert r.decided_at is not None
        assert r.version == 2, f"{r.id} was changed {r.version - 1} times"
        assert told[r.id] == r.status
    assert set(told) == set(event_of)
