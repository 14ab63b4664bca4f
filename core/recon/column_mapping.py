"""The column-mapping step of importing a CSV whose header is not a known format: a preview of
the file's first rows, a first guess at which column holds what, and the format the person's
choices describe (the same choices a ``--mapping`` TOML file makes, checked the same way)."""

from __future__ import annotations

import csv
import io
import itertools
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import InputError
from core.recon.formats import (
    FIELDS,
    FORMATS,
    REQUIRED_FIELDS,
    TIME_KINDS,
    UNITS,
    Format,
    missing_columns,
)

PREVIEW_ROWS = 8
# What the mapping step asks for, in its order, with the words it uses.
FIELD_NAMES: dict[str, str] = {
    "id": "Line id",
    "type": "Type",
    "amount": "Amount",
    "currency": "Currency",
    "time": "Time",
    "batch": "Settlement batch",
    "fee": "Fee",
    "tax": "Tax",
    "net": "Net",
    "ref_id": "Payment or refund id",
    "payment_id": "Payment id (of a refund)",
    "order_id": "Order id",
    "utr": "UTR",
    "settled_at": "Settled at",
}
# Words in a column's name that suggest the field it holds, best first.
_HINTS: dict[str, tuple[str, ...]] = {
    "id": ("transaction id", "txn id", "txn", "line id", "entity_id", "id"),
    "type": ("type", "kind", "category"),
    "amount": ("amount", "gross", "value"),
    "currency": ("currency", "cur"),
    "time": ("created", "date", "time", "when"),
    "batch": ("settlement", "payout", "batch"),
    "fee": ("fee", "commission"),
    "tax": ("tax", "gst", "vat"),
    "net": ("net",),
    "ref_id": ("payment_ref", "source", "reference"),
    "payment_id": ("payment_id", "charge"),
    "order_id": ("order",),
    "utr": ("utr",),
    "settled_at": ("settled_at", "settled on"),
}
_PAYMENT_WORDS = ("payment", "sale", "charge", "capture", "purchase")
_REFUND_WORDS = ("refund",)


@dataclass(frozen=True)
class Preview:
    """The first rows of a file. ``format`` is the known format its header fits (None: the
    mapping step is needed); ``guess`` maps fields to the columns that look like them."""

    file: str
    header: list[str]
    rows: list[list[str]]
    format: str | None
    guess: dict[str, str] = field(default_factory=dict)
    type_values: list[str] = field(default_factory=list)  # the types the preview rows name


def preview(path: Path, rows: int = PREVIEW_ROWS) -> Preview:
    """Read the header and the first ``rows`` rows of ``path`` (one sentence for a file that
    is missing, binary, not UTF-8 or empty)."""
    if not path.is_file():
        raise InputError(f"There is no file {path}.")
    try:
        with path.open("rb") as raw:
            if b"\x00" in raw.read(8192):
                raise InputError(f"{path} is not a CSV file (it holds binary data).")
            raw.seek(0)
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="strict", newline="")
            got = list(itertools.islice(csv.reader(text), rows + 1))
    except UnicodeDecodeError:
        raise InputError(
            f"{path} is not UTF-8 text; save it as UTF-8 and import it again."
        ) from None
    except csv.Error as exc:
        raise InputError(f"{path} is not a CSV file Paydesk can read ({exc}).") from None
    except OSError as exc:
        raise InputError(f"{path} cannot be read: {exc.strerror or exc}.") from None
    if not got:
        raise InputError(f"{path} is empty: it has no header line.")
    header = [h.strip() for h in got[0]]
    body = [r for r in got[1:] if r and any(v.strip() for v in r)]
    known = next((f.name for f in FORMATS.values() if not missing_columns(f, header)), None)
    guess = guess_columns(header)
    types: list[str] = []
    if "type" in guess:
        i = header.index(guess["type"])
        for r in body:
            value = r[i].strip() if i < len(r) else ""
            if value and value not in types:
                types.append(value)
    return Preview(path.name, header, body, known, guess, types)


def guess_columns(header: list[str]) -> dict[str, str]:
    """For each field, the first column whose name holds one of its hints (each column is
    guessed for one field at most)."""
    taken: set[str] = set()
    out: dict[str, str] = {}
    lowered = [(h, h.lower()) for h in header if h]
    for name in FIELDS:
        for hint in _HINTS.get(name, ()):
            found = next((h for h, low in lowered if hint in low and h not in taken), None)
            if found is not None:
                out[name] = found
                taken.add(found)
                break
    return out


def guess_types(values: list[str]) -> tuple[list[str], list[str]]:
    """The preview's type values that read as payments, and those that read as refunds."""
    payments = [v for v in values if any(w in v.lower() for w in _PAYMENT_WORDS)]
    refunds = [v for v in values if any(w in v.lower() for w in _REFUND_WORDS)]
    return [v for v in payments if v not in refunds], refunds


def mapped_format(
    header: list[str],
    columns: dict[str, str],
    *,
    name: str = "mapped",
    unit: str = "minor",
    time: str = "iso",
    payment_types: list[str] | None = None,
    refund_types: list[str] | None = None,
    fee_includes_tax: bool = False,
) -> Format:
    """The format the mapping step's choices describe: ``columns`` maps fields to columns of
    ``header`` (an empty choice leaves a field out). Every mistake is one sentence."""
    chosen = {k: v for k, v in columns.items() if v}
    unknown = [k for k in chosen if k not in FIELDS]
    if unknown:
        raise InputError(f"{unknown[0]!r} is not a field; the fields are {', '.join(FIELDS)}.")
    missing = [FIELD_NAMES[f].lower() for f in REQUIRED_FIELDS if f not in chosen]
    if missing:
        raise InputError(f"Choose the column that holds the {', the '.join(missing)}.")
    absent = [v for v in chosen.values() if v not in header]
    if absent:
        raise InputError(f"The file has no column {absent[0]!r}.")
    twice = [v for v in set(chosen.values()) if list(chosen.values()).count(v) > 1]
    if twice:
        fields = [FIELD_NAMES[k].lower() for k, v in chosen.items() if v == twice[0]]
        raise InputError(
            f"The column {twice[0]!r} is chosen for both the {' and the '.join(fields)}."
        )
    if unit not in UNITS:
        raise InputError(f"The amount unit must be {' or '.join(UNITS)}.")
    if time not in TIME_KINDS:
        raise InputError(f"The time format must be {' or '.join(TIME_KINDS)}.")
    label = name.strip()
    if not label or len(label) > 32:
        raise InputError("The format's name must be text of 1 to 32 characters.")
    if label.lower() in FORMATS:
        raise InputError(f"{label!r} is the name of a shipped format; choose another name.")
    types = {v.strip().lower(): "payment" for v in payment_types or [] if v.strip()}
    types |= {v.strip().lower(): "refund" for v in refund_types or [] if v.strip()}
    return Format(
        name=label,
        columns=chosen,
        units=unit,
        time=time,
        types=types or {"payment": "payment", "refund": "refund"},
        fee_includes_tax=fee_includes_tax,
        description="the columns chosen on import",
    )
