"""Counts, rates, axis amounts and dates as the Overview writes them, in the person's locale
(money itself by ``core.money``)."""

from __future__ import annotations

from datetime import date, datetime

from PySide6.QtCore import QDate, QLocale, QTime

from core import money


def locale() -> QLocale:
    """The person's locale; the bare C locale (no group separators) reads as English."""
    loc = QLocale()
    return QLocale(QLocale.Language.English) if loc.language() == QLocale.Language.C else loc


def count_text(n: int) -> str:
    return locale().toString(int(n))


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{count_text(n)} {one if n == 1 else (many or one + 's')}"


def percent_text(rate: float | None) -> str:
    return "—" if rate is None else locale().toString(rate * 100, "f", 1) + "%"


def points_text(change: float) -> str:
    """``+1.3 pts`` / ``−2.0 pts`` / ``±0.0 pts`` (a change of a rate, in percentage points)."""
    if round(abs(change) * 100, 1) == 0:
        return f"±{locale().toString(0.0, 'f', 1)} pts"
    sign = "+" if change > 0 else "−"
    return f"{sign}{locale().toString(abs(change) * 100, 'f', 1)} pts"


def compact_money(amount: int, currency: str) -> str:
    """An axis label: ``₹2.5L``, ``$120K``, ``¥3M``, ``KWD 0.500``; exact figures are in the
    tooltips and tiles (``money.format_money``)."""
    scale = 10 ** money.exponent(currency)
    major = amount / scale
    symbol = money.SYMBOLS.get(currency.upper(), currency.upper() + " ")
    units = (
        ((10_000_000, "Cr"), (100_000, "L"), (1_000, "K"))
        # Lakh and crore where rupees are grouped the Indian way (the tables and tiles too).
        if currency.upper() == "INR" and money.inr_grouping() == "indian"
        else ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "K"))
    )
    for size, suffix in units:
        if abs(major) >= size:
            value = locale().toString(major / size, "f", 1 if major % size else 0)
            return f"{symbol}{value.removesuffix(locale().decimalPoint() + '0')}{suffix}"
    if amount % scale == 0:
        return f"{symbol}{count_text(int(major))}"
    return money.format_money(amount, currency)


def qdate(d: date) -> QDate:
    return QDate(d.year, d.month, d.day)


def day_title(d: date) -> str:
    return locale().toString(qdate(d), "ddd d MMM yyyy")


def hour_text(dt: datetime) -> str:
    return locale().toString(QTime(dt.hour, dt.minute), "HH:mm")
