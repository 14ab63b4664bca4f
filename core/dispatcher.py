"""The webhook dispatcher: claims due logs with a lease, sends them, records what happened.

The queue is the ``webhook_logs`` table (DESIGN.md §3–4). One control thread per dispatcher
claims due logs in batches (Postgres: ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP
LOCKED) RETURNING``; SQLite: the same statement in a short ``BEGIN IMMEDIATE`` transaction),
hands them to a thread pool that sends over the process's one httpx client, and records the
outcomes of a batch in one transaction: a ``webhook_attempts`` row per attempt, the log's
status, attempts, response and next retry (policy schedule, ±10 % jitter), the endpoint's
health, and change notices.

Sending is bounded in total (``concurrency``) and per endpoint (``per_endpoint``). A claimed
log carries a lease (owner, expiry); a copy that dies mid-attempt leaves its lease to
expire, and another copy claims the log and sends it again with the same ``webhook-id``:
delivery is at-least-once. An outcome is recorded only while its lease is still held.

Three ways to run it:

- ``run_until_idle()``: deliver everything due, then return (tests, benchmarks);
- ``dispatch_task()``: the scheduler's ``webhook_dispatch`` task (a round every second that
  also answers wake-ups while it runs);
- ``start()`` / ``stop()``: a thread that loops on wake-ups (headless worker).

Wake-ups come from change notices: in process through ``notify.subscribe``, from other
copies through a Postgres ``notify.Listener``; polling covers lost notices.
"""

from __future__ import annotations

import json
import logging
import queue
import random
import threading
import time
import uuid
import weakref
from collections import Counter, defaultdict, deque
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import bindparam, func, insert, or_, select, text, update
from sqlalchemy.engine import Connection

from core import audit, delivery, notify, policy, signing
from core.context import Context
from core.delivery import Outcome
from core.models import Merchant, WebhookAttempt, WebhookLog

if TYPE_CHECKING:
    from core.scheduler import Task

log = logging.getLogger(__name__)

# Who the audit log names for what the dispatcher decides on its own (410, auto-disable).
SYSTEM_ACTOR = "system"
JITTER = 0.10
# Seconds a policy read is reused within one run (a change applies to the next batch).
POLICY_TTL = 2.0
# Logs handed to the thread pool per sending thread: enough to keep the threads busy while
# the control thread claims and records (tens of milliseconds on a loaded machine).
PREFETCH = 4
# Outcomes wait at most this long (seconds) to be recorded together with others.
RECORD_DELAY = 0.1

_L = WebhookLog.__table__
_M = Merchant.__table__
_A = WebhookAttempt.__table__


@dataclass
class _Item:
    """A claimed log, with everything needed to send it."""

    id: str
    merchant_id: str
    body: bytes
    attempts: int  # before this attempt
    round_start: int
    trigger: str
    actor: str | None
    url: str
    secrets: list[str]
    invalid: str | None  # why the payload cannot be sent, if it cannot


@dataclass
class _Done:
    item: _Item
    started_at: datetime
    outcome: Outcome


@dataclass
class DispatchStats:
    """What one run did."""

    delivered: int = 0  # attempts that succeeded
    failed_attempts: int = 0  # attempts that failed (the log may be retried)
    given_up: int = 0  # logs that became ``failed``
    lost_leases: int = 0  # outcomes not recorded because another copy took the log over
    endpoints_disabled: int = 0
    outcomes: dict[str, Outcome] = field(default_factory=dict, repr=False)

    def merge(self, other: DispatchStats) -> None:
        self.delivered += other.delivered
        self.failed_attempts += other.failed_attempts
        self.given_up += other.given_up
        self.lost_leases += other.lost_leases
        self.endpoints_disabled += other.endpoints_disabled
        self.outcomes.update(other.outcomes)

    @property
    def attempts(self) -> int:
        return self.delivered + self.failed_attempts

    def sentence(self) -> str | None:
        """A short text for the Jobs view, or None when nothing was attempted."""
        if not self.attempts and not self.lost_leases:
            return None
        parts = [f"{self.delivered} delivered"]
        if self.failed_attempts:
            parts.append(f"{self.failed_attempts} failed")
        if self.given_up:
            parts.append(f"{self.given_up} gave up")
        if self.endpoints_disabled:
            parts.append(f"{self.endpoints_disabled} endpoint(s) disabled")
        if self.lost_leases:
            parts.append(f"{self.lost_leases} taken over by another copy")
        return ", ".join(parts)


class Dispatcher:
    """Delivers due webhook logs of ``ctx``'s database. Thread-safe to ``wake()`` and ``stop()``;
    the run methods are meant for one thread at a time."""

    def __init__(
        self,
        ctx: Context,
        *,
        concurrency: int = delivery.DEFAULT_CONCURRENCY,
        per_endpoint: int = 8,
        claim_batch: int = 256,
        record_batch: int = 256,
        lease_seconds: float | None = None,
        poll_interval: float = 1.0,
        client: httpx.Client | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if concurrency < 1 or per_endpoint < 1 or claim_batch < 1:
            raise ValueError("Concurrency, per-endpoint bound and claim batch must be positive.")
        self.ctx = ctx
        self.concurrency = concurrency
        self.per_endpoint = min(per_endpoint, concurrency)
        self.claim_batch = claim_batch
        self.record_batch = record_batch
        # Default: long enough for a claimed log to wait its turn and be sent (see _lease_for).
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.owner = f"{ctx.client_id}/{uuid.uuid4().hex[:8]}"[-64:]
        self._client = client or delivery.shared_client(concurrency)
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="paydesk-deliver")
        self._rng = rng or random.Random()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: notify.Listener | None = None
        self._closed = False
        self._policy_values: dict[str, Any] = {}
        self._policy_read_at: float | None = None
        notify.subscribe(self._on_notice)

    # -- wake-ups and lifecycle ------------------------------------------------------------

    def _on_notice(self, notice: notify.Notice) -> None:
        # New or released work; our own "success"/"failed" notices are not work.
        if notice.table == "webhook_logs" and notice.status == "pending":
            self._wake.set()

    def wake(self) -> None:
        """Look for due work now."""
        self._wake.set()

    def listen(self) -> None:
        """On Postgres, hear other copies' notices (a shared ``notify.Listener``)."""
        if self._listener is None and self.ctx.db.is_postgres:
            conninfo = notify.listener_conninfo(self.ctx.db.engine.url)
            self._listener = notify.acquire_listener(conninfo, self.ctx.client_id)

    def start(self) -> None:
        """Run in a thread of its own until ``stop()``: the headless worker's mode."""
        if self._thread is not None:
            return
        self.listen()
        self._stop.clear()
        self._thread = threading.Thread(target=self.serve, name="paydesk-dispatch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread from ``start()``; an attempt in flight is finished and recorded."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def close(self) -> None:
        """Stop, let go of the thread pool and the listener. The shared HTTP client stays."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        notify.unsubscribe(self._on_notice)
        if self._listener is not None:
            notify.release_listener(self._listener)
            self._listener = None
        self._pool.shutdown(wait=True)

    def serve(self, stop: threading.Event | None = None) -> None:
        """Deliver due work, then sleep until woken or ``poll_interval`` passes; until stopped."""
        stop = stop or self._stop
        while not stop.is_set():
            try:
                self._drain(stop=stop)
            except Exception:
                # The database went away, say; leases keep the work safe until it is back.
                log.exception("Webhook dispatch failed; trying again in %.0f s", self.poll_interval)
                stop.wait(self.poll_interval)
                continue
            self._wake.wait(self.poll_interval)

    # -- runs ------------------------------------------------------------------------------

    def run_until_idle(self, max_seconds: float | None = None) -> DispatchStats:
        """Deliver everything due (and whatever falls due meanwhile), record it, and return."""
        deadline = None if max_seconds is None else time.perf_counter() + max_seconds
        return self._drain(deadline=deadline)

    def run_round(self, linger: float) -> DispatchStats:
        """Deliver what is due, then keep answering wake-ups for ``linger`` seconds."""
        stats = self._drain()
        end = time.monotonic() + linger
        while (left := end - time.monotonic()) > 0 and not self._stop.is_set():
            if not self._wake.wait(left):
                break
            stats.merge(self._drain())
        return stats

    def deliver(self, log_ids: Iterable[str]) -> dict[str, Outcome]:
        """Attempt these logs now if they are due and free, and return their outcomes
        (used to show the result of a test event at once)."""
        ids = sorted(set(log_ids))
        if not ids:
            return {}
        return self._drain(only_ids=ids).outcomes

    # -- the loop --------------------------------------------------------------------------

    def _drain(
        self,
        *,
        deadline: float | None = None,
        stop: threading.Event | None = None,
        only_ids: list[str] | None = None,
    ) -> DispatchStats:
        stats = DispatchStats()
        done_q: queue.SimpleQueue[_Done] = queue.SimpleQueue()
        waiting: dict[str, deque[_Item]] = defaultdict(deque)
        inflight: Counter[str] = Counter()
        n_waiting = n_inflight = 0
        unrecorded: list[_Done] = []
        first_unrecorded = 0.0
        more = True  # the last claim may have left due work behind
        timeout = delivery.DEFAULT_TIMEOUT
        max_queued = PREFETCH * self.concurrency + self.claim_batch
        self._policy_read_at = None  # each run starts from the policy in force
        self._wake.clear()

        def stopping() -> bool:
            return (stop is not None and stop.is_set()) or (
                deadline is not None and time.perf_counter() >= deadline
            )

        # Busy endpoints left out of the last claim when it came back short: claim again once
        # one of them has room (or new work is announced), not on every completion.
        blocked: set[str] = set()
        worked = True

        while True:
            # Outcomes that came in; wait a little for one when there was nothing else to do.
            block = not worked and n_inflight > 0
            while True:
                try:
                    done = done_q.get(timeout=0.05) if block else done_q.get_nowait()
                except queue.Empty:
                    break
                block = False
                if not unrecorded:
                    first_unrecorded = time.perf_counter()
                unrecorded.append(done)
                inflight[done.item.merchant_id] -= 1
                n_inflight -= 1

            room = max_queued - n_inflight - n_waiting
            idle = n_inflight + n_waiting == 0
            # A busy endpoint's logs stay in the table for other copies to take.
            saturated = [m for m, q in waiting.items() if len(q) >= self.per_endpoint]
            if blocked and not blocked.issubset(saturated):
                blocked.clear()
            woken = self._wake.is_set()
            want = min(room, self.claim_batch)
            claim_now = (
                not stopping()
                and (more or woken)
                and (not blocked or woken)
                and (idle or room >= self.claim_batch // 2)
            )
            record_now = bool(unrecorded) and (
                claim_now  # the same transaction records and claims: one commit for both
                or len(unrecorded) >= self.record_batch
                or n_inflight == 0
                or time.perf_counter() - first_unrecorded > RECORD_DELAY
            )
            worked = claim_now or record_now
            if worked:
                if claim_now:
                    self._wake.clear()
                part, items, claimed_timeout = self._step(
                    unrecorded if record_now else [],
                    want if claim_now else 0,
                    saturated,
                    only_ids,
                )
                if record_now:
                    stats.merge(part)
                    unrecorded = []
                if claim_now:
                    timeout = claimed_timeout
                    if len(items) < want:
                        if saturated:
                            blocked = set(saturated)
                            more = True
                        else:
                            more = False
                    for it in items:
                        waiting[it.merchant_id].append(it)
                    n_waiting += len(items)
            if n_waiting and not stopping():
                for merchant_id, q in waiting.items():
                    while q and inflight[merchant_id] < self.per_endpoint:
                        # Several per sending thread are handed over, so the threads keep
                        # sending while this thread is in the database.
                        if n_inflight >= PREFETCH * self.concurrency:
                            break
                        item = q.popleft()
                        inflight[merchant_id] += 1
                        n_inflight += 1
                        n_waiting -= 1
                        self._pool.submit(self._attempt, item, timeout, done_q)
            if n_inflight == 0 and not unrecorded:
                if stopping() or (n_waiting == 0 and not more and not self._wake.is_set()):
                    break
                worked = True  # go round at once: claim (or stop) without waiting
        leftover = [it for q in waiting.values() for it in q]
        if leftover:
            self._release(leftover)
        return stats

    def _attempt(self, item: _Item, timeout: float, done_q: queue.SimpleQueue[_Done]) -> None:
        started = self.ctx.clock.now()
        try:
            if item.invalid is not None:
                outcome = Outcome(None, None, 0, item.invalid)
            else:
                outcome = delivery.send(
                    self._client, item.url, item.id, item.body, item.secrets, timeout
                )
        except Exception as exc:  # a bug here must not strand the log
            log.exception("Sending %s failed unexpectedly", item.id)
            outcome = Outcome(None, None, 0, f"Delivery failed: {type(exc).__name__}: {exc}")
        done_q.put(_Done(item, started, outcome))

    # -- the database ----------------------------------------------------------------------

    def _policy(self, session: Any) -> dict[str, Any]:
        # Read at the start of each run and at most every POLICY_TTL seconds within one.
        now = time.monotonic()
        if self._policy_read_at is None or now - self._policy_read_at > POLICY_TTL:
            self._policy_values = policy.get_all(session)
            self._policy_read_at = now
        return self._policy_values

    def _lease_for(self, values: dict[str, Any]) -> timedelta:
        if self.lease_seconds is not None:
            return timedelta(seconds=self.lease_seconds)
        # Policy: a shorter lease hands a dead copy's work to the others sooner; it must still
        # cover a claimed log's wait in the queue plus its attempt, or a live copy loses it.
        configured = int(values.get("webhook_lease_seconds") or 0)
        if configured > 0:
            return timedelta(seconds=configured)
        # A claimed log may wait behind a full pool before its own attempt: allow a few.
        return timedelta(seconds=60 + 4 * float(values["webhook_timeout_seconds"]))

    def _step(
        self,
        done: list[_Done],
        claim: int,
        saturated: list[str],
        only_ids: list[str] | None,
    ) -> tuple[DispatchStats, list[_Item], float]:
        """One transaction: record ``done``, then claim up to ``claim`` due logs."""
        now = self.ctx.clock.now()
        with self.ctx.db.write() as session:
            stats = self._record_in(session, now, done) if done else DispatchStats()
            if claim > 0:
                items, timeout = self._claim_in(session, now, claim, saturated, only_ids)
            else:
                items = []
                timeout = float(self._policy(session)["webhook_timeout_seconds"])
        return stats, items, timeout

    def _claim(
        self, limit: int, saturated: list[str], only_ids: list[str] | None
    ) -> tuple[list[_Item], float]:
        """Claim alone (its own transaction)."""
        _, items, timeout = self._step([], limit, saturated, only_ids)
        return items, timeout

    def _record(self, done: list[_Done]) -> DispatchStats:
        """Record alone (its own transaction)."""
        return self._step(done, 0, [], None)[0]

    def _claim_in(
        self,
        session: Any,
        now: datetime,
        limit: int,
        saturated: list[str],
        only_ids: list[str] | None,
    ) -> tuple[list[_Item], float]:
        """Lease up to ``limit`` due logs to this dispatcher, inside ``session``'s transaction."""
        conn = session.connection()
        values = self._policy(session)
        timeout = float(values["webhook_timeout_seconds"])
        lease_until = now + self._lease_for(values)
        enabled = select(_M.c.id).where(
            _M.c.webhook_enabled.is_(True), _M.c.webhook_url.is_not(None)
        )
        due = select(_L.c.id).where(
            _L.c.status == "pending",
            _L.c.next_retry_at <= now,
            or_(_L.c.lease_expires_at.is_(None), _L.c.lease_expires_at < now),
            _L.c.merchant_id.in_(enabled),
        )
        if saturated:
            due = due.where(_L.c.merchant_id.not_in(saturated))
        if only_ids is not None:
            due = due.where(_L.c.id.in_(only_ids))
        due = due.order_by(_L.c.next_retry_at).limit(limit)
        if self.ctx.db.is_postgres:
            due = due.with_for_update(skip_locked=True, of=_L)
        rows = conn.execute(
            update(_L)
            .where(_L.c.id.in_(due))
            .values(lease_owner=self.owner, lease_expires_at=lease_until)
            .returning(
                _L.c.id,
                _L.c.merchant_id,
                _L.c.payload,
                _L.c.attempts,
                _L.c.round_start,
                _L.c.next_trigger,
                _L.c.next_actor,
            )
        ).all()
        if not rows:
            return [], timeout
        endpoints = {
            r.id: r
            for r in conn.execute(
                select(
                    _M.c.id,
                    _M.c.webhook_url,
                    _M.c.webhook_secret,
                    _M.c.webhook_secret_previous,
                    _M.c.webhook_secret_rotated_at,
                ).where(_M.c.id.in_({r.merchant_id for r in rows}))
            )
        }
        items = []
        for r in sorted(rows, key=lambda r: r.id):
            ep = endpoints[r.merchant_id]
            secrets = signing.active_secrets(
                ep.webhook_secret, ep.webhook_secret_previous, ep.webhook_secret_rotated_at, now
            )
            items.append(
                _Item(
                    id=r.id,
                    merchant_id=r.merchant_id,
                    body=r.payload.encode("utf-8"),
                    attempts=r.attempts,
                    round_start=r.round_start,
                    trigger=r.next_trigger or "scheduled",
                    actor=r.next_actor,
                    url=ep.webhook_url,
                    secrets=secrets,
                    invalid=_why_unsendable(r.payload, secrets),
                )
            )
        return items, timeout

    def _release(self, items: list[_Item]) -> None:
        """Give back leases of logs claimed but not attempted (a stop or a deadline)."""
        with self.ctx.db.write() as session:
            session.connection().execute(
                update(_L)
                .where(_L.c.id.in_([it.id for it in items]), _L.c.lease_owner == self.owner)
                .values(lease_owner=None, lease_expires_at=None)
            )

    def _record_in(self, session: Any, now: datetime, done: list[_Done]) -> DispatchStats:
        """Record outcomes inside ``session``'s transaction; only logs whose lease we hold."""
        stats = DispatchStats()
        conn = session.connection()
        values = self._policy(session)
        schedule: list[int] = values["webhook_retry_schedule"]
        disable_days = int(values["webhook_disable_after_days"])
        rows: list[tuple[_Done, str, datetime | None, str | None]] = []
        for d in sorted(done, key=lambda d: d.item.id):  # one lock order for every copy
            item, out = d.item, d.outcome
            error = f"{out.error}; the endpoint was disabled" if out.gone else out.error
            if out.ok:
                status, next_at = "success", None
            elif item.invalid is not None or item.attempts + 1 - item.round_start >= len(schedule):
                status, next_at = "failed", None
            else:
                in_round = item.attempts + 1 - item.round_start
                delay = schedule[in_round] * self._rng.uniform(1 - JITTER, 1 + JITTER)
                if out.retry_after is not None:
                    delay = max(delay, out.retry_after)
                status, next_at = "pending", now + timedelta(seconds=delay)
            rows.append((d, status, next_at, error))
        owned = self._update_logs(conn, now, rows)

        attempt_rows: list[dict[str, Any]] = []
        by_status: dict[str, list[str]] = defaultdict(list)
        health: dict[str, list[_Done]] = defaultdict(list)
        gone: dict[str, _Done] = {}
        for d, status, _, error in rows:
            item, out = d.item, d.outcome
            if item.id not in owned:
                stats.lost_leases += 1
                log.info("%s was taken over by another copy; this attempt is not recorded", item.id)
                continue
            if out.ok:
                stats.delivered += 1
            else:
                stats.failed_attempts += 1
                stats.given_up += status == "failed"
            if out.gone:
                gone.setdefault(item.merchant_id, d)
            if item.invalid is None:
                health[item.merchant_id].append(d)
            by_status[status].append(item.id)
            stats.outcomes[item.id] = out
            attempt_rows.append(
                {
                    "webhook_log_id": item.id,
                    "number": item.attempts + 1,
                    "started_at": d.started_at,
                    "duration_ms": out.duration_ms,
                    "url": item.url,
                    "response_code": out.code,
                    "response_body": out.body,
                    "error": error,
                    "trigger": item.trigger,
                    "actor": item.actor,
                    "client": self.ctx.client_id,
                }
            )
        if not attempt_rows:
            return stats
        conn.execute(insert(_A), attempt_rows)
        # Health in completion order, so "the last outcome" means the last one that came back.
        for ds in health.values():
            ds.sort(key=lambda d: d.started_at)
        self._record_health(conn, health, now)
        for merchant_id, d in sorted(gone.items()):
            if any(x.outcome.ok and x.started_at >= d.started_at for x in health[merchant_id]):
                continue  # it answered again after the 410: not gone after all
            stats.endpoints_disabled += self._disable(
                session,
                merchant_id,
                now,
                f"The endpoint answered 410 Gone on {now:%Y-%m-%d %H:%M} UTC; "
                "deliveries wait until it is enabled again.",
                {"log_id": d.item.id, "response_code": 410},
            )
        if disable_days > 0:
            stats.endpoints_disabled += self._auto_disable(
                session,
                [m for m, ds in health.items() if not any(x.outcome.ok for x in ds)],
                now,
                disable_days,
            )
        for status, status_ids in by_status.items():
            notify.emit(session, "webhook_logs", status_ids, status, self.ctx.client_id)
        if health:
            notify.emit(session, "merchants", sorted(health), None, self.ctx.client_id)
        return stats

    def _update_logs(
        self,
        conn: Connection,
        now: datetime,
        rows: list[tuple[_Done, str, datetime | None, str | None]],
    ) -> set[str]:
        """Write each outcome to its log where this dispatcher still holds the lease; returns
        the ids written (the others were taken over by another copy)."""
        if not rows:
            return set()
        if self.ctx.db.is_postgres:
            # One statement for the whole batch: arrays unnested against the table.
            result = conn.execute(
                _PG_RECORD_LOG,
                {
                    "ids": [d.item.id for d, *_ in rows],
                    "statuses": [status for _, status, _, _ in rows],
                    "attempts": [d.item.attempts + 1 for d, *_ in rows],
                    "last_at": [d.started_at for d, *_ in rows],
                    "next_at": [next_at for _, _, next_at, _ in rows],
                    "codes": [d.outcome.code for d, *_ in rows],
                    "bodies": [d.outcome.body for d, *_ in rows],
                    "errors": [error for *_, error in rows],
                    "owner": self.owner,
                    "now": now,
                },
            )
            return set(result.scalars())
        # SQLite: this transaction holds the write lock, so what we read stays true.
        ids = [d.item.id for d, *_ in rows]
        owned = set(
            conn.scalars(select(_L.c.id).where(_L.c.id.in_(ids), _L.c.lease_owner == self.owner))
        )
        params = [
            {
                "b_id": d.item.id,
                "b_status": status,
                "b_attempts": d.item.attempts + 1,
                "b_last": d.started_at,
                "b_next": next_at,
                "b_code": d.outcome.code,
                "b_body": d.outcome.body,
                "b_error": error,
            }
            for d, status, next_at, error in rows
            if d.item.id in owned
        ]
        if params:
            conn.execute(_RECORD_LOG.values(updated_at=now, lease_owner=None), params)
        return owned

    def _record_health(
        self, conn: Connection, health: dict[str, list[_Done]], now: datetime
    ) -> None:
        """Consecutive failures, last success and failing-since per endpoint."""
        recovered: list[dict[str, Any]] = []
        failing: list[dict[str, Any]] = []
        for merchant_id in sorted(health):  # one order everywhere: no deadlocks between copies
            ds = health[merchant_id]
            last_ok = max((i for i, d in enumerate(ds) if d.outcome.ok), default=None)
            if last_ok is None:
                failing.append({"b_id": merchant_id, "b_n": len(ds), "b_since": ds[0].started_at})
            else:
                after = ds[last_ok + 1 :]
                recovered.append(
                    {
                        "b_id": merchant_id,
                        "b_n": len(after),
                        "b_ok": ds[last_ok].started_at,
                        "b_since": after[0].started_at if after else None,
                    }
                )
        if recovered:
            conn.execute(
                update(_M)
                .where(_M.c.id == bindparam("b_id"))
                .values(
                    webhook_last_success_at=bindparam("b_ok"),
                    webhook_consecutive_failures=bindparam("b_n"),
                    webhook_failing_since=bindparam("b_since"),
                ),
                recovered,
            )
        if failing:
            conn.execute(
                update(_M)
                .where(_M.c.id == bindparam("b_id"))
                .values(
                    webhook_consecutive_failures=_M.c.webhook_consecutive_failures
                    + bindparam("b_n"),
                    webhook_failing_since=func.coalesce(
                        _M.c.webhook_failing_since,
                        bindparam("b_since", type_=_M.c.webhook_failing_since.type),
                    ),
                ),
                failing,
            )

    def _auto_disable(self, session: Any, merchant_ids: list[str], now: datetime, days: int) -> int:
        if not merchant_ids:
            return 0
        cutoff = now - timedelta(days=days)
        rows = (
            session.connection()
            .execute(
                select(
                    _M.c.id, _M.c.webhook_failing_since, _M.c.webhook_consecutive_failures
                ).where(
                    _M.c.id.in_(merchant_ids),
                    _M.c.webhook_enabled.is_(True),
                    _M.c.webhook_failing_since.is_not(None),
                    _M.c.webhook_failing_since <= cutoff,
                )
            )
            .all()
        )
        count = 0
        for r in sorted(rows, key=lambda r: r.id):
            count += self._disable(
                session,
                r.id,
                now,
                f"Every delivery since {r.webhook_failing_since:%Y-%m-%d %H:%M} UTC failed "
                f"({r.webhook_consecutive_failures} attempts, more than {days} days); "
                "deliveries wait until the endpoint is enabled again.",
                {
                    "failing_since": r.webhook_failing_since,
                    "failures": r.webhook_consecutive_failures,
                },
            )
        return count

    def _disable(
        self, session: Any, merchant_id: str, now: datetime, reason: str, details: dict[str, Any]
    ) -> int:
        result = session.connection().execute(
            update(_M)
            .where(_M.c.id == merchant_id, _M.c.webhook_enabled.is_(True))
            .values(webhook_enabled=False, webhook_disabled_reason=reason)
        )
        if not result.rowcount:
            return 0
        audit.record(
            session,
            at=now,
            actor=SYSTEM_ACTOR,
            action="endpoint.disable",
            entity_type="merchant",
            entity_id=merchant_id,
            details={"reason": reason, "automatic": True, **details},
            client=self.ctx.client_id,
        )
        log.warning("Webhook endpoint of %s disabled: %s", merchant_id, reason)
        return 1


_RECORD_LOG = (
    update(_L)
    .where(_L.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        attempts=bindparam("b_attempts"),
        last_attempt_at=bindparam("b_last", type_=_L.c.last_attempt_at.type),
        next_retry_at=bindparam("b_next", type_=_L.c.next_retry_at.type),
        response_code=bindparam("b_code"),
        response_body=bindparam("b_body"),
        last_error=bindparam("b_error"),
        lease_expires_at=None,
        next_trigger=None,
        next_actor=None,
    )
)


_PG_RECORD_LOG = text(
    """
    UPDATE webhook_logs AS l SET
        status = v.status, attempts = v.attempts, last_attempt_at = v.last_at,
        next_retry_at = v.next_at, response_code = v.code, response_body = v.body,
        last_error = v.error, lease_owner = NULL, lease_expires_at = NULL,
        next_trigger = NULL, next_actor = NULL, updated_at = :now
    FROM unnest(
        CAST(:ids AS varchar[]), CAST(:statuses AS varchar[]), CAST(:attempts AS integer[]),
        CAST(:last_at AS timestamptz[]), CAST(:next_at AS timestamptz[]),
        CAST(:codes AS integer[]), CAST(:bodies AS text[]), CAST(:errors AS text[])
    ) AS v(id, status, attempts, last_at, next_at, code, body, error)
    WHERE l.id = v.id AND l.lease_owner = :owner
    RETURNING l.id
    """
)


def _why_unsendable(payload: str, secrets: list[str]) -> str | None:
    """A sentence when this log cannot be sent at all (retrying would not help)."""
    try:
        parsed = json.loads(payload)
    except ValueError:
        return "The payload is not valid JSON; it was not sent."
    if not isinstance(parsed, dict):
        return "The payload is not a JSON object; it was not sent."
    if not secrets:
        return "The endpoint has no signing secret; it was not sent."
    return None


# -- the scheduler task --------------------------------------------------------------------

# One dispatcher per Context, so the thread pool and the listener outlive a single round.
_by_context: dict[int, tuple[weakref.ref[Context], Dispatcher]] = {}
_by_context_lock = threading.Lock()
# Part of each one-second round spent answering wake-ups: the gap before the next round
# is what bounds the latency of a new log when a wake-up comes between rounds.
_LINGER_SHARE = 0.9


def for_context(ctx: Context) -> Dispatcher:
    """The dispatcher the scheduler task uses for ``ctx`` (created on first use, listening)."""
    with _by_context_lock:
        entry = _by_context.get(id(ctx))
        if entry is not None and entry[0]() is ctx and not entry[1]._closed:
            return entry[1]
        dispatcher = Dispatcher(ctx)
        dispatcher.listen()
        _by_context[id(ctx)] = (weakref.ref(ctx), dispatcher)
        return dispatcher


def close_for_context(ctx: Context) -> None:
    """Close the dispatcher of ``ctx`` (the task's stop hook)."""
    with _by_context_lock:
        entry = _by_context.pop(id(ctx), None)
    if entry is not None:
        entry[1].close()


def _run_task(ctx: Context) -> str | None:
    dispatcher = for_context(ctx)
    return dispatcher.run_round(linger=_TASK_INTERVAL * _LINGER_SHARE).sentence()


_TASK_INTERVAL = 1.0


def dispatch_task() -> Task:
    """The scheduler's ``webhook_dispatch`` task: delivers due webhooks every second and,
    while a round runs, answers wake-ups at once."""
    from core.scheduler import Task

    return Task(
        name="webhook_dispatch",
        title="Dispatch webhooks",
        interval=_TASK_INTERVAL,
        run=_run_task,
        on_stop=close_for_context,
    )
