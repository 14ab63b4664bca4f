"""``paydesk worker [--once]``: the scheduled tasks, headless (an always-on box)."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from types import FrameType

from core.cli.common import open_context, print_table
from core.jobs import registry
from core.jobs.scheduler import Scheduler, TaskState

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("worker", help="run the scheduled tasks without a window")
    p.add_argument(
        "--once", action="store_true", help="run each task once, print the outcomes, exit"
    )
    p.set_defaults(func=run_worker)


def run_worker(args: argparse.Namespace) -> int:
    ctx = open_context(args)
    ctx.kind = "worker"
    try:
        scheduler = Scheduler(ctx, registry.all_tasks(ctx))
        if args.once:
            return _run_once(scheduler)
        return _run_forever(scheduler, ctx.client_id, ctx.db.target.masked())
    finally:
        ctx.db.dispose()


def _run_once(scheduler: Scheduler) -> int:
    try:
        results = scheduler.run_once()
    finally:
        scheduler.stop()
    print_table(
        ["task", "outcome", "duration", "message"],
        [
            [
                s.name,
                s.last_outcome or "",
                f"{s.last_duration or 0.0:.3f}s",
                s.last_message or "",
            ]
            for s in results.values()
        ],
        right={2},
    )
    return 0 if all(s.last_outcome == "ok" for s in results.values()) else 1


def _run_forever(scheduler: Scheduler, client_id: str, where: str) -> int:
    root = logging.getLogger()
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)  # the worker's log is its only window
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info(
            "%s received; stopping after the running tasks finish", signal.Signals(signum).name
        )
        stop.set()
        # A second signal gets the default behaviour (Ctrl-C again interrupts the wait).
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    scheduler.add_listener(_log_run)
    try:
        log.info(
            "Worker %s on %s: %s",
            client_id,
            where,
            ", ".join(t.name for t in scheduler.tasks) or "no tasks",
        )
        scheduler.start()
        # A timeout keeps the main thread responsive to signals on every platform.
        while not stop.wait(1.0):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        scheduler.stop(wait=True)
        log.info("Worker %s stopped", client_id)
    return 0


def _log_run(state: TaskState) -> None:
    next_run = f"{state.next_run_at:%H:%M:%S}" if state.next_run_at else "none"
    message = f" ({state.last_message})" if state.last_message else ""
    log.info(
        "%s: %s%s in %.3fs; next run %s",
        state.name,
        state.last_outcome,
        message,
        state.last_duration or 0.0,
        next_run,
    )
