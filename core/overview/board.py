"""The dashboard as the Overview view reads it: every tile and chart in one call that opens
and closes its own session."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from core.overview import dashboard
from core.overview.dashboard import Dashboard, RangeName
from core.store.db import Database


def read_board(
    db: Database,
    *,
    now: datetime,
    range: RangeName | str = "30d",
    currency: str | None = None,
    tz: tzinfo = UTC,
) -> Dashboard:
    """``dashboard.load`` at ``now`` (see there for ``range``, ``currency`` and ``tz``)."""
    with db.read() as session:
        return dashboard.load(session, now=now, range=range, currency=currency, tz=tz)
