"""A scheduler run that changes the figures by itself says so: the auto-approval of stale
pro-rata requests (a fresh demo's overdue backlog) shows "Auto-approved N stale pro-rata
requests" in the status bar, and each refund is in the Activity view as "Refund auto-approved".
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from core.clock import FrozenClock
from core.context import Context
from core.jobs.notices import notice_for
from core.jobs.scheduler import Scheduler
from core.refunds.processing import auto_approve_task
from core.store.db import open_database
from core.store.migrate import upgrade
from core.store.models import Refund
from tests.gui.test_shell_keyboard import close_window, opened_window
from tests.test_refunds import add_payment, add_staff, request

pytestmark = pytest.mark.gui


def stale_backlog(path: Path, count: int) -> str:
    """A SQLite file with ``count`` pro-rata requests pending for 20 days (policy: 14)."""
    url = f"sqlite:///{path}"
    db = open_database(url)
    upgrade(db)
    ctx = Context(db=db, clock=FrozenClock(), client_id="seeder")
    add_staff(ctx)
    ids = [request(ctx, add_payment(ctx), amount=1_000).id for _ in range(count)]
    old = datetime.now(UTC) - timedelta(days=20)
    with db.write() as s:
        s.execute(update(Refund).where(Refund.id.in_(ids)).values(kind="pro_rata", created_at=old))
    db.dispose()
    return url


def test_auto_approving_the_backlog_is_told_in_the_status_bar_and_the_activity_view(
    qtbot, tmp_path, monkeypatch
):
    monkeypatch.setenv("PAYDESK_ACTOR", "bob")
    window = opened_window(qtbot, stale_backlog(tmp_path / "demo.sqlite3", 3))
    try:
        scheduler = Scheduler(window.services.ctx, tasks=[auto_approve_task()])
        scheduler.start()
        window.attach_scheduler(scheduler)
        scheduler.run_now("refund_auto_approve")
        qtbot.waitUntil(
            lambda: window.statusBar().currentMessage().startswith("Auto-approved"),
            timeout=10_000,
        )
        assert window.statusBar().currentMessage() == (
            "Auto-approved 3 stale pro-rata requests (pending longer than the policy allows); "
            "the Activity view lists them."
        )
        view = window.open_view("activity")
        qtbot.waitUntil(lambda: view.model.rowCount() >= 3, timeout=10_000)
        shown = [
            view.model.index(r, c).data()
            for r in range(view.model.rowCount())
            for c in range(view.model.columnCount())
        ]
        assert shown.count("Refund auto-approved") == 3
    finally:
        close_window(window)


class _State:
    def __init__(self, name: str, message: str | None, outcome: str = "ok") -> None:
        self.name, self.last_message, self.last_outcome, self.running = (
            name,
            message,
            outcome,
            False,
        )


@pytest.mark.parametrize(
    ("state", "said"),
    [
        (
            _State("refund_auto_approve", "1 auto-approved"),
            "Auto-approved 1 stale pro-rata request ",
        ),
        (_State("refund_auto_approve", None), None),  # nothing was due
        (_State("refund_auto_approve", "Skipped: support login", "ok"), None),
        (_State("refund_auto_approve", "1 auto-approved", "error"), None),
        (_State("webhook_dispatch", "5 auto-approved"), None),
    ],
)
def test_only_an_auto_approval_that_approved_something_is_told(state, said):
    text = notice_for(state)
    assert (text is None) if said is None else (text or "").startswith(said)


def test_the_status_bar_names_the_time_zone_once(qtbot, tmp_path, monkeypatch):
    """Times on screen are this computer's; the status bar says which zone that is."""
    import time

    from tests.gui.test_shell_keyboard import demo_like_database

    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        window = opened_window(qtbot, demo_like_database(tmp_path / "desk.sqlite3"))
        try:
            assert window.zone_label.isVisible()
            assert window.zone_label.text() == "Times: IST"
            assert window.zone_label.toolTip() == (
                "Every time Paydesk shows is in IST (UTC+05:30), this computer's time zone."
            )
        finally:
            close_window(window)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
