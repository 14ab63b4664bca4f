"""The Jobs view: each task's outcome, Run now, links from the Overview, and the copies online
with the leases they hold. Lease counting is checked on SQLite and Postgres."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import insert

from core.context import Context
from core.jobs import presence
from core.jobs.scheduler import Scheduler, Task
from core.overview.links import JobsLink
from core.store.models import Client, Refund, WebhookLog
from desktop.jobs.view import COLUMNS, JobsView
from desktop.shell.views import AppServices
from tests.gui.conftest import SeededPayments

pytestmark = pytest.mark.gui

HOUR = 3600.0


def _count_run(ctx: Context) -> str:
    return "counted 3 things"


def _broken_run(ctx: Context) -> str:
    raise RuntimeError("the ledger is locked")


@pytest.fixture
def scheduler(ctx: Context) -> Iterator[Scheduler]:
    """Two tasks that run only when asked (their first turn is an hour away)."""
    s = Scheduler(
        ctx,
        tasks=[
            Task("count", "Count things", HOUR, _count_run, initial_delay=HOUR),
            Task("broken", "Broken task", HOUR, _broken_run, initial_delay=HOUR),
        ],
    )
    s.start()
    yield s
    s.stop(wait=True)


def open_jobs(qtbot, services: AppServices) -> JobsView:
    view = JobsView(services)
    qtbot.addWidget(view)
    view.resize(1100, 700)
    with qtbot.waitSignal(view.copiesLoaded, timeout=5000):
        view.show()
    return view


def text(view: JobsView, task: str, column: str) -> str:
    row = view.model.row_of(task)
    assert row >= 0, f"{task} is not listed"
    return view.model.index(row, COLUMNS.index(column)).data()


def select(qtbot, view: JobsView, task: str) -> None:
    rect = view.table.visualRect(view.model.index(view.model.row_of(task), 0))
    qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


# -- tasks -------------------------------------------------------------------------------------


def test_tasks_are_listed_not_run_yet(qtbot, view_services, scheduler):
    view_services.scheduler = scheduler
    view = open_jobs(qtbot, view_services)
    assert text(view, "count", "Task") == "Count things"
    assert text(view, "count", "Every") == "1 h"
    assert text(view, "count", "Outcome") == "Not run yet"
    assert view.summary.text() == "Running · 2 tasks"
    assert not view.run_button.isEnabled()


def test_run_now_runs_the_selected_task_and_shows_its_outcome(qtbot, view_services, scheduler):
    view_services.scheduler = scheduler
    view = open_jobs(qtbot, view_services)
    select(qtbot, view, "count")
    assert view.run_button.isEnabled()
    qtbot.mouseClick(view.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: text(view, "count", "Outcome") == "OK", timeout=5000)
    assert text(view, "count", "Message") == "counted 3 things"
    assert scheduler.state("count").runs == 1
    assert scheduler.state("broken").runs == 0


def test_a_failing_task_shows_error_and_its_sentence(qtbot, view_services, scheduler):
    view_services.scheduler = scheduler
    view = open_jobs(qtbot, view_services)
    select(qtbot, view, "broken")
    qtbot.mouseClick(view.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: text(view, "broken", "Outcome") == "Error", timeout=5000)
    assert "the ledger is locked" in text(view, "broken", "Message")
    assert view.summary.text() == "Running · 2 tasks · 1 failing"


def test_without_a_scheduler_the_view_says_so(qtbot, view_services):
    view = open_jobs(qtbot, view_services)
    assert view.model.rowCount() == 0
    assert view.note.text() == "The scheduler is not running, so no background jobs run here."
    assert not view.pause_button.isEnabled() and not view.run_button.isEnabled()


def test_link_selects_the_named_task(qtbot, view_services, scheduler):
    view_services.scheduler = scheduler
    view = open_jobs(qtbot, view_services)
    view.apply_link(JobsLink(task="broken"))
    assert view.selected_name() == "broken"
    assert view.run_button.isEnabled()
    view.apply_link(JobsLink(task="no_such_task"))
    assert view.selected_name() is None
    view.apply_link(JobsLink(task="count"))
    assert view.selected_name() == "count"


# -- copies online and their leases -------------------------------------------------------------


def add_client(ctx: Context, client_id: str, host: str, kind: str, seen_ago: float) -> None:
    now = ctx.clock.now()
    with ctx.db.write() as s:
        s.execute(
            insert(Client).values(
                id=client_id,
                host=host,
                user="ops",
                version="9.9",
                kind=kind,
                started_at=now - timedelta(hours=1),
                last_seen=now - timedelta(seconds=seen_ago),
            )
        )


def add_leases(
    ctx: Context,
    seeded: SeededPayments,
    owner: str,
    *,
    webhooks: int,
    refunds: int,
    expires_in: float,
    tag: str,
) -> None:
    now = ctx.clock.now()
    until = now + timedelta(seconds=expires_in)
    with ctx.db.write() as s:
        for i in range(webhooks):
            s.execute(
                insert(WebhookLog).values(
                    id=f"wh_{tag}_{i}",
                    merchant_id="mer_gui_a",
                    event="payment.captured",
                    payload="{}",
                    status="pending",
                    next_retry_at=now,
                    lease_owner=f"{owner}/d{i}",  # as the dispatcher leases
                    lease_expires_at=until,
                    created_at=now,
                    updated_at=now,
                )
            )
        for i in range(refunds):
            payment_id = seeded.ids[i * 3]  # successful payments
            s.execute(
                insert(Refund).values(
                    id=f"rfnd_{tag}_{i}",
                    payment_id=payment_id,
                    merchant_id="mer_gui_a" if (i * 3) % 2 == 0 else "mer_gui_b",
                    amount=100,
                    currency="INR",
                    kind="partial",
                    reason="duplicate",
                    status="processing",
                    requested_by="alice",
                    lease_owner=owner,  # as refund processing leases
                    lease_expires_at=until,
                    created_at=now,
                    updated_at=now,
                )
            )


def test_leases_are_counted_per_client_and_expired_ones_are_not(ctx, seeded_payments):
    add_leases(ctx, seeded_payments, "host-a-1", webhooks=3, refunds=2, expires_in=60, tag="a")
    add_leases(ctx, seeded_payments, "host-b-2", webhooks=1, refunds=0, expires_in=-5, tag="b")
    with ctx.db.read() as s:
        leases = presence.leases_by_client(s, ctx.clock.now())
    assert leases == {"host-a-1": presence.Leases(webhooks=3, refunds=2)}
    assert leases["host-a-1"].total == 5


def test_copies_online_show_who_holds_which_leases(qtbot, view_services, ctx, seeded_payments):
    presence.heartbeat(ctx)  # this copy ("test-client")
    add_client(ctx, "box-7f3a", "ops-box", "worker", seen_ago=10)
    add_client(ctx, "gone-1", "old-laptop", "app", seen_ago=600)  # not online
    add_leases(ctx, seeded_payments, "box-7f3a", webhooks=2, refunds=1, expires_in=30, tag="w")
    add_leases(ctx, seeded_payments, "crashed-9", webhooks=1, refunds=0, expires_in=30, tag="c")
    view = open_jobs(qtbot, view_services)
    m = view.copies_model
    shown = {
        m.row_at(r).client_id: [m.index(r, c).data() for c in range(m.columnCount())]
        for r in range(m.rowCount())
    }
    assert set(shown) == {"test-client", "box-7f3a", "crashed-9"}
    assert shown["test-client"][0].endswith("(this copy)")
    assert shown["test-client"][3:] == ["App", "now", "0", "0"]
    assert shown["box-7f3a"] == ["ops-box", "ops", "9.9", "Worker", "10 s ago", "2", "1"]
    assert shown["crashed-9"][4:] == ["Offline", "1", "0"]
    assert view.copies_summary.text() == "2 online · 3 deliveries and 1 refund leased"


def test_copies_are_read_again_on_the_timer(qtbot, view_services, ctx, seeded_payments):
    view = open_jobs(qtbot, view_services)
    assert view.copies_model.rowCount() == 0
    assert view.copies_summary.text() == "No copy has checked in during the last minute."
    presence.heartbeat(ctx)
    view._presence.setInterval(10)
    # A read already under way when the heartbeat was written may still answer 0 first.
    with qtbot.waitSignal(
        view.copiesLoaded, timeout=5000, check_params_cb=lambda n: n == 1
    ) as loaded:
        pass
    assert loaded.args == [1]
    assert view.copies_model.row_at(0).client_id == "test-client"
