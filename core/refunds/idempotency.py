"""Idempotency keys: how long they are kept, and the hourly purge of expired ones."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, tuple_

from core.context import Context
from core.jobs.task import Task
from core.store.db import Database
from core.store.models import IdempotencyKey

KEY_LIFETIME = timedelta(hours=24)
PURGE_INTERVAL = 3600.0  # seconds
# Keys deleted per transaction, so a large backlog never holds SQLite's write lock for long.
PURGE_BATCH = 5000


def purge_expired(db: Database, now: datetime, batch: int = PURGE_BATCH) -> int:
    """Delete every key whose ``expires_at`` is at or before ``now``; returns how many."""
    total = 0
    while True:
        due = (
            select(IdempotencyKey.merchant_id, IdempotencyKey.key)
            .where(IdempotencyKey.expires_at <= now)
            .limit(batch)
        )
        with db.write() as session:
            result = session.execute(
                delete(IdempotencyKey)
                .where(tuple_(IdempotencyKey.merchant_id, IdempotencyKey.key).in_(due))
                .execution_options(synchronize_session=False)
            )
        deleted = int(result.rowcount or 0)  # type: ignore[attr-defined]
        total += deleted
        if deleted < batch:
            return total


def _run(ctx: Context) -> str:
    return f"purged {purge_expired(ctx.db, ctx.clock.now())}"


def purge_task() -> Task:
    """The hourly purge of expired idempotency keys."""
    return Task(
        name="idempotency_purge",
        title="Purge expired idempotency keys",
        interval=PURGE_INTERVAL,
        run=_run,
    )
