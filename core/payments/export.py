"""CSV exports of a filtered view (``paydesk export payments``, the GUI's Export button).

Rows are streamed page by page with keyset paging, each page in its own short read
transaction, so an export of a million rows holds neither memory nor a long snapshot. The
CSV is written to a temporary file in the target folder and renamed over the target only at
the end: a failure or a cancel leaves no file (and an earlier file of that name untouched).
A target that exists must be a regular file; a folder, a device, a pipe or a socket is
refused before anything is read, and a write error (a full disk, a file-size limit) is one
sentence with the temporary file removed.

An export of another table is one small function: its columns, how to fetch a page after a
cursor, and the cursor of a row, handed to ``export_rows``. Every ``export_*`` of a table
returns the rows written and takes ``progress``/``cancelled`` with the failure guarantees of
``export_payments``.
"""

from __future__ import annotations

import contextlib
import csv
import os
import stat
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

from core.errors import InputError, PaydeskError
from core.money import to_decimal
from core.payments import queries as payments
from core.refunds import queries as rq
from core.refunds.records import RefundFilter, RefundView
from core.store.db import Database
from core.webhooks import deliveries as webhooks

PAGE_ROWS = 2_000

Row = TypeVar("Row")
Progress = Callable[[int], None]
Cancelled = Callable[[], bool]


class ExportCancelled(PaydeskError):
    """The person cancelled an export; nothing was written."""

    def __init__(self) -> None:
        super().__init__("Export cancelled; no file was written.")


@dataclass(frozen=True)
class Column(Generic[Row]):
    """One CSV column: its header and how to get its text from a row."""

    name: str
    value: Callable[[Row], object]


def _kind_of(mode: int) -> str:
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def check_target(path: Path) -> Path:
    """The absolute path to write, or InputError when a CSV cannot be written there.

    A link is followed: the file it names is the one replaced. A name that exists must be a
    regular file (never a folder, a device like ``/dev/full``, a pipe or a socket: the rename
    at the end would put the CSV in the place of the device node)."""
    given = Path(path).expanduser()
    target = given.resolve()
    try:
        mode = target.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None  # a new name (or a folder that is not one: said below)
    except OSError as exc:
        raise InputError(f"{given} cannot be used: {exc.strerror or exc}.") from None
    if mode is not None:
        if stat.S_ISDIR(mode):
            raise InputError(f"{given} is a folder; give the name of the CSV file to write.")
        if not stat.S_ISREG(mode):
            raise InputError(
                f"{given} is {_kind_of(mode)}, not a file; give the name of the CSV file to write."
            )
    folder = target.parent
    if not folder.exists():
        raise InputError(f"The folder {folder} does not exist.")
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder.")
    if not os.access(folder, os.W_OK):
        raise InputError(f"The folder {folder} is not writable.")
    if mode is not None and not os.access(target, os.W_OK):
        raise InputError(f"{target} is read-only; it was left unchanged.")
    return target


def export_rows(
    path: Path,
    columns: Sequence[Column[Row]],
    pages: Iterator[list[Row]],
    *,
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
) -> int:
    """Write a header and every row of ``pages`` to ``path`` as CSV; returns the rows written.

    ``cancelled`` is asked before each page and before the file is put in place; when it
    answers True the export stops with ExportCancelled and leaves nothing behind.
    """
    target = check_target(path)
    try:
        fd, temp_name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".part", dir=target.parent
        )
    except OSError as exc:
        raise InputError(f"Cannot write in the folder {target.parent}: {exc.strerror}.") from None
    temp = Path(temp_name)
    written = 0
    try:
        with open(fd, "w", encoding="utf-8", newline="") as fh:
            out = csv.writer(fh)
            out.writerow([c.name for c in columns])
            while True:
                if cancelled is not None and cancelled():
                    raise ExportCancelled()
                rows = next(pages, None)
                if not rows:
                    break
                out.writerows([[_cell(c.value(row)) for c in columns] for row in rows])
                written += len(rows)
                if progress is not None:
                    progress(written)
            fh.flush()
            os.fsync(fh.fileno())
        if cancelled is not None and cancelled():
            raise ExportCancelled()
        # Between the check and now the name may have become something else: never rename
        # over a folder, a device or a pipe.
        check_target(target)
        os.replace(temp, target)
        _sync_folder(target.parent)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        kept = f"{target} was left unchanged" if target.exists() else "no file was written"
        raise PaydeskError(f"Writing {target} failed ({exc.strerror or exc}); {kept}.") from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    finally:
        with contextlib.suppress(OSError):
            pages.close()  # type: ignore[attr-defined]
    return written


def _sync_folder(folder: Path) -> None:
    """Make the rename durable (POSIX; other systems have no folder handle to sync)."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def keyset_pages(
    db: Database,
    fetch: Callable[[Session, Any], list[Row]],
    cursor: Callable[[Row], Any],
) -> Iterator[list[Row]]:
    """Pages from ``fetch(session, after)``, each in its own read transaction, until an empty
    page; ``after`` is None first, then ``cursor`` of the previous page's last row."""
    after = None
    while True:
        with db.read() as session:
            rows = fetch(session, after)
        if not rows:
            return
        yield rows
        after = cursor(rows[-1])


def _cell(value: object) -> object:
    # A cell that starts like a formula would run as one in a spreadsheet (CSV injection).
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def _major(amount: int, currency: str) -> str:
    return f"{to_decimal(amount, currency):f}"


def _export_named(
    db: Database,
    path: Path,
    columns: Callable[[dict[str, str]], Sequence[Column[Row]]],
    fetch: Callable[[Session, Any], list[Row]],
    cursor: Callable[[Row], Any],
    *,
    progress: Progress | None,
    cancelled: Cancelled | None,
) -> int:
    # The shape every table export shares: check the target before any read, read the
    # merchant names the columns show once, then stream the keyset pages into the file.
    target = check_target(path)
    with db.read() as session:
        names = payments.merchant_names(session)
    pages = keyset_pages(db, fetch, cursor)
    return export_rows(target, columns(names), pages, progress=progress, cancelled=cancelled)


# --- payments ---------------------------------------------------------------------------


def payment_columns(merchant_names: dict[str, str]) -> list[Column[payments.PaymentRow]]:
    """The payments CSV: amounts in major units as exact decimals, plus the minor units."""
    return [
        Column("id", lambda r: r.id),
        Column("created_at", lambda r: payments.iso(r.created_at)),
        Column("merchant_id", lambda r: r.merchant_id),
        Column("merchant_name", lambda r: merchant_names.get(r.merchant_id, "")),
        Column("order_id", lambda r: r.order_id),
        Column("customer", lambda r: r.customer),
        Column("method", lambda r: r.method),
        Column("amount", lambda r: _major(r.amount, r.currency)),
        Column("amount_minor", lambda r: r.amount),
        Column("currency", lambda r: r.currency),
        Column("status", lambda r: r.status),
        Column("refunded_amount", lambda r: _major(r.refunded_amount, r.currency)),
        Column("pending_refund_amount", lambda r: _major(r.pending_refund_amount, r.currency)),
        Column("gateway", lambda r: r.gateway or ""),
    ]


def export_payments(
    db: Database,
    f: payments.PaymentFilter,
    path: Path,
    *,
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
) -> int:
    """Write the payments that ``f`` selects, in its order, to the CSV file ``path``.

    Returns the rows written. ``progress(rows_written)`` is called after each page and
    ``cancelled()`` before it, from the calling thread (the GUI runs this on a worker).
    Raises InputError for a bad filter or path and ExportCancelled when cancelled; in
    every failure no file is left at ``path``.
    """
    f = f.validated()
    return _export_named(
        db,
        path,
        payment_columns,
        lambda session, after: payments.page(session, f, after, limit=PAGE_ROWS),
        lambda row: row.cursor(f.sort),
        progress=progress,
        cancelled=cancelled,
    )


# --- webhook deliveries -----------------------------------------------------------------


def webhook_columns(merchant_names: dict[str, str]) -> list[Column[webhooks.WebhookRow]]:
    """The webhook deliveries CSV: one line per log with its latest outcome."""
    return [
        Column("id", lambda r: r.id),
        Column("created_at", lambda r: payments.iso(r.created_at)),
        Column("merchant_id", lambda r: r.merchant_id),
        Column("merchant_name", lambda r: merchant_names.get(r.merchant_id, "")),
        Column("event", lambda r: r.event),
        Column("entity_id", lambda r: r.entity_id),
        Column("status", lambda r: r.status),
        Column("attempts", lambda r: r.attempts),
        Column("response_code", lambda r: r.response_code),
        Column("last_error", lambda r: r.last_error),
        Column("last_attempt_at", lambda r: payments.iso(r.last_attempt_at)),
        Column("next_retry_at", lambda r: payments.iso(r.next_retry_at)),
    ]


def export_webhooks(
    db: Database,
    f: webhooks.WebhookFilter,
    path: Path,
    *,
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
) -> int:
    """Write the webhook logs that ``f`` selects, newest first, to the CSV file ``path``."""
    f = f.validated()
    return _export_named(
        db,
        path,
        webhook_columns,
        lambda session, after: webhooks.page(session, f, after, limit=PAGE_ROWS),
        lambda row: row.cursor(),
        progress=progress,
        cancelled=cancelled,
    )


# --- refunds ------------------------------------------------------------------------------


def refund_columns(merchant_names: dict[str, str]) -> list[Column[RefundView]]:
    """The refunds CSV: amounts in major units as exact decimals, plus the minor units."""
    return [
        Column("id", lambda r: r.id),
        Column("created_at", lambda r: payments.iso(r.created_at)),
        Column("payment_id", lambda r: r.payment_id),
        Column("merchant_id", lambda r: r.merchant_id),
        Column("merchant_name", lambda r: merchant_names.get(r.merchant_id, "")),
        Column("amount", lambda r: _major(r.amount, r.currency)),
        Column("amount_minor", lambda r: r.amount),
        Column("currency", lambda r: r.currency),
        Column("kind", lambda r: r.kind),
        Column("reason", lambda r: r.reason),
        Column("note", lambda r: r.note),
        Column("status", lambda r: r.status),
        Column("requested_by", lambda r: r.requested_by),
        Column("decided_by", lambda r: r.decided_by),
        Column("decided_at", lambda r: payments.iso(r.decided_at)),
        Column("decision_note", lambda r: r.decision_note),
        Column("processed_at", lambda r: payments.iso(r.processed_at)),
        Column("failure_reason", lambda r: r.failure_reason),
    ]


def export_refunds(
    db: Database,
    f: RefundFilter,
    path: Path,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
) -> int:
    """Write the refunds that ``f`` selects, in its order, to the CSV file ``path``. ``now``
    (the clock's) is needed only when ``f`` has an age bound."""
    f = f.validated()
    return _export_named(
        db,
        path,
        refund_columns,
        lambda session, after: rq.page(session, f, after, limit=PAGE_ROWS, now=now),
        lambda row: row.cursor(),
        progress=progress,
        cancelled=cancelled,
    )
