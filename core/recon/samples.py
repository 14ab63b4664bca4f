"""The demo's sample settlement reports (``core.demo.settlements``) in the data folder, and
importing them all in one go, so a new person can try reconciliation in one click."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from core import paths
from core.context import Context
from core.demo.settlements import REPORT_NAME, write_reports
from core.errors import Refused
from core.recon import importer, matching
from core.store.models import Payment


def sample_folder() -> Path:
    """Where ``paydesk demo`` writes the reports."""
    return paths.data_dir() / "settlements"


def sample_reports() -> list[Path]:
    """The demo's reports there, oldest day first."""
    folder = sample_folder()
    if not folder.is_dir():
        return []
    return sorted(folder.glob(REPORT_NAME.format(day="*")))


def _has_payments(ctx: Context) -> bool:
    # The reports settle the database's payments; without any they would hold only the
    # planted strangers.
    with ctx.db.read() as session:
        return session.scalar(select(Payment.id).limit(1)) is not None


@dataclass
class SamplesResult:
    results: list[importer.ImportResult]

    def sentence(self) -> str:
        added = sum(r.added for r in self.results)
        files = len(self.results)
        if not added:
            return (
                f"The {files} sample settlement reports were already imported; nothing was added."
            )
        exceptions = sum(
            n for r in self.results for s, n in r.states.items() if s in matching.EXCEPTIONS
        )
        return (
            f"Imported {added:,} lines from {files} sample settlement report"
            f"{'s' if files != 1 else ''}; {exceptions:,} need a look."
        )


def import_samples(
    ctx: Context,
    actor: str,
    *,
    progress: importer.Progress | None = None,
    cancel: importer.Cancel | None = None,
) -> SamplesResult:
    """Import every sample report, each file in its own transaction (a cancel keeps the files
    already imported and nothing of the one being read). Reports not written yet (the demo
    data was loaded from the Payments view) are written first from the database's payments."""
    reports = sample_reports()
    if not reports and _has_payments(ctx):
        reports = write_reports(ctx.db, sample_folder(), now=ctx.clock.now())
    if not reports:
        raise Refused(
            "There are no demo payments to settle yet: load the demo data in Payments first."
        )
    total = sum(p.stat().st_size for p in reports)
    results: list[importer.ImportResult] = []
    lines_before = bytes_before = 0
    for path in reports:

        def report(
            lines: int, done: int, _size: int, base: tuple[int, int] = (lines_before, bytes_before)
        ) -> None:
            if progress is not None:
                progress(base[0] + lines, base[1] + done, total)

        result = importer.import_report(ctx, actor, path, progress=report, cancel=cancel)
        results.append(result)
        lines_before += result.lines
        bytes_before += path.stat().st_size
    return SamplesResult(results)
