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

Signing: standalone, each attempt is signed in Python with the merchant's secrets as it is
sent. In shared mode no login may read a secret: the claim asks the database to sign the logs
it has just leased (``paydesk_sign_deliveries``, migration 0008), and a log that waited so long
after its claim that its timestamp would look stale to a receiver is signed again just before
it is sent.

Three ways to run it:

- ``run_until_idle()``: deliver everything due, then return (tests, benchmarks);
- ``dispatch_task()``: the scheduler's ``webhook_dispatch`` task (a round every second that
  also answers wake-ups while it runs);
- ``start()`` / ``stop()``: a thread that loops on wake-ups (headless worker).

Wake-ups come from change notices: in process through ``notify.subscribe``, from other
copies through a Postgres ``notify.Listener``; polling covers lost notices.

The claim and its lease are in ``core.webhooks.claims``, the recording of outcomes in
``core.webhooks.outcomes``; this module holds the loop that joins them to the sending threads.
"""

from __future__ import annotations

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
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy.orm import Session

from core.access import policy
from core.context import Context
from core.store import notify
from core.webhooks import claims, outcomes, signing
from core.webhooks import secrets as merchant_secrets
from core.webhooks import sender as delivery
from core.webhooks.claims import NOT_SIGNED, Item
from core.webhooks.outcomes import DispatchStats, Done
from core.webhooks.sender import Outcome

if TYPE_CHECKING:
    from core.jobs.scheduler import Task

log = logging.getLogger(__name__)

# Seconds a policy read is reused within one run (a change applies to the next batch).
POLICY_TTL = 2.0
# Logs handed to the thread pool per sending thread: enough to keep the threads busy while
# the control thread claims and records (tens of milliseconds on a loaded machine).
PREFETCH = 4
# Outcomes wait at most this long (seconds) to be recorded together with others.
RECORD_DELAY = 0.1
# Shared mode: a log signed by the database at its claim is signed again when it is sent more
# than this many seconds later (receivers refuse timestamps older than 5 minutes by default).
RESIGN_AFTER = 60.0


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
        # Default: long enough for a claimed log to wait its turn and be sent (see claims.lease_for).
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
        done_q: queue.SimpleQueue[Done] = queue.SimpleQueue()
        waiting: dict[str, deque[Item]] = defaultdict(deque)
        inflight: Counter[str] = Counter()
        n_waiting = n_inflight = 0
        unrecorded: list[Done] = []
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
            claims.release(self.ctx, self.owner, leftover)
        return stats

    def _attempt(self, item: Item, timeout: float, done_q: queue.SimpleQueue[Done]) -> None:
        started = self.ctx.clock.now()
        try:
            signer: list[str] | signing.Signed | str = item.signed or item.secrets
            if item.signed is not None and time.monotonic() - item.signed_at > RESIGN_AFTER:
                signer = self._sign_again(item)
            if item.invalid is not None:
                outcome = Outcome(None, None, 0, item.invalid)
            elif isinstance(signer, str):
                outcome = Outcome(None, None, 0, signer)
            else:
                outcome = delivery.send(self._client, item.url, item.id, item.body, signer, timeout)
        except Exception as exc:  # a bug here must not strand the log
            log.exception("Sending %s failed unexpectedly", item.id)
            outcome = Outcome(None, None, 0, f"Delivery failed: {type(exc).__name__}: {exc}")
        done_q.put(Done(item, started, outcome))

    def _sign_again(self, item: Item) -> signing.Signed | str:
        """Fresh signatures from the database for a log that waited long after its claim, or
        the sentence why there are none (its lease was lost, say: then the outcome is not
        recorded either)."""
        with self.ctx.db.read() as session:
            got = merchant_secrets.sign_deliveries(
                session, [item.id], lease_owner=self.owner, now=self.ctx.clock.now()
            ).get(item.id, NOT_SIGNED)
        if isinstance(got, signing.Signed):
            item.signed, item.signed_at = got, time.monotonic()
        return got

    # -- the database ----------------------------------------------------------------------

    def _policy(self, session: Session) -> dict[str, Any]:
        # Read at the start of each run and at most every POLICY_TTL seconds within one.
        now = time.monotonic()
        if self._policy_read_at is None or now - self._policy_read_at > POLICY_TTL:
            self._policy_values = policy.get_all(session)
            self._policy_read_at = now
        return self._policy_values

    def _step(
        self,
        done: list[Done],
        claim: int,
        saturated: list[str],
        only_ids: list[str] | None,
    ) -> tuple[DispatchStats, list[Item], float]:
        """One transaction: record ``done``, then claim up to ``claim`` due logs."""
        now = self.ctx.clock.now()
        with self.ctx.db.write() as session:
            stats = DispatchStats()
            if done:
                values = self._policy(session)
                stats = outcomes.record_in(
                    session, self.ctx, self.owner, values, self._rng, now, done
                )
            if claim > 0:
                items, timeout = claims.claim_in(
                    session,
                    self.ctx,
                    self.owner,
                    self._policy(session),
                    self.lease_seconds,
                    now,
                    claim,
                    saturated,
                    only_ids,
                )
            else:
                items = []
                timeout = float(self._policy(session)["webhook_timeout_seconds"])
        return stats, items, timeout

    def _claim(
        self, limit: int, saturated: list[str], only_ids: list[str] | None
    ) -> tuple[list[Item], float]:
        """Claim alone (its own transaction)."""
        _, items, timeout = self._step([], limit, saturated, only_ids)
        return items, timeout

    def _record(self, done: list[Done]) -> DispatchStats:
        """Record alone (its own transaction)."""
        return self._step(done, 0, [], None)[0]


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
    from core.jobs.scheduler import Task

    return Task(
        name="webhook_dispatch",
        title="Dispatch webhooks",
        interval=_TASK_INTERVAL,
        run=_run_task,
        on_stop=close_for_context,
    )
