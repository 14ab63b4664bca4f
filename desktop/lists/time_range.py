"""A created-at (or any) time range as a person reads it, in their own time zone."""

from __future__ import annotations

from datetime import datetime


def range_text(start: datetime | None, end: datetime | None) -> str:
    """A range in the person's time zone, end exclusive: ``3 Mar 2025, 14:00–15:00``."""
    fmt = "%d %b %Y, %H:%M"
    if start is not None and end is not None:
        a, b = start.astimezone(), end.astimezone()
        if a.date() == b.date():
            return f"{a.strftime(fmt)}–{b.strftime('%H:%M')}"
        return f"{a.strftime(fmt)} – {b.strftime(fmt)}"
    if start is not None:
        return f"from {start.astimezone().strftime(fmt)}"
    assert end is not None
    return f"before {end.astimezone().strftime(fmt)}"
