"""How the Jobs view writes spans and moments: ``1 h``, ``12 s ago``, ``in 3 min``, ``250 ms``."""

from __future__ import annotations

from datetime import datetime


def every(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:g} s"
    if seconds < 3600:
        return f"{seconds / 60:g} min"
    if seconds < 86400:
        return f"{seconds / 3600:g} h"
    return f"{seconds / 86400:g} d"


def relative(when: datetime | None, now: datetime) -> str:
    """``12 s ago`` / ``in 3 min`` / ``—``."""
    if when is None:
        return "—"
    delta = (when - now).total_seconds()
    ahead = delta > 0
    span = abs(delta)
    if span < 1:
        return "now"
    if span < 60:
        text = f"{span:.0f} s"
    elif span < 3600:
        text = f"{span // 60:.0f} min"
    elif span < 86400:
        text = f"{span // 3600:.0f} h"
    else:
        text = f"{span // 86400:.0f} d"
    return f"in {text}" if ahead else f"{text} ago"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.1f} s"
