"""The Jobs view shows every task's name whole, and its "COPIES ONLINE" title stands apart
from the sentence beside it, as the other section titles do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtWidgets import QLabel

from core.context import Context
from core.jobs.scheduler import Scheduler, Task
from tests.gui.test_jobs_view import open_jobs

pytestmark = pytest.mark.gui

LONG = "Match the settlement report lines again after the payments synced"


@pytest.fixture
def scheduler(ctx: Context) -> Iterator[Scheduler]:
    s = Scheduler(
        ctx, tasks=[Task("long", LONG, 3600.0, lambda _ctx: "done", initial_delay=3600.0)]
    )
    s.start()
    yield s
    s.stop(wait=True)


def test_the_longest_task_name_is_not_cut_off(qtbot, view_services, scheduler):
    view_services.scheduler = scheduler
    view = open_jobs(qtbot, view_services)
    qtbot.waitUntil(lambda: view.model.row_of("long") >= 0, timeout=5000)
    needed = view.table.fontMetrics().horizontalAdvance(LONG)
    assert view.table.columnWidth(0) >= needed + 16


def test_copies_online_stands_apart_from_its_sentence(qtbot, view_services):
    view = open_jobs(qtbot, view_services)
    title = next(
        w for w in view.findChildren(QLabel, "SectionTitle") if w.text() == "COPIES ONLINE"
    )
    gap = view.copies_summary.geometry().left() - title.geometry().right()
    assert gap >= 8
    assert title.font().bold()
