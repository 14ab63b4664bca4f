"""The gateway's rows as plain values, checked on the way in.

A row that Paydesk cannot use (no id, an amount that is not an integer, a status it does not
know) is skipped with a reason, never half-read: ``parse_*`` returns the row or a ``Skipped``.
Timestamps without a zone are read as UTC (most implementations store them that way).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

PAYMENT_STATUSES = ("pending", "success", "failed", "partially_refunded", "refunded")
REFUND_STATUSES = ("pending", "processed", "failed")
LOG_STATUSES = ("pending", "success", "failed")
MAX_ID = 64  # the longest gateway id Paydesk keeps (ids seen are 13 to 36 characters)


@dataclass(frozen=True)
class Skipped:
    """A row that was not used, and why (shown on the connection and in the sync's result)."""

    kind: str  # payment / refund / webhook log
    row_id: str | None
    reason: str

    def sentence(self) -> str:
        which = f"{self.kind} {self.row_id}" if self.row_id else f"a {self.kind} without an id"
        return f"Skipped {which}: {self.reason}."


@dataclass(frozen=True)
class GatewayPayment:
    id: str
    order_id: str
    merchant_id: str | None
    amount: int
    currency: str
    method: str
    status: str
    captured: bool
    vpa: str | None
    card_network: str | None
    card_last4: str | None
    error_code: str | None
    error_description: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class GatewayRefund:
    id: str
    payment_id: str
    amount: int
    reason: str
    status: str
    created_at: datetime
    processed_at: datetime | None
    # The Paydesk refund id the gateway echoes back, for the few that keep the body's key.
    idempotency_key: str | None = None


@dataclass(frozen=True)
class GatewayLog:
    id: str
    event: str
    payload: str  # the JSON text that was sent
    status: str
    attempts: int
    last_attempt_at: datetime | None
    next_retry_at: datetime | None
    response_code: int | None
    response_body: str | None
    created_at: datetime
    # What the payload carries (``payment.*`` events a payment, ``refund.*`` a refund).
    payment: GatewayPayment | None = None
    refund: GatewayRefund | None = None


class RowError(ValueError):
    """Why a row cannot be used (its message is the reason)."""


def parse_time(value: Any, field: str, *, required: bool = True) -> datetime | None:
    """An ISO 8601 timestamp (``Z``, an offset, or no zone: UTC) or unix seconds."""
    if value is None or value == "":
        if required:
            raise RowError(f"{field} is missing")
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if not isinstance(value, str):
        raise RowError(f"{field} is not a time")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise RowError(f"{field} {value!r} is not a time") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _id(row: dict[str, Any], field: str = "id") -> str:
    value = row.get(field)
    if value is None or value == "":
        raise RowError(f"{field} is missing")
    if not isinstance(value, str):
        raise RowError(f"{field} is not text")
    value = value.strip()
    if not value or len(value) > MAX_ID or not value.isprintable() or " " in value:
        raise RowError(f"{field} {value[:80]!r} is not an id")
    return value


def _amount(row: dict[str, Any], field: str = "amount") -> int:
    value = row.get(field)
    if value is None:
        raise RowError(f"{field} is missing")
    # Money is integer minor units; 12.5, "1250" and true are not amounts.
    if not isinstance(value, int) or isinstance(value, bool):
        raise RowError(f"{field} {value!r} is not an integer")
    if value <= 0:
        raise RowError(f"{field} {value} is not positive")
    return value


def _status(row: dict[str, Any], allowed: tuple[str, ...]) -> str:
    value = row.get("status")
    if value not in allowed:
        raise RowError(f"status {value!r} is not one of {', '.join(allowed)}")
    return str(value)


def _text(row: dict[str, Any], field: str, default: str | None = None) -> str | None:
    value = row.get(field)
    if value is None:
        return default
    return value if isinstance(value, str) else str(value)


def _currency(row: dict[str, Any]) -> str:
    value = row.get("currency") or "INR"
    if not isinstance(value, str) or len(value) != 3 or not value.isalpha():
        raise RowError(f"currency {value!r} is not an ISO 4217 code")
    return value.upper()


def payment_from(row: Any) -> GatewayPayment:
    """The payment in ``row``; raises ``RowError`` with the reason it cannot be used."""
    if not isinstance(row, dict):
        raise RowError("the row is not an object")
    created = parse_time(row.get("created_at"), "created_at")
    assert created is not None
    updated = parse_time(row.get("updated_at"), "updated_at", required=False) or created
    last4 = _text(row, "card_last4")
    return GatewayPayment(
        id=_id(row),
        order_id=_text(row, "order_id", "") or "",
        merchant_id=_text(row, "merchant_id"),
        amount=_amount(row),
        currency=_currency(row),
        method=(_text(row, "method", "unknown") or "unknown")[:16],
        status=_status(row, PAYMENT_STATUSES),
        captured=bool(row.get("captured")),
        vpa=_text(row, "vpa"),
        card_network=_text(row, "card_network"),
        card_last4=last4[-4:] if last4 else None,
        error_code=_text(row, "error_code"),
        error_description=_text(row, "error_description"),
        created_at=created,
        updated_at=updated,
    )


def refund_from(row: Any) -> GatewayRefund:
    if not isinstance(row, dict):
        raise RowError("the row is not an object")
    created = parse_time(row.get("created_at"), "created_at")
    assert created is not None
    return GatewayRefund(
        id=_id(row),
        payment_id=_id(row, "payment_id"),
        amount=_amount(row),
        reason=_text(row, "reason", "") or "",
        status=_status(row, REFUND_STATUSES),
        created_at=created,
        processed_at=parse_time(row.get("processed_at"), "processed_at", required=False),
        idempotency_key=_paydesk_key(row.get("idempotency_key")),
    )


def _paydesk_key(value: Any) -> str | None:
    """An echoed idempotency key that is a Paydesk refund id (others are not Paydesk's)."""
    if isinstance(value, str) and value.startswith("rfnd_") and len(value) <= MAX_ID:
        return value
    return None


def log_from(row: Any) -> GatewayLog:
    if not isinstance(row, dict):
        raise RowError("the row is not an object")
    event = row.get("event")
    if not isinstance(event, str) or not event:
        raise RowError("event is missing")
    raw = row.get("payload")
    if isinstance(raw, str):
        try:
            payload = json.loads(raw)
        except ValueError:
            raise RowError("payload is not JSON") from None
        text = raw
    else:
        payload = raw
        text = json.dumps(raw, separators=(",", ":"), sort_keys=True)
    attempts = row.get("attempts", 0)
    if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 0:
        raise RowError(f"attempts {attempts!r} is not a count")
    code = row.get("response_code")
    if code is not None and (not isinstance(code, int) or isinstance(code, bool)):
        raise RowError(f"response_code {code!r} is not a status code")
    created = parse_time(row.get("created_at"), "created_at")
    assert created is not None
    payment: GatewayPayment | None = None
    refund: GatewayRefund | None = None
    data = payload.get("data") if isinstance(payload, dict) else None
    # What the payload carries is a bonus: a malformed one leaves the log itself usable.
    if isinstance(data, dict):
        try:
            if event.startswith("payment.") and "payment" in data:
                payment = payment_from(data["payment"])
            elif event.startswith("refund.") and "refund" in data:
                refund = refund_from(data["refund"])
        except RowError:
            pass
    return GatewayLog(
        id=_id(row),
        event=event[:64],
        payload=text,
        status=_status(row, LOG_STATUSES),
        attempts=attempts,
        last_attempt_at=parse_time(row.get("last_attempt_at"), "last_attempt_at", required=False),
        next_retry_at=parse_time(row.get("next_retry_at"), "next_retry_at", required=False),
        response_code=code,
        response_body=_text(row, "response_body"),
        created_at=created,
        payment=payment,
        refund=refund,
    )


T = TypeVar("T")


def parse_rows(
    rows: Iterable[Any], parse: Callable[[Any], T], kind: str
) -> tuple[list[T], list[Skipped]]:
    """Every usable row of a page, and a ``Skipped`` with the reason for each other one."""
    good: list[T] = []
    skipped: list[Skipped] = []
    for row in rows:
        try:
            good.append(parse(row))
        except RowError as exc:
            row_id = row.get("id") if isinstance(row, dict) else None
            shown = str(row_id)[:80] if row_id not in (None, "") else None
            skipped.append(Skipped(kind, shown, str(exc)))
    return good, skipped
