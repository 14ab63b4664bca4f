"""The "awaiting approval" summary: how many refunds wait for a decision and since when. One
query for the Overview's tile, ``paydesk health`` and the window's quick check (which reads
through a plain DB-API cursor, so the query is SQL text both can run)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from core.clock import as_utc
from core.refunds.states import RefundStatus

if TYPE_CHECKING:  # the quick check imports this module without loading SQLAlchemy
    from sqlalchemy.orm import Session

AWAITING_SQL = (
    "SELECT count(*), min(created_at) FROM refunds "
    f"WHERE status = '{RefundStatus.PENDING_APPROVAL.value}'"
)


@dataclass(frozen=True)
class Awaiting:
    count: int
    oldest: datetime | None  # the oldest waiting request's creation time

    @classmethod
    def from_row(cls, row: Any) -> Awaiting:
        return cls(int(row[0]), as_utc(row[1]))


def awaiting_approval(session: Session) -> Awaiting:
    return Awaiting.from_row(session.connection().exec_driver_sql(AWAITING_SQL).one())
