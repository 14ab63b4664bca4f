"""What a periodic task is, apart from the scheduler that runs it: the modules that define
tasks import this, not APScheduler."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.context import Context
from core.store.notify import Notice


@dataclass(frozen=True)
class Task:
    """A periodic task. ``run`` does one round and returns a short outcome text or None;
    it raises on error."""

    name: str
    title: str
    interval: float
    run: Callable[[Context], str | None]
    standalone_only: bool = False
    initial_delay: float = 0.0
    # Called once when the scheduler stops cleanly (e.g. presence removes this copy's row).
    on_stop: Callable[[Context], None] | None = None
    # A change notice for which this task should run at once instead of at its next poll
    # (e.g. a refund approved on this or, on Postgres, any other copy).
    wake_on: Callable[[Notice], bool] | None = None
