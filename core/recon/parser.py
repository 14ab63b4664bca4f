"""A streaming reader of settlement reports: one ``ReportLine`` at a time, each line checked.

Every problem is one sentence naming the file and, for a line, its number and the column
(``core.errors.InputError``); the importer imports nothing when one is raised. Money goes
through ``core.money`` (the currency's exponent, its minor units).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from core import money
from core.errors import InputError
from core.recon.formats import Format, by_name, check_header, detect

_INT = re.compile(r"-?[0-9]{1,18}", re.ASCII)
_UNIX = re.compile(r"[0-9]{1,12}", re.ASCII)
MAX_ID = 64
_SHOWN = 40


@dataclass(slots=True)
class ReportLine:
    """One line of a report, in Paydesk's terms. ``amount`` is the size of the payment or
    refund (never negative); ``fee`` includes tax; ``net`` is what the line added to the
    settlement (negative for refunds and fees)."""

    source_line: int
    line_id: str
    batch_id: str
    kind: str
    raw_type: str
    currency: str
    amount: int
    fee: int
    tax: int
    net: int
    occurred_at: datetime
    ref_id: str | None
    payment_ref: str | None
    order_id: str | None
    utr: str | None
    settled_at: datetime | None


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…")


class Report:
    """An open report file: its format (named, mapped or detected from the header) and its
    lines (``lines()``, read once, streaming). ``position`` and ``size`` are bytes, for a
    progress bar; ``skipped`` counts lines not settled yet (no settlement id)."""

    def __init__(self, path: Path, fmt: Format | str | None = None) -> None:
        self.path = path
        self.name = str(path)
        if not path.exists():
            raise InputError(f"There is no file {path}.")
        if not path.is_file():
            raise InputError(f"{path} is not a file.")
        try:
            self._raw: BinaryIO = path.open("rb")
        except OSError as exc:
            raise InputError(f"{path} cannot be read: {exc.strerror or exc}.") from None
        self.size = path.stat().st_size
        self.skipped = 0
        try:
            head = self._raw.read(8192)
            if b"\x00" in head:
                raise InputError(f"{path} is not a CSV file (it holds binary data).")
            self._raw.seek(0)
            self._text = io.TextIOWrapper(
                self._raw, encoding="utf-8-sig", errors="strict", newline=""
            )
            self._reader = csv.reader(self._text)
            header = self._next_row()
            if header is None:
                raise InputError(f"{path} is empty: it has no header line.")
            self.header = [h.strip() for h in header]
            if isinstance(fmt, str):
                fmt = by_name(fmt)
            self.format = fmt if fmt is not None else detect(self.header, self.name)
            check_header(self.format, self.header, self.name)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._raw.close()

    @property
    def position(self) -> int:
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return self.size

    def _next_row(self) -> list[str] | None:
        try:
            return next(self._reader)
        except StopIteration:
            return None
        except UnicodeDecodeError:
            line = self._undecodable_line()
            raise InputError(
                f"{self.name} is not UTF-8 text (line {line}); save it as UTF-8 and import it again."
            ) from None
        except csv.Error as exc:
            line = self._reader.line_num
            raise InputError(
                f"{self.name} is not a CSV file Paydesk can read (line {line}: {exc})."
            ) from None

    def _undecodable_line(self) -> int:
        """The number of the first line that is not UTF-8 (text is decoded ahead in blocks,
        so the reader's own count says where the block began, not the line)."""
        with self.path.open("rb") as fh:
            for number, raw in enumerate(fh, start=1):
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError:
                    return number
        return self._reader.line_num + 1

    def lines(self) -> Iterator[ReportLine]:
        fmt = self.format
        index = {name: i for i, name in enumerate(self.header)}
        width = len(self.header)

        def col(key: str) -> int | None:
            name = fmt.column(key)
            return index.get(name) if name else None

        c_id, c_type, c_amount = col("id"), col("type"), col("amount")
        c_cur, c_time, c_batch = col("currency"), col("time"), col("batch")
        c_fee, c_tax, c_net = col("fee"), col("tax"), col("net")
        c_ref, c_pay, c_order = col("ref_id"), col("payment_id"), col("order_id")
        c_utr, c_settled = col("utr"), col("settled_at")
        c_credit = c_debit = None
        if fmt.credit_debit:
            c_credit, c_debit = index[fmt.credit_debit[0]], index[fmt.credit_debit[1]]
        assert None not in (c_id, c_type, c_amount, c_cur, c_time, c_batch)
        header = self.header
        major = fmt.units == "major"
        types = fmt.types
        exponents: dict[str, int] = {}

        # Until _next_row says the file has ended (None).
        for row in iter(self._next_row, None):
            n = self._reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # a blank line
            if len(row) != width:
                raise InputError(
                    f"Line {n} of {self.name} has {len(row)} values; its header has {width}."
                )

            def bad(i: int, why: str, n: int = n) -> InputError:
                return InputError(f"Line {n} of {self.name}, column {header[i]}: {why}")

            batch = row[c_batch].strip()  # type: ignore[index]
            if not batch:
                self.skipped += 1  # not settled yet: in no settlement
                continue
            line_id = row[c_id].strip()  # type: ignore[index]
            if not line_id:
                raise bad(c_id, "the id is empty.")  # type: ignore[arg-type]
            if len(line_id) > MAX_ID or len(batch) > MAX_ID:
                which = c_id if len(line_id) > MAX_ID else c_batch
                raise bad(which, f"an id is at most {MAX_ID} characters.")  # type: ignore[arg-type]
            raw_type = row[c_type].strip().lower()  # type: ignore[index]
            if not raw_type:
                raise bad(c_type, "the type is empty.")  # type: ignore[arg-type]
            kind = types.get(raw_type, "adjustment")
            currency = row[c_cur].strip().upper()  # type: ignore[index]
            exp = exponents.get(currency)
            if exp is None:
                try:
                    exp = money.exponent(currency)
                except InputError:
                    raise bad(
                        c_cur,  # type: ignore[arg-type]
                        f"{_shown(currency)} is not a currency Paydesk knows.",
                    ) from None
                exponents[currency] = exp

            def amount(
                i: int | None,
                *,
                required: bool = False,
                row: list[str] = row,
                currency: str = currency,
            ) -> int:
                if i is None:
                    return 0
                text = row[i].strip()
                if not text:
                    if required:
                        raise bad(i, "the amount is empty.")
                    return 0
                if not major:
                    if not _INT.fullmatch(text):
                        raise bad(i, f"{_shown(text)} is not a whole number of minor units.")
                    return int(text)
                negative = text.startswith("-")
                try:
                    value = money.parse_amount(
                        text[1:] if negative else text, currency, allow_zero=True
                    )
                except InputError as exc:
                    raise bad(i, exc.message[0].lower() + exc.message[1:]) from None
                return -value if negative else value

            signed = amount(c_amount, required=True)
            fee = amount(c_fee)
            tax = amount(c_tax)
            if not fmt.fee_includes_tax:
                fee += tax
            size = abs(signed)
            if fmt.credit_debit:
                net = amount(c_credit) - amount(c_debit)
            elif c_net is not None and row[c_net].strip():
                net = amount(c_net)
            elif kind == "payment":
                net = size - fee
            elif kind == "refund":
                net = -size - fee
            else:
                net = signed - fee
            occurred = self._time(row[c_time].strip(), c_time, n, required=True)  # type: ignore[index, arg-type]
            settled = (
                self._time(row[c_settled].strip(), c_settled, n) if c_settled is not None else None
            )
            ref = payment_ref = None
            if kind != "adjustment":
                ref = (
                    line_id
                    if fmt.ref_from_id
                    else (row[c_ref].strip() or None if c_ref is not None else None)
                )
                payment_ref = row[c_pay].strip() or None if c_pay is not None else None
                if kind == "payment" and ref is None:
                    ref = payment_ref
            order = row[c_order].strip() or None if c_order is not None else None
            utr = row[c_utr].strip() or None if c_utr is not None else None
            yield ReportLine(
                source_line=n,
                line_id=line_id,
                batch_id=batch,
                kind=kind,
                raw_type=raw_type[:40],
                currency=currency,
                amount=size if kind != "adjustment" else signed,
                fee=fee,
                tax=tax,
                net=net,
                occurred_at=occurred,  # type: ignore[arg-type]
                ref_id=_clip(ref),
                payment_ref=_clip(payment_ref),
                order_id=_clip(order),
                utr=_clip(utr),
                settled_at=settled,
            )

    def _time(self, text: str, i: int, n: int, *, required: bool = False) -> datetime | None:
        if not text:
            if required:
                raise InputError(
                    f"Line {n} of {self.name}, column {self.header[i]}: the time is empty."
                )
            return None
        if self.format.time == "unix":
            if _UNIX.fullmatch(text):
                return datetime.fromtimestamp(int(text), UTC)
            what = "Unix seconds"
        else:
            try:
                value = datetime.fromisoformat(text)
            except ValueError:
                what = "a date and time like 2026-01-15 12:00:00"
            else:
                return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        raise InputError(
            f"Line {n} of {self.name}, column {self.header[i]}: {_shown(text)} is not a time ({what})."
        )


def _clip(value: str | None) -> str | None:
    return value[:MAX_ID] if value else None
