"""``import_report``: read a settlement report, match it, and keep it, all in one transaction.

A failure anywhere (a bad line, a lost connection) or a cancel leaves nothing imported. The
same file imported twice adds nothing and says so; a line that appears in two files (the same
settlement and line id) is one line.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, func, insert, select
from sqlalchemy.orm import Session

from core.access import audit, policy, roles
from core.context import Context
from core.errors import InputError, PaydeskError
from core.recon import matching
from core.recon.formats import Format, load_mapping
from core.recon.parser import Report, ReportLine
from core.store.models import SettlementBatch, SettlementLine

CHUNK_LINES = 5_000
LINES = cast(Table, SettlementLine.__table__)
BATCHES = cast(Table, SettlementBatch.__table__)

# (lines read, bytes read, bytes in the file)
Progress = Callable[[int, int, int], None]
Cancel = Callable[[], bool]


class ImportCancelled(PaydeskError):
    """The person cancelled an import; nothing was imported."""

    def __init__(self) -> None:
        super().__init__("The import was cancelled; nothing was imported.")


@dataclass
class ImportResult:
    """What an import did: lines read, added and already there; batches; states."""

    file: str
    format: str
    lines: int = 0
    added: int = 0
    skipped_unsettled: int = 0
    batches: list[str] = field(default_factory=list)
    new_batches: int = 0
    states: dict[str, int] = field(default_factory=dict)

    @property
    def already(self) -> int:
        return self.lines - self.added

    def sentence(self) -> str:
        unsettled = (
            f" ({self.skipped_unsettled:,} not settled yet were left out)"
            if self.skipped_unsettled
            else ""
        )
        if self.lines and not self.added:
            return (
                f"All {self.lines:,} lines of {self.file} were already imported; nothing was "
                f"added{unsettled}."
            )
        if not self.lines:
            return f"{self.file} has no settled lines; nothing was added{unsettled}."
        exceptions = sum(n for s, n in self.states.items() if s in matching.EXCEPTIONS)
        again = f", {self.already:,} were already imported" if self.already else ""
        return (
            f"Imported {self.added:,} of {self.lines:,} lines of {self.file} ({self.format}, "
            f"{len(self.batches):,} settlement{'s' if len(self.batches) != 1 else ''}){again}"
            f"{unsettled}; {exceptions:,} need a look."
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "format": self.format,
            "lines": self.lines,
            "added": self.added,
            "already_imported": self.already,
            "not_settled": self.skipped_unsettled,
            "batches": self.batches,
            "new_batches": self.new_batches,
            "states": self.states,
        }


def resolve_format(fmt: Format | str | None, mapping: Path | None) -> Format | str | None:
    """The format to read with: a named one, a mapping file's, or None (from the header)."""
    if fmt and mapping:
        raise InputError("Give --format or --mapping, not both.")
    if mapping is not None:
        return load_mapping(mapping)
    return fmt


# The columns a report line is written with, in this order.
COLUMNS = (
    "line_key", "batch_id", "line_id", "kind", "raw_type", "ref_id", "payment_ref", "order_id",
    "currency", "amount", "fee", "tax", "net", "occurred_at", "source_line", "state",
    "matched_type", "matched_id", "expected", "expected_currency", "difference", "imported_at",
)  # fmt: skip
_TIME_COLUMNS = (COLUMNS.index("occurred_at"), COLUMNS.index("imported_at"))
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"


class _Writer:
    """Writes report lines through the database driver, in the import's transaction: a line
    whose key is already there (from an earlier file or earlier in this one) is skipped.
    SQLite takes them by ``executemany``; Postgres by ``COPY`` into a temporary table, moved
    over in one ``INSERT … ON CONFLICT DO NOTHING`` at the end. Going past SQLAlchemy's
    per-row work halves the time of a million-line import."""

    def __init__(self, session: Session) -> None:
        raw = session.connection().connection.driver_connection
        assert raw is not None
        self.raw: Any = raw
        self.postgres = session.get_bind().dialect.name == "postgresql"
        names = ", ".join(COLUMNS)
        if self.postgres:
            with self.raw.cursor() as cur:
                cur.execute(
                    f"CREATE TEMP TABLE recon_stage ON COMMIT DROP AS SELECT {names} "
                    "FROM settlement_lines WITH NO DATA"
                )
        else:
            marks = ", ".join("?" for _ in COLUMNS)
            self.sql = (
                f"INSERT INTO settlement_lines ({names}) VALUES ({marks}) "
                "ON CONFLICT (line_key) DO NOTHING"
            )

    _imported: tuple[datetime, str] | None = None

    def _imported_text(self, when: datetime) -> str:
        if self._imported is None or self._imported[0] != when:
            self._imported = (when, when.astimezone(UTC).strftime(_SQLITE_TIME))
        return self._imported[1]

    def write(self, rows: list[tuple[Any, ...]]) -> None:
        if self.postgres:
            with (
                self.raw.cursor() as cur,
                cur.copy(f"COPY recon_stage ({', '.join(COLUMNS)}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
            return
        # The text UTCDateTime stores on SQLite (UTC, no offset); every line of an import
        # has the same imported_at.
        at, imported = _TIME_COLUMNS
        fixed = []
        for row in rows:
            values = list(row)
            when = values[at]
            values[at] = when.astimezone(UTC).strftime(_SQLITE_TIME) if when else None
            values[imported] = self._imported_text(values[imported])
            fixed.append(values)
        cur = self.raw.cursor()
        try:
            cur.executemany(self.sql, fixed)
        finally:
            cur.close()

    def finish(self) -> None:
        if not self.postgres:
            return
        names = ", ".join(COLUMNS)
        with self.raw.cursor() as cur:
            # In file order, so that of two lines settling one payment the later is the duplicate.
            cur.execute(
                f"INSERT INTO settlement_lines ({names}) SELECT {names} FROM recon_stage "
                "ORDER BY source_line ON CONFLICT (line_key) DO NOTHING"
            )
            cur.execute("DROP TABLE recon_stage")


def _chunks(lines: Iterator[ReportLine], size: int) -> Iterator[list[ReportLine]]:
    while True:
        chunk = list(itertools.islice(lines, size))
        if not chunk:
            return
        yield chunk


def import_report(
    ctx: Context,
    actor: str,
    path: Path,
    *,
    fmt: Format | str | None = None,
    mapping: Path | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    chunk_lines: int = CHUNK_LINES,
) -> ImportResult:
    """Import the settlement report ``path`` (finance and admin): check every line, match
    each against the payments and refunds, store the batches and lines, find duplicates and
    what no settlement covered, and write one audit event, in one transaction."""
    report = Report(Path(path), resolve_format(fmt, mapping))
    try:
        with ctx.db.write() as session:
            roles.require(session, actor, "recon.resolve")
            return _import(ctx, session, actor, report, progress, cancel, chunk_lines)
    finally:
        report.close()


def _import(
    ctx: Context,
    session: Session,
    actor: str,
    report: Report,
    progress: Progress | None,
    cancel: Cancel | None,
    chunk_lines: int,
) -> ImportResult:
    now = ctx.clock.now()
    fmt = report.format
    result = ImportResult(file=report.path.name, format=fmt.name)
    conn = session.connection()
    count_lines = select(func.count()).select_from(LINES).where(LINES.c.batch_id.is_not(None))
    before = int(conn.execute(count_lines).scalar_one())
    last_id = int(conn.execute(select(func.coalesce(func.max(LINES.c.id), 0))).scalar_one())
    writer = _Writer(session)
    batches: dict[str, tuple[str | None, datetime | None]] = {}
    for chunk in _chunks(report.lines(), chunk_lines):
        if cancel is not None and cancel():
            raise ImportCancelled()
        outcomes = matching.match_chunk(session, chunk)
        rows = []
        for x, o in zip(chunk, outcomes, strict=True):
            if x.batch_id not in batches or (x.utr and not batches[x.batch_id][0]):
                seen = batches.get(x.batch_id, (None, None))
                batches[x.batch_id] = (x.utr or seen[0], x.settled_at or seen[1])
            rows.append(
                (
                    f"{fmt.name}|{x.batch_id}|{x.line_id}",
                    x.batch_id,
                    x.line_id,
                    x.kind,
                    x.raw_type,
                    x.ref_id,
                    x.payment_ref,
                    x.order_id,
                    x.currency,
                    x.amount,
                    x.fee,
                    x.tax,
                    x.net,
                    x.occurred_at,
                    x.source_line,
                    o.state,
                    o.matched_type,
                    o.matched_id,
                    o.expected,
                    o.expected_currency,
                    o.difference,
                    now,
                )
            )
        writer.write(rows)
        result.lines += len(rows)
        if progress is not None:
            progress(result.lines, report.position, report.size)
    if cancel is not None and cancel():
        raise ImportCancelled()
    writer.finish()
    result.skipped_unsettled = report.skipped
    result.batches = sorted(batches)
    result.added = int(conn.execute(count_lines).scalar_one()) - before
    if result.lines and not result.added:
        return result  # nothing new: nothing written, not even the audit event
    known: set[str] = (
        set(conn.execute(select(BATCHES.c.id).where(BATCHES.c.id.in_(list(batches)))).scalars())
        if batches
        else set()
    )
    new = [
        {
            "id": b,
            "source": fmt.name,
            "utr": utr,
            "settled_at": at,
            "imported_at": now,
            "imported_by": actor,
        }
        for b, (utr, at) in batches.items()
        if b not in known
    ]
    if new:
        conn.execute(insert(BATCHES), new)
    result.new_batches = len(new)
    matching.mark_duplicates(session, after_id=last_id)
    cycle = int(policy.get(session, "recon_settlement_cycle_days"))
    matching.refresh_missing(session, now, cycle)
    states: Sequence[tuple[str, int]] = conn.execute(
        select(LINES.c.state, func.count())
        .where(LINES.c.id > last_id, LINES.c.batch_id.is_not(None))
        .group_by(LINES.c.state)
    ).all()
    result.states = {str(s): int(n) for s, n in states}
    audit.record(
        session,
        at=now,
        actor=actor,
        action="recon.import",
        entity_type="settlement_report",
        entity_id=report.path.name[:64],
        details=result.as_json() | {"batches": result.batches[:50]},
        client=ctx.client_id,
    )
    return result
