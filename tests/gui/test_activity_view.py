"""The audit log: ``core.access.activity`` keyset pages and filters, and the Activity view that shows
them newest first, filtered by actor, action and time, lazy-loaded and live. On both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from PySide6.QtCore import QDate

from core.access import activity, audit
from core.access.activity import ActivityFilter
from core.context import Context
from core.errors import InputError
from core.refunds import service as rf
from core.store.models import AuditEvent
from desktop.activity.view import COLUMN, ActivityView
from desktop.shell.views import AppServices
from tests.gui.conftest import app_services
from tests.test_refunds import T0, add_payment, add_staff, count, request

pytestmark = pytest.mark.gui


@pytest.fixture
def staffed(ctx: Context, monkeypatch) -> Context:
    monkeypatch.setattr(ctx, "default_actor", lambda: "bob")
    add_staff(ctx)
    return ctx


@pytest.fixture
def services(staffed: Context, qtbot) -> Iterator[AppServices]:
    with app_services(staffed) as services:
        yield services


def open_view(qtbot, services: AppServices) -> ActivityView:
    view = ActivityView(services)
    qtbot.addWidget(view)
    view.resize(1300, 700)
    view.show()
    qtbot.waitUntil(lambda: view.is_loaded)
    return view


def story(ctx: Context) -> dict[str, str]:
    """alice requests two refunds an hour apart; carol approves one, bob rejects the other."""
    first = request(ctx, add_payment(ctx), actor="alice", amount=1_000)
    ctx.clock.advance(timedelta(hours=1))
    second = request(ctx, add_payment(ctx), actor="alice", amount=2_000)
    ctx.clock.advance(timedelta(minutes=5))
    rf.approve(ctx, "carol", first.id)
    ctx.clock.advance(timedelta(minutes=5))
    rf.reject(ctx, "bob", second.id, "Not eligible")
    return {"first": first.id, "second": second.id}


def shown(view: ActivityView, column: str) -> list[str]:
    col = COLUMN[column]
    return [view.model.index(r, col).data() for r in range(view.model.rowCount())]


# -- core.access.activity -------------------------------------------------------------------------------


def test_page_is_newest_first_and_keyset_pages_cover_everything_once(staffed):
    with staffed.db.write() as s:
        audit.record_many(
            s,
            at=T0,
            actor="robot",
            action="webhook.retry",
            entity_type="webhook_log",
            events=((f"msg_{i}", {"n": i}) for i in range(25)),
        )
    seen: list[int] = []
    after = None
    with staffed.db.read() as s:
        while True:
            rows = activity.page(s, ActivityFilter(actor="robot"), after=after, limit=10)
            if not rows:
                break
            seen.extend(r.id for r in rows)
            after = rows[-1].cursor()
    assert len(seen) == 25 and len(set(seen)) == 25
    assert seen == sorted(seen, reverse=True)  # same time: the later id first


def test_page_filters_by_actor_action_group_entity_and_time(staffed):
    ids = story(staffed)
    with staffed.db.read() as s:

        def actions(**kw) -> list[str]:
            return [r.action for r in activity.page(s, ActivityFilter(**kw))]

        assert actions(actor="alice") == ["refund.request", "refund.request"]
        assert actions(action="refund.reject") == ["refund.reject"]
        assert actions(action="refund.", actor="carol") == ["refund.approve"]
        assert actions(entity_id=ids["second"]) == ["refund.reject", "refund.request"]
        assert actions(since=T0 + timedelta(minutes=30)) == [
            "refund.reject",
            "refund.approve",
            "refund.request",
        ]
        assert actions(until=T0 + timedelta(minutes=30), action="refund.") == ["refund.request"]
        assert "alice" in activity.actors(s) and "refund.approve" in activity.actions(s)


def test_page_summarises_details_for_a_person(staffed):
    ids = story(staffed)
    with staffed.db.read() as s:
        reject = activity.page(s, ActivityFilter(entity_id=ids["second"]))[0]
    assert reject.title == "Refund rejected"
    assert reject.summary().startswith("₹20.00 · payment pay_") and reject.summary().endswith(
        "· Not eligible"
    )


def test_a_time_range_that_ends_before_it_starts_is_refused(staffed):
    with staffed.db.read() as s, pytest.raises(InputError, match="not before its end"):
        activity.page(s, ActivityFilter(since=T0, until=T0 - timedelta(hours=1)))
    with staffed.db.read() as s, pytest.raises(InputError, match="at least one row"):
        activity.page(s, ActivityFilter(), limit=0)


# -- the view -------------------------------------------------------------------------------------


def test_view_lists_the_log_newest_first(qtbot, services, staffed):
    story(staffed)
    view = open_view(qtbot, services)
    actions = shown(view, "action")
    assert actions[:4] == [
        "Refund rejected",
        "Refund approved",
        "Refund requested",
        "Refund requested",
    ]
    assert shown(view, "actor")[:2] == ["bob", "carol"]
    times = [r.at for r in view.model.rows()]
    assert times == sorted(times, reverse=True)
    assert "Not eligible" in shown(view, "details")[0]


def test_filter_by_actor(qtbot, services, staffed):
    story(staffed)
    view = open_view(qtbot, services)
    assert view.actor_combo.findData("carol") > 0
    view.actor_combo.setCurrentIndex(view.actor_combo.findData("carol"))
    qtbot.waitUntil(lambda: set(shown(view, "actor")) == {"carol"})
    assert shown(view, "action") == ["Refund approved"]
    view.set_actor("alice")
    qtbot.waitUntil(lambda: set(shown(view, "actor")) == {"alice"})
    assert len(shown(view, "actor")) == 2


def test_filter_by_action_group_and_time(qtbot, services, staffed):
    story(staffed)
    view = open_view(qtbot, services)
    view.action_combo.setCurrentIndex(view.action_combo.findData("refund."))
    qtbot.waitUntil(lambda: view.model.rowCount() == 4)
    view.action_combo.setCurrentIndex(view.action_combo.findData("staff."))
    qtbot.waitUntil(lambda: set(shown(view, "action")) <= {"First admin", "Staff role set"})
    view.action_combo.setCurrentIndex(0)
    view.period_combo.setCurrentText("Last hour")  # the clock is 70 min past the first request
    qtbot.waitUntil(
        lambda: shown(view, "action") == ["Refund rejected", "Refund approved", "Refund requested"]
    )


def test_a_backwards_date_range_is_refused_in_the_banner(qtbot, services, staffed):
    story(staffed)
    view = open_view(qtbot, services)
    view.dates.end_edit.setDate(QDate(2026, 1, 10))
    view.dates.start_edit.setDate(QDate(2026, 1, 12))
    qtbot.waitUntil(view.banner.isVisible)
    assert view.banner_text.text() == "The start of the time range is not before its end."


def test_view_loads_more_as_the_person_scrolls(qtbot, services, staffed):
    with staffed.db.write() as s:
        audit.record_many(
            s,
            at=T0,
            actor="robot",
            action="webhook.retry",
            entity_type="webhook_log",
            events=((f"msg_{i}", None) for i in range(activity.PAGE_SIZE * 2 + 5)),
        )
    view = open_view(qtbot, services)
    assert view.model.rowCount() == activity.PAGE_SIZE and view.model.has_more
    view.table.scrollToBottom()
    qtbot.waitUntil(lambda: view.model.rowCount() >= activity.PAGE_SIZE * 2)
    view.table.scrollToBottom()
    total = count(staffed, AuditEvent)
    qtbot.waitUntil(lambda: view.model.rowCount() == total)
    assert not view.model.has_more


def test_new_events_appear_at_the_top_without_a_refresh(qtbot, services, staffed):
    story(staffed)
    view = open_view(qtbot, services)
    view.table.selectRow(2)
    kept = view.model.row_at(2)
    before = view.model.rowCount()
    fresh = request(staffed, add_payment(staffed), actor="alice", amount=5)
    rf.cancel(staffed, "alice", fresh.id)
    qtbot.waitUntil(lambda: view.model.rowCount() == before + 2)
    assert shown(view, "action")[:2] == ["Refund cancelled", "Refund requested"]
    assert shown(view, "about")[:2] == [f"refund {fresh.id}"] * 2
    selected = view.table.selectionModel().selectedRows()
    assert [view.model.row_at(i.row()) for i in selected] == [kept]


def test_a_narrow_window_hides_client_then_actor_instead_of_scrolling_sideways(qtbot, services):
    from desktop.activity.view import COLUMN

    view = open_view(qtbot, services)
    view.resize(1400, 700)
    qtbot.waitUntil(lambda: not view.table.isColumnHidden(COLUMN["client"]), timeout=2000)
    assert not view.table.isColumnHidden(COLUMN["actor"])
    # The view beside the navigation in a 1024 px window, then with the detail pane beside it.
    for width in (840, 700, 640):
        view.resize(width, 700)
        qtbot.wait(20)
        assert view.table.horizontalScrollBar().maximum() == 0, width
    assert view.table.isColumnHidden(COLUMN["client"])
    view.resize(1400, 700)
    qtbot.waitUntil(lambda: not view.table.isColumnHidden(COLUMN["client"]), timeout=2000)
    assert view.table.horizontalScrollBar().maximum() == 0
