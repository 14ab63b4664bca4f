"""The embedded scheduler: lifecycle, threads, errors, wake-ups, pause, no overlap."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from core.context import Context
from core.errors import NotFound, PaydeskError
from core.jobs import scheduler as scheduler_module
from core.jobs.registry import all_tasks
from core.jobs.scheduler import Scheduler, Task, TaskState
from core.store.db import Database, open_database
from core.store.dburl import DatabaseTarget
from core.store.models import Client

WAIT = 10.0  # generous upper bound for anything that should happen "at once"
LONG = 3600.0  # an interval that never elapses during a test


@pytest.fixture
def local_ctx(tmp_path, clock) -> Iterator[Context]:
    """A context on a SQLite file, for tests about the scheduler rather than the data."""
    db = open_database(f"sqlite:///{tmp_path / 'sched.sqlite3'}")
    yield Context(db=db, clock=clock, client_id="sched-test")
    db.dispose()


@pytest.fixture
def make_scheduler(local_ctx) -> Iterator[Callable[..., Scheduler]]:
    """Schedulers built here are always stopped, even when a test fails half-way."""
    made: list[Scheduler] = []

    def make(*tasks: Task, ctx: Context | None = None) -> Scheduler:
        s = Scheduler(ctx or local_ctx, list(tasks))
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop(wait=True)


def counting_task(name: str, event: threading.Event | None = None, **kw) -> Task:
    def run(_ctx: Context) -> str:
        if event is not None:
            event.set()
        return "done"

    kw.setdefault("interval", LONG)
    return Task(name=name, title=name.title(), run=run, **kw)


def listener_for(name: str) -> tuple[Callable[[TaskState], None], list[TaskState], threading.Event]:
    seen: list[TaskState] = []
    event = threading.Event()

    def on_run(state: TaskState) -> None:
        if state.name == name:
            seen.append(state)
            event.set()

    return on_run, seen, event


def test_start_and_stop_leave_no_thread_behind(make_scheduler):
    before = set(threading.enumerate())
    ran = threading.Event()
    s = make_scheduler(counting_task("tick", ran, interval=0.05), counting_task("tock"))
    s.start()
    assert ran.wait(WAIT)
    assert s.running
    assert set(threading.enumerate()) != before  # it did start threads
    s.stop(wait=True)
    assert not s.running
    assert set(threading.enumerate()) == before


def test_stop_waits_for_a_running_task_to_commit_its_transaction(ctx, make_scheduler):
    started, release = threading.Event(), threading.Event()
    finished: list[bool] = []

    def slow_write(c: Context) -> str:
        with c.db.write() as session:
            started.set()
            release.wait(WAIT)
            now = c.clock.now()
            session.add(
                Client(
                    id="slow",
                    host="h",
                    user="u",
                    version="1",
                    kind="app",
                    started_at=now,
                    last_seen=now,
                )
            )
        finished.append(True)
        return "written"

    s = make_scheduler(Task("slow", "Slow", LONG, slow_write), ctx=ctx)
    s.start()
    assert started.wait(WAIT)
    # Let the task go on only after stop() has begun waiting for it.
    releaser = threading.Timer(0.2, release.set)
    releaser.start()
    s.stop(wait=True)
    releaser.join()
    assert finished == [True]
    with ctx.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Client)) == 1
    [state] = s.states()
    assert state.last_outcome == "ok"
    assert state.running is False


def test_a_failing_task_is_recorded_and_the_scheduler_keeps_running(make_scheduler, caplog):
    def boom(_ctx: Context) -> None:
        raise ValueError("the ledger is upside down\nsecond line")

    on_run, failures, failed = listener_for("boom")
    healthy = threading.Event()
    s = make_scheduler(Task("boom", "Boom", LONG, boom), counting_task("fine", healthy))
    s.add_listener(on_run)
    with caplog.at_level(logging.ERROR, logger="core.jobs.scheduler"):
        s.start()
        assert failed.wait(WAIT)
        assert healthy.wait(WAIT)
        failed.clear()
        s.run_now("boom")
        assert failed.wait(WAIT)
    assert s.running
    state = failures[-1]
    assert state.last_outcome == "error"
    assert state.last_message == (
        "Paydesk failed unexpectedly (ValueError: the ledger is upside down); "
        "the log has the details."
    )
    assert state.errors == 2 and state.runs == 2
    assert "the ledger is upside down" in caplog.text
    fine = next(st for st in s.states() if st.name == "fine")
    assert fine.last_outcome == "ok" and fine.last_message == "done" and fine.errors == 0


def test_a_paydesk_error_is_recorded_as_its_sentence(make_scheduler):
    def full(_ctx: Context) -> None:
        raise PaydeskError("The disk is full.")

    on_run, failures, failed = listener_for("full")
    s = make_scheduler(Task("full", "Full", LONG, full))
    s.add_listener(on_run)
    s.start()
    assert failed.wait(WAIT)
    assert failures[-1].last_message == "The disk is full."


def test_the_error_log_and_state_never_show_the_database_password(tmp_path, clock, caplog):
    sqlite_db = open_database(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    secret_target = DatabaseTarget(make_url("postgresql+psycopg://clerk:s3cr3t-pw@db.example/pay"))
    ctx = Context(db=Database(secret_target, sqlite_db.engine), clock=clock)

    def leaky(_ctx: Context) -> None:
        raise RuntimeError("cannot reach postgresql://clerk:s3cr3t-pw@db.example/pay")

    s = Scheduler(ctx, [Task("leaky", "Leaky", LONG, leaky)])
    with caplog.at_level(logging.DEBUG):
        results = s.run_once()
    s.stop()
    sqlite_db.dispose()
    assert results["leaky"].last_outcome == "error"
    assert "s3cr3t-pw" not in (results["leaky"].last_message or "")
    assert "clerk:***@db.example" in (results["leaky"].last_message or "")
    assert "s3cr3t-pw" not in caplog.text
    assert "clerk:***@db.example" in caplog.text


def test_run_now_runs_a_task_at_once(make_scheduler):
    ran = threading.Event()
    s = make_scheduler(counting_task("later", ran, initial_delay=LONG))
    s.start()
    assert not ran.is_set()
    before = s.states()[0]
    assert before.runs == 0 and before.next_run_at is not None
    s.run_now("later")
    assert ran.wait(WAIT)


def test_a_wake_during_a_run_runs_the_task_again_right_after(make_scheduler):
    started, release = threading.Event(), threading.Event()
    runs: list[int] = []

    def work(_ctx: Context) -> str:
        runs.append(len(runs) + 1)
        started.set()
        release.wait(WAIT)
        return f"round {len(runs)}"

    on_run, seen, _ = listener_for("work")
    second = threading.Event()
    s = make_scheduler(Task("work", "Work", LONG, work))
    s.add_listener(lambda st: second.set() if st.runs == 2 else None)
    s.add_listener(on_run)
    s.start()
    assert started.wait(WAIT)
    s.wake("work")  # work was added while the task was busy
    release.set()
    assert second.wait(WAIT)
    assert [st.last_message for st in seen[:2]] == ["round 1", "round 2"]


class WindowScheduler(Scheduler):
    """Holds a job open after its run ended (APScheduler still counts it as running), which
    is where a wake-up can land; the window is normally microseconds wide."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.in_window = threading.Event()
        self.leave_window = threading.Event()
        self.skipped = threading.Event()

    def _run_job(self, name: str) -> None:
        super()._run_job(name)
        if not self.in_window.is_set():
            self.in_window.set()
            self.leave_window.wait(WAIT)

    def _on_skipped(self, event) -> None:
        super()._on_skipped(event)
        self.skipped.set()


def test_a_wake_as_a_run_ends_is_not_lost(local_ctx):
    second = threading.Event()
    s = WindowScheduler(local_ctx, [counting_task("tail")])
    s.add_listener(lambda st: second.set() if st.runs == 2 else None)
    s.start()
    try:
        assert s.in_window.wait(WAIT)
        s.wake("tail")  # the task is idle, but APScheduler refuses a second instance
        assert s.skipped.wait(WAIT)
        s.leave_window.set()
        assert second.wait(WAIT)
    finally:
        s.leave_window.set()
        s.stop()


def test_a_task_never_overlaps_itself(make_scheduler):
    lock = threading.Lock()
    active = 0
    most = 0
    done = threading.Event()
    runs = 0

    def busy(_ctx: Context) -> None:
        nonlocal active, most, runs
        with lock:
            active += 1
            most = max(most, active)
        threading.Event().wait(0.02)  # stay busy while the trigger keeps firing
        with lock:
            active -= 1
            runs += 1
            if runs >= 8:
                done.set()

    # Other tasks give the pool spare threads, so only the no-overlap rule keeps runs apart.
    s = make_scheduler(
        Task("busy", "Busy", 0.005, busy), counting_task("idle1"), counting_task("idle2")
    )
    s.start()
    stop_hammering = threading.Event()

    def hammer() -> None:
        while not stop_hammering.is_set():
            s.run_now("busy")

    hammers = [threading.Thread(target=hammer) for _ in range(3)]
    for t in hammers:
        t.start()
    try:
        assert done.wait(WAIT)
    finally:
        stop_hammering.set()
        for t in hammers:
            t.join()
    assert most == 1


def test_pause_holds_tasks_until_resume(make_scheduler):
    ran = threading.Event()
    s = make_scheduler(counting_task("held", ran, initial_delay=LONG))
    s.start()
    s.pause()
    assert s.paused and s.running
    s.run_now("held")
    assert not ran.wait(0.3)  # paused: the requested run waits
    s.resume()
    assert not s.paused
    assert ran.wait(WAIT)


def test_a_scheduler_started_paused_runs_nothing_until_resumed(make_scheduler):
    ran = threading.Event()
    s = make_scheduler(counting_task("soon", ran))
    s.pause()
    s.start()
    assert not ran.wait(0.3)
    s.resume()
    assert ran.wait(WAIT)


def test_run_once_runs_each_task_once_in_order_and_tells_listeners(make_scheduler):
    order: list[str] = []

    def task(name: str) -> Task:
        return Task(name, name, LONG, lambda _c: order.append(name) or f"{name} ok")

    s = make_scheduler(task("a"), task("b"), task("c"))
    heard: list[str] = []
    s.add_listener(lambda st: heard.append(st.name))
    results = s.run_once()
    assert order == ["a", "b", "c"] == heard
    assert list(results) == ["a", "b", "c"]
    assert all(st.runs == 1 and st.last_outcome == "ok" for st in results.values())
    assert results["b"].last_message == "b ok"
    assert results["b"].last_duration is not None and results["b"].last_run_at is not None
    assert results["b"].next_run_at is None  # not started: nothing is scheduled


def test_a_failing_listener_does_not_break_the_run(make_scheduler):
    def bad_listener(_state: TaskState) -> None:
        raise RuntimeError("listener broke")

    heard: list[str] = []
    s = make_scheduler(counting_task("x"))
    s.add_listener(bad_listener)
    s.add_listener(lambda st: heard.append(st.last_outcome or ""))
    s.remove_listener(bad_listener)
    s.add_listener(bad_listener)
    results = s.run_once()
    assert results["x"].last_outcome == "ok"
    assert heard == ["ok"]


def test_stop_hooks_run_once_on_a_clean_stop(make_scheduler):
    stopped: list[str] = []
    s = make_scheduler(counting_task("h", on_stop=lambda c: stopped.append(c.client_id)))
    s.start()
    s.stop()
    s.stop()
    assert stopped == ["sched-test"]


def test_a_scheduler_that_never_ran_has_nothing_to_clean_up(make_scheduler):
    stopped: list[str] = []
    s = make_scheduler(counting_task("h", on_stop=lambda c: stopped.append("x")))
    s.stop()
    assert stopped == []


def test_an_unknown_task_name_is_refused(make_scheduler):
    s = make_scheduler(counting_task("known"))
    with pytest.raises(NotFound, match="no task named 'nope'"):
        s.run_now("nope")
    with pytest.raises(NotFound):
        s.wake("nope")


def test_run_now_on_a_stopped_scheduler_does_nothing(make_scheduler):
    ran = threading.Event()
    s = make_scheduler(counting_task("idle", ran))
    s.run_now("idle")
    assert not ran.is_set()
    assert s.states()[0].runs == 0


def test_two_tasks_with_one_name_or_a_zero_interval_are_refused(local_ctx):
    with pytest.raises(ValueError, match="Two tasks"):
        Scheduler(local_ctx, [counting_task("same"), counting_task("same")])
    with pytest.raises(ValueError, match="interval"):
        Scheduler(local_ctx, [counting_task("never", interval=0)])


def test_registry_has_the_standalone_backup_only_on_sqlite(ctx):
    names = [t.name for t in all_tasks(ctx)]
    assert {"heartbeat", "idempotency_purge"} <= set(names)
    assert ("backup" in names) == (ctx.mode == "standalone")


def test_runs_are_recorded_for_health_but_not_on_every_wake(make_scheduler, ctx):
    from core.health.check import task_health
    from core.store.models import TaskRun

    calls = iter(["first", "second"])
    s = make_scheduler(Task("rec", "Recorded", LONG, lambda _c: next(calls)), ctx=ctx)
    s.run_once()
    s.run_once()  # same outcome within PERSIST_EVERY: not written again
    with ctx.db.read() as session:
        rows = [(r.task, r.outcome, r.message) for r in session.scalars(select(TaskRun))]
        health = task_health(session, ctx.clock.now(), scheduler_module.PERSIST_EVERY)
    assert rows == [("rec", "ok", "first")]
    assert [h.task for h in health] == ["rec"] and not health[0].late
