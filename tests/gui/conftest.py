"""Fixtures for the Payments, Jobs and app-shell GUI tests: a few hundred payments written with
SQLAlchemy Core, and the services a view needs (a task runner, change notices).

Other GUI test files define fixtures of their own; the names here are specific so that
theirs and these never shadow one another."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from PySide6.QtWidgets import QApplication
from sqlalchemy import insert

from core.context import Context
from core.store.models import Merchant, Payment
from desktop.shell.changes import ChangeBridge
from desktop.shell.runner import TaskRunner
from desktop.shell.views import AppServices

STATUSES = ("success", "failed", "pending")


@pytest.fixture(autouse=True)
def _collected_after_each_test() -> Iterator[None]:
    """What a test leaves to the garbage collector is collected once it is over (its widgets
    closed, its reads finished), not at some moment inside a later test's event loop while a
    read runs in the pool: collecting a wrapper Qt still uses there can crash the worker."""
    yield
    gc.collect()
METHODS = ("upi", "card", "netbanking", "wallet")


@dataclass(frozen=True)
class SeededPayments:
    """What ``seeded_payments`` wrote: ids newest first, and the merchants' names by id."""

    ids: list[str]
    merchants: dict[str, str]
    newest: datetime

    def order_id(self, payment_id: str) -> str:
        return "ord_" + payment_id.removeprefix("pay_")


def write_payments(ctx: Context, count: int, now: datetime) -> SeededPayments:
    """``count`` payments one minute apart, newest at ``now - 1 min``; statuses cycle
    success / failed / pending, successful ones are captured. INR, so amounts read ₹."""
    merchants = {"mer_gui_a": "Aster Books", "mer_gui_b": "Banyan Travel"}
    rows = []
    ids = []
    for i in range(count):
        pid = f"pay_gui{i:08d}"
        status = STATUSES[i % 3]
        created = now - timedelta(minutes=i + 1)
        ids.append(pid)
        rows.append(
            {
                "id": pid,
                "merchant_id": "mer_gui_a" if i % 2 == 0 else "mer_gui_b",
                "order_id": "ord_" + pid.removeprefix("pay_"),
                "amount": 10_000 + i * 100,
                "currency": "INR",
                "method": METHODS[i % 4],
                "status": status,
                "captured": status == "success",
                "customer_email": f"buyer{i:04d}@example.com" if i % 2 == 0 else None,
                "customer_vpa": None if i % 2 == 0 else f"buyer{i:04d}@okaxis",
                "card_last4": "4242" if METHODS[i % 4] == "card" else None,
                "error_code": "BAD_REQUEST_ERROR" if status == "failed" else None,
                "error_description": "Payment declined by the bank."
                if status == "failed"
                else None,
                "refunded_amount": 0,
                "created_at": created,
                "updated_at": created,
            }
        )
    with ctx.db.write() as session:
        session.execute(
            insert(Merchant),
            [
                {"id": mid, "name": name, "email": f"{mid}@example.com", "created_at": now}
                for mid, name in merchants.items()
            ],
        )
        session.execute(insert(Payment), rows)
    return SeededPayments(ids, merchants, now - timedelta(minutes=1))


@pytest.fixture
def seeded_payments(ctx: Context, clock) -> SeededPayments:
    """600 payments (three pages of the Payments view) on the test database."""
    return write_payments(ctx, 600, clock.now())


@contextmanager
def app_services(
    ctx: Context, *, changes: bool = True, navigate: Callable[..., None] | None = None
) -> Iterator[AppServices]:
    """Services for a view under test: a runner of its own and, with ``changes``, change
    notices every 20 ms. At the end, what finished (and what that started) is handed over
    while the test's widgets still exist."""
    runner = TaskRunner()
    bridge = ChangeBridge(interval_ms=20) if changes else None
    extra = {"navigate": navigate} if navigate is not None else {}
    yield AppServices(ctx=ctx, runner=runner, changes=bridge, **extra)
    if bridge is not None:
        bridge.close()
    for _ in range(50):
        runner.wait(10_000)
        QApplication.processEvents()
        if not runner.in_flight:
            break


@pytest.fixture
def view_services(ctx: Context, qtbot) -> Iterator[AppServices]:
    with app_services(ctx) as services:
        yield services
