"""Every background task Paydesk runs, in the order the Jobs view lists them.

The factories are imported here by name, so the import graph shows which modules the
scheduler runs. The scheduler itself takes its tasks from whoever starts it (the worker
command, the desktop app, tests), so it does not depend on the modules it runs."""

from __future__ import annotations

from collections.abc import Callable

from core.context import Context
from core.gateway.sync import sync_task
from core.jobs.presence import heartbeat_task
from core.jobs.task import Task
from core.overview.rollups import compact_task
from core.recon.rematch import rematch_task
from core.refunds.idempotency import purge_task
from core.refunds.processing import auto_approve_task, processing_task
from core.store.backup import backup_task
from core.webhooks.dispatcher import dispatch_task

FACTORIES: tuple[Callable[[], Task], ...] = (
    heartbeat_task,
    dispatch_task,
    processing_task,
    auto_approve_task,
    purge_task,
    backup_task,
    compact_task,
    sync_task,
    rematch_task,
)


def all_tasks(ctx: Context) -> list[Task]:
    """Every task, without the standalone-only ones (the file backup) in shared mode."""
    tasks = [factory() for factory in FACTORIES]
    return [t for t in tasks if not (t.standalone_only and ctx.mode == "shared")]
