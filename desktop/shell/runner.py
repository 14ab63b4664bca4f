"""The one way to run work off the UI thread.

A callable goes to a QThreadPool; its result or exception comes back on the UI thread as a
queued signal and is handed to the callbacks given at submit time. Work submitted under a
``key`` carries that key's generation: when newer work supersedes it, its result is dropped
instead of overwriting what the person now looks at.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from core.errors import PaydeskError

log = logging.getLogger(__name__)

ResultCallback = Callable[[Any], None]
ErrorCallback = Callable[[BaseException], None]


@dataclass
class _Pending:
    on_result: ResultCallback
    on_error: ErrorCallback | None
    key: str | None
    generation: int
    owner: QObject | None = None


class _Job(QRunnable):
    def __init__(self, runner: TaskRunner, job_id: int, fn: Callable[[], Any]) -> None:
        super().__init__()
        self._runner = runner
        self._job_id = job_id
        self._fn = fn

    def run(self) -> None:
        try:
            result = self._fn()
        except BaseException as exc:  # every failure goes back to the UI thread
            self._runner._finished.emit(self._job_id, None, exc)
            return
        self._runner._finished.emit(self._job_id, result, None)


class TaskRunner(QObject):
    """Runs callables in a thread pool and delivers their outcome on the UI thread."""

    # Emitted from pool threads; the runner lives on the UI thread, so delivery is queued.
    _finished = Signal(int, object, object)
    # (number of jobs in flight) — for busy indicators and tests.
    busyChanged = Signal(int)

    def __init__(self, parent: QObject | None = None, *, max_threads: int = 4) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        # Database work waits on I/O more than CPU, and a slow ping must not hold up a page.
        self.pool.setMaxThreadCount(max_threads)
        # Idle threads are kept rather than ended after 30 s: starting a thread for the first
        # read after a pause would add its start-up to what the person waits for.
        self.pool.setExpiryTimeout(-1)
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._generations: dict[str, int] = {}
        self._finished.connect(self._deliver)

    def submit(
        self,
        fn: Callable[[], Any],
        on_result: ResultCallback,
        on_error: ErrorCallback | None = None,
        *,
        key: str | None = None,
        supersede: bool = True,
        owner: QObject | None = None,
    ) -> int:
        """Run ``fn()`` in the pool; ``on_result(value)`` or ``on_error(exc)`` runs on the UI
        thread. With ``key``, a later submit with ``supersede=True`` on the same key makes this
        one stale; ``supersede=False`` joins the current generation (e.g. the next page of the
        query that is on screen). With ``owner``, the outcome is dropped if ``owner`` has been
        deleted meanwhile (a view closed while its read was in flight)."""
        generation = 0
        if key is not None:
            generation = self._generations.get(key, 0)
            if supersede:
                generation += 1
                self._generations[key] = generation
        job_id = next(self._ids)
        self._pending[job_id] = _Pending(on_result, on_error, key, generation, owner)
        self.pool.start(_Job(self, job_id, fn))
        self.busyChanged.emit(len(self._pending))
        return job_id

    def invalidate(self, key: str) -> None:
        """Drop whatever is in flight under ``key`` without starting new work."""
        self._generations[key] = self._generations.get(key, 0) + 1

    def is_current(self, key: str, generation: int) -> bool:
        return self._generations.get(key, 0) == generation

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def wait(self, msecs: int = -1) -> bool:
        """Block until every job has finished (shutdown and tests only: Qt ends the pool's
        idle threads once it is done waiting)."""
        return self.pool.waitForDone(msecs)

    @Slot(int, object, object)
    def _deliver(self, job_id: int, result: Any, error: BaseException | None) -> None:
        pending = self._pending.pop(job_id, None)
        self.busyChanged.emit(len(self._pending))
        if pending is None:
            return
        if pending.key is not None and self._generations.get(pending.key) != pending.generation:
            return  # superseded: a newer request owns the screen
        if pending.owner is not None and not shiboken6.isValid(pending.owner):
            return  # whoever asked is gone
        if error is None:
            pending.on_result(result)
            return
        if not isinstance(error, PaydeskError):
            # The person reads one sentence that points at the log; the log has the rest.
            log.error("Background work failed", exc_info=error)
        if pending.on_error is not None:
            pending.on_error(error)


class ProgressRelay(QObject):
    """Carries progress reports from a pool thread to the UI thread: hand ``report`` to the
    worker and connect ``changed`` to the widget."""

    changed = Signal(object)

    def report(self, *values: Any) -> None:
        self.changed.emit(values[0] if len(values) == 1 else values)
