"""The settlement report formats Paydesk reads: which column holds what, in which units.

``razorpay`` is Razorpay's settlement recon report; ``stripe`` is Stripe's itemized payout
reconciliation report (``payout_reconciliation.itemized.5``, default columns); any other CSV
is described by a small TOML mapping file (``load_mapping``). The format of a file is found
from its header when none is named (``detect``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import InputError

# What a line is, for matching.
KINDS = ("payment", "refund", "adjustment")
# Fields a format maps to columns. Required ones must be in the header.
FIELDS = (
    "id",
    "type",
    "amount",
    "currency",
    "time",
    "batch",
    "fee",
    "tax",
    "net",
    "ref_id",
    "payment_id",
    "order_id",
    "utr",
    "settled_at",
)
REQUIRED_FIELDS = ("id", "type", "amount", "currency", "time", "batch")
TIME_KINDS = ("unix", "iso")
UNITS = ("minor", "major")


@dataclass(frozen=True)
class Format:
    """How to read one kind of report.

    ``columns`` maps a field (``FIELDS``) to its column name. ``types`` maps the report's
    type values (lower case) to a kind; any other value is an ``adjustment``.
    ``fee_includes_tax``: the fee column already holds the tax on it (Razorpay's does).
    ``ref_from_id``: for payment and refund lines the line's own id is the gateway's id of
    the payment or refund (Razorpay's ``entity_id``)."""

    name: str
    columns: dict[str, str]
    units: str = "minor"
    time: str = "unix"
    types: dict[str, str] = field(default_factory=dict)
    fee_includes_tax: bool = False
    ref_from_id: bool = False
    # Razorpay reports money in and out as credit and debit; None: ``net`` or amount − fee.
    credit_debit: tuple[str, str] | None = None
    description: str = ""
    # Optional fields this format always has (a shipped format's file without them is not
    # that format).
    needs: tuple[str, ...] = ()

    def required(self) -> list[str]:
        """The columns a header must have."""
        names = [self.columns[f] for f in (*REQUIRED_FIELDS, *self.needs)]
        if self.credit_debit:
            names += list(self.credit_debit)
        return names

    def column(self, key: str) -> str | None:
        return self.columns.get(key)


RAZORPAY_COLUMNS = [
    "entity_id",
    "type",
    "debit",
    "credit",
    "amount",
    "currency",
    "fee",
    "tax",
    "on_hold",
    "settled",
    "created_at",
    "settled_at",
    "settlement_id",
    "posted_at",
    "credit_type",
    "description",
    "notes",
    "payment_id",
    "settlement_utr",
    "order_id",
    "order_receipt",
    "method",
    "card_network",
    "card_issuer",
    "card_type",
    "dispute_id",
]

RAZORPAY = Format(
    name="razorpay",
    columns={
        "id": "entity_id",
        "type": "type",
        "amount": "amount",
        "currency": "currency",
        "time": "created_at",
        "batch": "settlement_id",
        "fee": "fee",
        "tax": "tax",
        "payment_id": "payment_id",
        "order_id": "order_id",
        "utr": "settlement_utr",
        "settled_at": "settled_at",
    },
    units="minor",
    time="unix",
    types={"payment": "payment", "refund": "refund"},
    fee_includes_tax=True,
    ref_from_id=True,
    credit_debit=("credit", "debit"),
    needs=("fee", "tax"),
    description="Razorpay's settlement recon report (amounts in minor units, Unix times)",
)

# Stripe's itemized payout reconciliation (``payout_reconciliation.itemized.5``): amounts in
# major units (gross is negative for refunds), times "YYYY-MM-DD HH:MM:SS" in UTC, one payout
# (``automatic_payout_id``) per settlement batch.
STRIPE = Format(
    name="stripe",
    columns={
        "id": "balance_transaction_id",
        "type": "reporting_category",
        "amount": "gross",
        "currency": "currency",
        "time": "created_utc",
        "batch": "automatic_payout_id",
        "fee": "fee",
        "net": "net",
        "ref_id": "source_id",
        "payment_id": "charge_id",
        "order_id": "order_id",
        "settled_at": "automatic_payout_effective_at_utc",
    },
    units="major",
    time="iso",
    types={"charge": "payment", "payment": "payment", "refund": "refund"},
    needs=("fee", "net", "ref_id"),
    description="Stripe's itemized payout reconciliation report (amounts in major units)",
)

FORMATS: dict[str, Format] = {f.name: f for f in (RAZORPAY, STRIPE)}


def by_name(name: str) -> Format:
    try:
        return FORMATS[name.strip().lower()]
    except KeyError:
        raise InputError(
            f"{name!r} is not a settlement report format; use {_names()} or --mapping FILE.toml."
        ) from None


def _names() -> str:
    names = list(FORMATS)
    return ", ".join(names[:-1]) + " or " + names[-1]


def missing_columns(fmt: Format, header: list[str]) -> list[str]:
    have = set(header)
    return [c for c in fmt.required() if c not in have]


def detect(header: list[str], source: str) -> Format:
    """The shipped format whose required columns the header has; refused with the columns
    found and the formats that exist when none fits."""
    for fmt in FORMATS.values():
        if not missing_columns(fmt, header):
            return fmt
    shown = [h for h in header if h][:8]
    found = ", ".join(shown) + (f" and {len(header) - len(shown)} more" if len(header) > 8 else "")
    raise InputError(
        f"{source} is not a settlement report Paydesk knows: its header has "
        f"{found or 'no columns'}, and the formats are {_names()} "
        "(name one with --format, or describe the columns with --mapping FILE.toml)."
    )


def check_header(fmt: Format, header: list[str], source: str) -> None:
    """Refuse a header that lacks a column ``fmt`` needs."""
    missing = missing_columns(fmt, header)
    if missing:
        which = (
            f"the column {missing[0]}" if len(missing) == 1 else f"the columns {', '.join(missing)}"
        )
        raise InputError(f"{source} lacks {which}, which the {fmt.name} format needs.")


# -- mapping files ---------------------------------------------------------------------------

MAPPING_EXAMPLE = """\
name = "acme"
[columns]           # field = "column name in the CSV header"
id = "Txn ID"       # required: id, type, amount, currency, time, batch
type = "Type"
amount = "Amount"
currency = "Currency"
time = "Date"
batch = "Payout"
fee = "Fee"         # optional: fee, tax, net, ref_id, payment_id, order_id, utr, settled_at
[amount]
unit = "major"      # or "minor"
[time]
format = "iso"      # or "unix"
[types]             # report value = payment / refund (anything else: adjustment)
sale = "payment"
refund = "refund"
"""


def load_mapping(path: Path) -> Format:
    """A format from a TOML mapping file (see ``MAPPING_EXAMPLE``); every problem is one
    sentence naming the file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(
            f"The mapping file {path} cannot be read: {exc.strerror or exc}."
        ) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"The mapping file {path} is not UTF-8 text.") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"The mapping file {path} is not valid TOML ({exc}).") from None
    columns = data.get("columns")
    if not isinstance(columns, dict):
        raise InputError(
            f"The mapping file {path} needs a [columns] table naming {', '.join(REQUIRED_FIELDS)}."
        )
    unknown = [k for k in columns if k not in FIELDS]
    if unknown:
        raise InputError(
            f"The mapping file {path} names {unknown[0]!r}, which is not a field; the fields are "
            f"{', '.join(FIELDS)}."
        )
    missing = [f for f in REQUIRED_FIELDS if not isinstance(columns.get(f), str) or not columns[f]]
    if missing:
        raise InputError(
            f"The mapping file {path} does not say which column holds {', '.join(missing)}."
        )
    if any(not isinstance(v, str) for v in columns.values()):
        raise InputError(f"The mapping file {path} must give each column as a name in quotes.")
    unit = _choice(data, "amount", "unit", UNITS, "minor", path)
    time = _choice(data, "time", "format", TIME_KINDS, "iso", path)
    types_raw = data.get("types", {"payment": "payment", "refund": "refund"})
    if not isinstance(types_raw, dict) or any(v not in KINDS for v in types_raw.values()):
        raise InputError(
            f"The mapping file {path}'s [types] must map report values to payment, refund or "
            "adjustment."
        )
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not name.strip() or len(name) > 32:
        raise InputError(f"The mapping file {path}'s name must be text of 1 to 32 characters.")
    fee_tax = data.get("fee_includes_tax", False)
    if not isinstance(fee_tax, bool):
        raise InputError(f"The mapping file {path}'s fee_includes_tax must be true or false.")
    return Format(
        name=name.strip(),
        columns=dict(columns),
        units=unit,
        time=time,
        types={str(k).lower(): str(v) for k, v in types_raw.items()},
        fee_includes_tax=fee_tax,
        description=f"the mapping in {path}",
    )


def _choice(
    data: dict, table: str, key: str, allowed: tuple[str, ...], default: str, path: Path
) -> str:
    section = data.get(table, {})
    value = section.get(key, default) if isinstance(section, dict) else None
    if value not in allowed:
        raise InputError(
            f"The mapping file {path}'s [{table}] {key} must be {' or '.join(repr(a) for a in allowed)}."
        )
    return str(value)
