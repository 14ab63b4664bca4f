"""Rupees are grouped one way in every table, tile and chart axis, chosen from the locale or
with View → Rupee grouping: Indian (₹1,50,000.00, lakh on the axis) or Western (₹150,000.00,
K), and the choice is remembered in the settings file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QLocale
from sqlalchemy import update

from core import money, settings
from core.clock import FrozenClock
from core.context import Context
from core.store.db import open_database
from core.store.migrate import upgrade
from core.store.models import Payment
from desktop.payments.model import COLUMN
from desktop.shell import grouping
from tests.gui.conftest import write_payments
from tests.gui.test_shell_keyboard import close_window, opened_window
from tests.test_refunds import add_staff

pytestmark = pytest.mark.gui

AMOUNT = 150_000_00  # ₹1,50,000.00


def one_big_payment(path: Path) -> tuple[str, str]:
    url = f"sqlite:///{path}"
    db = open_database(url)
    upgrade(db)
    ctx = Context(db=db, clock=FrozenClock(), client_id="seeder")
    add_staff(ctx)
    pid = write_payments(ctx, 1, datetime.now(UTC) - timedelta(minutes=5)).ids[0]
    with db.write() as s:
        s.execute(update(Payment).where(Payment.id == pid).values(amount=AMOUNT))
    db.dispose()
    return url, pid


@pytest.fixture(autouse=True)
def western_afterwards():
    yield
    money.set_inr_grouping("western")


def _axis_top(view) -> str:
    chart = view.payments_chart.chart
    top, _step = chart._scale()
    return chart.data.axis_text(top)


def test_the_menu_switches_tables_tiles_and_axes_together(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("PAYDESK_ACTOR", "bob")
    settings.save(settings.Settings(extra={"inr_grouping": "indian"}))
    grouping.apply_saved()  # as the app does when it starts
    url, _pid = one_big_payment(tmp_path / "desk.sqlite3")
    window = opened_window(qtbot, url)
    try:
        overview = window.open_view("dashboard")
        qtbot.waitUntil(lambda: overview.is_loaded, timeout=10_000)
        tile = overview.tiles["payments_today"]
        assert tile.line_texts[0] == "₹1,50,000.00 · 1 successful"
        assert _axis_top(overview).endswith("L")
        payments = window.open_view("payments")
        qtbot.waitUntil(lambda: payments.is_loaded, timeout=10_000)
        assert payments.model.index(0, COLUMN["amount"]).data() == "₹1,50,000.00"
        assert window.menus.grouping_actions["indian"].isChecked()

        loads = overview.loads
        window.menus.grouping_actions["western"].trigger()
        qtbot.waitUntil(lambda: overview.loads > loads, timeout=10_000)
        assert tile.line_texts[0] == "₹150,000.00 · 1 successful"
        assert _axis_top(overview).endswith("K")
        qtbot.waitUntil(
            lambda: payments.model.index(0, COLUMN["amount"]).data() == "₹150,000.00",
            timeout=10_000,
        )
        assert settings.load().extra["inr_grouping"] == "western"
        # What the tables write, the refund form reads back.
        assert money.parse_amount("₹1,50,000.00", "INR") == AMOUNT
    finally:
        close_window(window)


@pytest.mark.parametrize(
    ("locale", "style"),
    [
        (QLocale(QLocale.Language.English, QLocale.Country.India), "indian"),
        (QLocale(QLocale.Language.Hindi, QLocale.Country.India), "indian"),
        (QLocale(QLocale.Language.English, QLocale.Country.UnitedStates), "western"),
        (QLocale(QLocale.Language.German, QLocale.Country.Germany), "western"),
    ],
)
def test_without_a_setting_the_locale_decides(locale, style):
    assert grouping.apply_saved(locale) == style
    assert money.format_money(AMOUNT, "INR") == (
        "₹1,50,000.00" if style == "indian" else "₹150,000.00"
    )
    assert money.format_money(AMOUNT, "USD") == "$150,000.00"  # other currencies never change
