"""Reconciliation matches again by itself when payments or refunds change: a late gateway sync
settles a ``not_in_paydesk`` line, and a change nobody announced is caught at the next poll.
Both databases; the sync talks HTTP to the fake gateway on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from core.context import Context
from core.gateway import connections, sync
from core.jobs.scheduler import Scheduler
from core.recon import importer
from core.recon.rematch import rematch_task
from core.store import notify
from core.store.models import Payment, SettlementLine
from tests.fake_gateway import API_KEY, API_SECRET, FakeGateway, Variation
from tests.test_recon import FINANCE, old_payment, rz_row, write_csv
from tests.test_refunds import add_merchant, add_staff

ADMIN = "root"  # tests.test_refunds.add_staff: root admin, alice support, bob finance


@pytest.fixture
def staffed(ctx: Context) -> Context:
    add_staff(ctx)
    add_merchant(ctx)
    return ctx


@pytest.fixture
def gw() -> Iterator[FakeGateway]:
    gateway = FakeGateway(Variation())
    yield gateway
    gateway.close()


def line_state(ctx: Context, line_id: str) -> str:
    with ctx.db.read() as s:
        return s.scalar(select(SettlementLine.state).where(SettlementLine.line_id == line_id))


def wait_for_state(ctx: Context, line_id: str, state: str, seconds: float = 15.0) -> str:
    deadline = time.monotonic() + seconds
    got = line_state(ctx, line_id)
    while got != state and time.monotonic() < deadline:
        time.sleep(0.05)
        got = line_state(ctx, line_id)
    return got


def test_a_late_gateway_sync_turns_a_line_matched_without_anyone_asking(staffed, gw, tmp_path):
    pay = gw.add_payment(amount=50_000)
    path = write_csv(tmp_path / "s.csv", [rz_row(pay["id"], amount=50_000)])
    importer.import_report(staffed, FINANCE, path)
    assert line_state(staffed, pay["id"]) == "not_in_paydesk"

    connections.add_connection(staffed, ADMIN, "acme", gw.api, API_KEY, API_SECRET)
    scheduler = Scheduler(staffed, [rematch_task()])
    scheduler.start()
    try:
        result = sync.sync_connection(staffed, "acme")
        assert result.error is None and result.added >= 1
        assert wait_for_state(staffed, pay["id"], "matched") == "matched"
    finally:
        scheduler.stop()


def test_the_sync_announces_the_payments_it_added_or_changed(staffed, gw):
    heard: list[notify.Notice] = []
    notify.subscribe(heard.append)
    try:
        gw.seed(payments=3)
        connections.add_connection(staffed, ADMIN, "acme", gw.api, API_KEY, API_SECRET)
        sync.sync_connection(staffed, "acme")
        gw.set_payment_status("pay_000000000002", "failed", log=False)
        sync.sync_connection(staffed, "acme")
    finally:
        notify.unsubscribe(heard.append)
    announced = [set(n.ids) for n in heard if n.table == "payments"]
    assert announced[0] == {"pay_000000000001", "pay_000000000002", "pay_000000000003"}
    assert announced[-1] == {"pay_000000000002"}


def test_a_change_nobody_announced_is_matched_at_the_next_poll(staffed, tmp_path):
    # A payment that fails is not captured; the processor settled it anyway.
    pid = old_payment(staffed, 10_000, status="pending", captured=False)
    importer.import_report(staffed, FINANCE, write_csv(tmp_path / "s.csv", [rz_row(pid)]))
    assert line_state(staffed, pid) == "not_captured"
    with staffed.db.write() as s:  # as another program would: no change notice
        row = s.get(Payment, pid)
        row.status, row.captured = "success", True
    [state] = Scheduler(staffed, [rematch_task()]).run_once().values()
    assert state.last_outcome == "ok", state.last_message
    assert line_state(staffed, pid) == "matched"


def test_without_any_settlement_report_the_task_reads_nothing_else(ctx: Context):
    [state] = Scheduler(ctx, [rematch_task()]).run_once().values()
    assert state.last_outcome == "ok" and not state.last_message
