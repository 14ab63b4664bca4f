"""The embedded scheduler: APScheduler 3.x used only as a trigger (DESIGN.md §4).

Each copy of Paydesk wakes its periodic tasks here. The durable queue is the database; a
task claims due rows, works and commits, so the scheduler keeps no jobs of its own (an
in-memory job store) and losing it loses nothing. A task never overlaps itself, a failing
task is recorded in its state and never stops the others, and ``stop()`` waits for a
running task to finish its transaction and leaves no thread behind.

Times in ``TaskState`` are wall-clock times, because that is what the trigger runs on;
tasks themselves read ``ctx.clock`` for anything they store.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from core.clock import system_clock
from core.context import Context
from core.errors import NotFound, PaydeskError, sentence
from core.jobs.runs import record_task_run
from core.jobs.task import Task
from core.store import dburl, notify
from core.store.notify import Notice

log = logging.getLogger(__name__)

# Runs are written to the task_runs table (for `paydesk health` and other copies' Jobs
# views) at most this often per task, unless the outcome changes: a dispatcher woken many
# times a second must not add a write per wake-up.
PERSIST_EVERY = timedelta(seconds=30)

MAX_MESSAGE = 300  # characters of an error sentence kept in a task's state
WAKE_RETRY_DELAY = timedelta(milliseconds=50)


@dataclass(frozen=True)
class TaskState:
    """What the Jobs view and the worker log show about one task."""

    name: str
    title: str
    interval: float
    running: bool
    last_run_at: datetime | None
    last_duration: float | None
    last_outcome: str | None  # "ok" | "error"
    last_message: str | None
    next_run_at: datetime | None
    runs: int
    errors: int


@dataclass
class _Record:
    """A task's mutable state; only touched under ``Scheduler._lock``."""

    task: Task
    running: bool = False
    last_run_at: datetime | None = None
    last_duration: float | None = None
    last_outcome: str | None = None
    last_message: str | None = None
    runs: int = 0
    errors: int = 0
    # A wake-up arrived while the task was running: run again as soon as it finishes, so
    # work added during a run is not left until the next poll.
    wake_pending: bool = False
    persisted_at: datetime | None = None
    persisted_outcome: str | None = None


class _SkippedRunFilter(logging.Filter):
    """A skipped run of a task that is still running is the no-overlap rule at work, not a
    warning; the scheduler logs it at DEBUG itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances" not in record.getMessage()


# APScheduler narrates adding, starting and pausing at INFO; our own lines say what matters.
_apscheduler_log = logging.getLogger(f"{__name__}.apscheduler")
_apscheduler_log.setLevel(logging.WARNING)
_apscheduler_log.addFilter(_SkippedRunFilter())


Listener = Callable[[TaskState], None]


class Scheduler:
    """Runs ``tasks`` (every task: ``core.jobs.registry.all_tasks``) on their intervals in
    background threads."""

    def __init__(self, ctx: Context, tasks: Sequence[Task]) -> None:
        self._ctx = ctx
        task_list = list(tasks)
        self._records: dict[str, _Record] = {}
        for task in task_list:
            if task.name in self._records:
                raise ValueError(f"Two tasks are named {task.name!r}.")
            if task.interval <= 0:
                raise ValueError(f"Task {task.name!r} needs an interval greater than zero.")
            self._records[task.name] = _Record(task)
        # One lock per task so a task never runs twice at once, even when run_once() is
        # called while the background scheduler is also running it.
        self._run_locks = {name: threading.Lock() for name in self._records}
        self._lock = threading.Lock()  # guards the records and the listeners
        # Guards every call into APScheduler. stop() flips _stopping under it before it shuts
        # APScheduler down, so a task thread never calls in while shutdown holds APScheduler's
        # locks waiting for that same thread (a deadlock otherwise).
        self._control = threading.RLock()
        self._listeners: list[Listener] = []
        self._scheduler: BackgroundScheduler | None = None
        self._jobs: dict[str, Job] = {}
        self._stopping = False
        self._paused = False
        self._ran = False  # started or run_once() ran: stop() has cleanup to do

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the background threads; each task first runs after its ``initial_delay``."""
        with self._control:
            if self._scheduler is not None:
                return
            apscheduler = logging.getLogger("apscheduler")
            if apscheduler.level == logging.NOTSET:
                # Its executor logs every run at INFO as well.
                apscheduler.setLevel(logging.WARNING)
            scheduler = BackgroundScheduler(
                jobstores={"default": MemoryJobStore()},
                executors={"default": ThreadPoolExecutor(max_workers=max(1, len(self._records)))},
                job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
                timezone=UTC,
                logger=_apscheduler_log,
            )
            scheduler.add_listener(self._on_skipped, EVENT_JOB_MAX_INSTANCES)
            now = system_clock.now()
            self._jobs = {}
            for name, record in self._records.items():
                task = record.task
                self._jobs[name] = scheduler.add_job(
                    self._run_job,
                    trigger=IntervalTrigger(seconds=task.interval, timezone=UTC),
                    args=[name],
                    id=name,
                    name=task.title,
                    next_run_time=now + timedelta(seconds=max(0.0, task.initial_delay)),
                )
            self._stopping = False
            scheduler.start(paused=self._paused)
            self._scheduler = scheduler
            self._start_wakeups()
            self._ran = True
            log.info(
                "Scheduler started on %s with %d tasks: %s",
                self._ctx.db.target.masked(),
                len(self._records),
                ", ".join(self._records),
            )

    def stop(self, wait: bool = True) -> None:
        """Stop. With ``wait`` (the default) a running task finishes its transaction first and
        no scheduler thread is left when this returns. Then each task's ``on_stop`` runs.
        Call it from the thread that started the scheduler, never from a task or a listener
        (waiting for the running task from inside it would wait forever)."""
        with self._control:
            self._stopping = True
            scheduler, self._scheduler = self._scheduler, None
        self._stop_wakeups()
        if scheduler is not None:
            scheduler.shutdown(wait=wait)
            log.info("Scheduler stopped")
        with self._control:
            self._jobs = {}
            ran, self._ran = self._ran, False
        if ran:
            self._run_stop_hooks()

    def pause(self) -> None:
        """Hold every task (a run in progress finishes); used while the database is unreachable."""
        with self._control:
            self._paused = True
            if self._scheduler is not None and not self._stopping:
                self._scheduler.pause()

    def resume(self) -> None:
        """Undo ``pause()``; a task whose time passed while paused runs once at once."""
        with self._control:
            self._paused = False
            if self._scheduler is not None and not self._stopping:
                self._scheduler.resume()

    @property
    def running(self) -> bool:
        """True between ``start()`` and ``stop()`` (also while paused)."""
        with self._control:
            return self._scheduler is not None

    @property
    def paused(self) -> bool:
        with self._control:
            return self._paused

    # -- what people see -------------------------------------------------------------------

    def states(self) -> list[TaskState]:
        """A snapshot of every task, in registry order."""
        with self._lock:
            return [self._snapshot(record) for record in self._records.values()]

    def state(self, name: str) -> TaskState:
        """A snapshot of one task."""
        record = self._record(name)
        with self._lock:
            return self._snapshot(record)

    @property
    def tasks(self) -> list[Task]:
        return [record.task for record in self._records.values()]

    def add_listener(self, callback: Listener) -> None:
        """``callback(state)`` is called from a scheduler thread after each run of a task."""
        with self._lock:
            self._listeners.append(callback)

    def remove_listener(self, callback: Listener) -> None:
        with self._lock:
            if callback in self._listeners:
                self._listeners.remove(callback)

    # -- running ---------------------------------------------------------------------------

    def run_now(self, name: str) -> None:
        """Run ``name`` as soon as possible, in the background. If it is running, it runs again
        right after. While paused the run waits for ``resume()``; when stopped this does nothing."""
        record = self._record(name)
        with self._lock:
            record.wake_pending = True
            busy = record.running
        if busy:
            return
        with self._control:
            job = self._jobs.get(name)
            if self._scheduler is None or self._stopping or job is None:
                return
            self._scheduler.modify_job(job.id, next_run_time=system_clock.now())

    def wake(self, name: str) -> None:
        """Same as ``run_now``; called when work for ``name`` was added."""
        self.run_now(name)

    def run_once(self) -> dict[str, TaskState]:
        """Run each task once, one after the other, in this thread (``paydesk worker --once``)."""
        self._ran = True
        return {name: self._execute(record) for name, record in self._records.items()}

    def _run_job(self, name: str) -> None:
        # Called by APScheduler in a pool thread; APScheduler never sees an exception.
        record = self._records[name]
        while True:
            self._execute(record)
            with self._lock:
                again = record.wake_pending and not self._stopping and not self._paused
            if not again:
                return

    def _execute(self, record: _Record) -> TaskState:
        task = record.task
        with self._run_locks[task.name]:
            with self._lock:
                record.running = True
                # This run sees everything committed before it began: earlier wakes are served.
                record.wake_pending = False
            started = system_clock.now()
            t0 = time.perf_counter()
            outcome, message = "ok", None
            try:
                try:
                    message = task.run(self._ctx)
                except Exception as exc:
                    outcome, message = "error", self._report_error(record, exc)
            finally:
                duration = time.perf_counter() - t0
                with self._lock:
                    record.running = False
                    record.last_run_at = started
                    record.last_duration = duration
                    record.last_outcome = outcome
                    record.last_message = message
                    record.runs += 1
                    if outcome == "error":
                        record.errors += 1
                    state = self._snapshot(record)
                    listeners = list(self._listeners)
            self._persist(record, state)
        for callback in listeners:
            try:
                callback(state)
            except Exception:
                log.exception("A listener of the scheduler failed after %s", task.name)
        return state

    # -- helpers ---------------------------------------------------------------------------

    def _start_wakeups(self) -> None:
        """Subscribe to change notices for tasks that have ``wake_on``; on Postgres also hear
        other copies through the process's shared listener."""
        if not any(r.task.wake_on for r in self._records.values()):
            return
        notify.subscribe(self._on_notice)
        if self._ctx.db.is_postgres:
            conninfo = notify.listener_conninfo(self._ctx.db.engine.url)
            self._notice_listener = notify.acquire_listener(conninfo, self._ctx.client_id)

    def _stop_wakeups(self) -> None:
        notify.unsubscribe(self._on_notice)
        listener = getattr(self, "_notice_listener", None)
        self._notice_listener = None  # type: ignore[assignment]  # set again by the next start
        if listener is not None:
            notify.release_listener(listener)

    def _on_notice(self, notice: Notice) -> None:
        for name, record in self._records.items():
            wake_on = record.task.wake_on
            if wake_on is not None and wake_on(notice):
                self.wake(name)

    def _persist(self, record: _Record, state: TaskState) -> None:
        """Write the run to ``task_runs`` (throttled); never fails the task for it."""
        now = system_clock.now()
        due = (
            record.persisted_at is None
            or now - record.persisted_at >= PERSIST_EVERY
            or state.last_outcome != record.persisted_outcome
        )
        if not due:
            return
        interval = timedelta(seconds=state.interval)
        # The next write of this copy comes no later than this, so health never sees a
        # busy task as late just because its runs were not all written.
        planned = now + PERSIST_EVERY + interval
        next_run = max(state.next_run_at, planned) if state.next_run_at else planned
        try:
            with self._ctx.db.write() as session:
                record_task_run(
                    session,
                    task=state.name,
                    client_id=self._ctx.client_id,
                    at=state.last_run_at or now,
                    outcome=state.last_outcome or "ok",
                    message=state.last_message,
                    next_run_at=next_run,
                    title=state.title,
                    interval=state.interval,
                    duration=state.last_duration,
                )
        except Exception as exc:  # the database may be the very thing that is down
            log.debug("Could not record the run of %s: %s", state.name, type(exc).__name__)
            return
        record.persisted_at = now
        record.persisted_outcome = state.last_outcome

    def _record(self, name: str) -> _Record:
        try:
            return self._records[name]
        except KeyError:
            raise NotFound(f"There is no task named {name!r}.") from None

    def _snapshot(self, record: _Record) -> TaskState:
        task = record.task
        return TaskState(
            name=task.name,
            title=task.title,
            interval=task.interval,
            running=record.running,
            last_run_at=record.last_run_at,
            last_duration=record.last_duration,
            last_outcome=record.last_outcome,
            last_message=record.last_message,
            next_run_at=self._next_run_at(record),
            runs=record.runs,
            errors=record.errors,
        )

    def _next_run_at(self, record: _Record) -> datetime | None:
        # Reading the attribute of the job object APScheduler keeps needs no lock; the
        # in-memory job store updates that very object.
        job = self._jobs.get(record.task.name)
        if job is None or self._scheduler is None:
            return None
        nxt: datetime | None = job.next_run_time
        if nxt is not None and record.last_run_at is not None and nxt <= record.last_run_at:
            # A run shorter than APScheduler's own bookkeeping: the job still shows the time
            # of the run that just ended. The trigger knows the one after it.
            nxt = job.trigger.get_next_fire_time(nxt, system_clock.now())
        return nxt

    def _report_error(self, record: _Record, exc: Exception) -> str:
        """Log a task's failure (no password anywhere) and return its one-line sentence."""
        said = self._scrub(sentence(exc))
        if len(said) > MAX_MESSAGE:
            said = said[: MAX_MESSAGE - 1] + "…"
        where = self._ctx.db.target.masked()
        with self._lock:
            repeated = record.last_outcome == "error" and record.last_message == said
        if isinstance(exc, PaydeskError) or repeated:
            # An expected failure, or the same one again: one line, no traceback flood.
            log.error("Task %s failed on %s: %s", record.task.name, where, said)
        else:
            details = self._scrub("".join(traceback.format_exception(exc)))
            log.error("Task %s failed on %s: %s\n%s", record.task.name, where, said, details)
        return said

    def _scrub(self, text: str) -> str:
        db = self._ctx.db
        # The engine's URL can carry a password the target lacks (filled in from the keyring),
        # in the login or as a query parameter.
        for url in (db.target.url, db.engine.url):
            text = dburl.scrub(text, url)
        return text

    def _run_stop_hooks(self) -> None:
        for record in self._records.values():
            hook = record.task.on_stop
            if hook is None:
                continue
            try:
                hook(self._ctx)
            except Exception as exc:
                log.warning(
                    "Cleaning up after %s failed: %s",
                    record.task.name,
                    self._scrub(sentence(exc)),
                )

    def _on_skipped(self, event: JobSubmissionEvent) -> None:
        # APScheduler's thread, after it released its job store lock. A wake-up that lands
        # while a run is winding down (our record says idle, APScheduler still counts the
        # instance) is skipped by APScheduler; try it again a moment later instead of
        # leaving it to the next poll.
        log.debug("%s is still running; its next turn was skipped", event.job_id)
        record = self._records.get(event.job_id)
        if record is None:
            return
        with self._lock:
            retry = record.wake_pending and not record.running
        if not retry:
            return  # a running task serves its own pending wake-up when it finishes
        with self._control:
            if self._scheduler is None or self._stopping:
                return
            self._scheduler.modify_job(
                event.job_id, next_run_time=system_clock.now() + WAKE_RETRY_DELAY
            )
