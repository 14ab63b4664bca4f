"""Policy: settings every copy obeys, kept in the database (admin only, audited).

Each key has a default, a parser for what a person types, and a validator, so a bad value
is refused with one sentence before anything is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit, money, roles
from core.context import Context
from core.errors import InputError
from core.models import PolicySetting


@dataclass(frozen=True)
class PolicyKey:
    key: str
    default: Any
    parse: Callable[[str], Any]
    description: str


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise InputError(f"{text!r} is not a whole number.") from None
    if value < 0:
        raise InputError("The value cannot be negative.")
    return value


def _positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{text!r} is not a number.") from None
    if value <= 0:
        raise InputError("The value must be greater than zero.")
    return value


def _schedule(text: str) -> list[int]:
    try:
        delays = [int(p) for p in text.replace(" ", "").split(",") if p != ""]
    except ValueError:
        raise InputError(f"{text!r} is not a list of seconds like 0,60,300,1800,7200.") from None
    if not delays or any(d < 0 for d in delays):
        raise InputError("The retry schedule needs at least one delay, none negative.")
    if len(delays) > 20:
        raise InputError("The retry schedule allows at most 20 attempts.")
    return delays


def _thresholds(text: str) -> dict[str, int]:
    """``INR:5000.00,JPY:10000`` → minor units per currency; empty = every refund needs approval."""
    result: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        currency, sep, amount = part.partition(":")
        if not sep:
            raise InputError(f"{part!r} should look like INR:5000.00.")
        currency = currency.strip().upper()
        result[currency] = money.parse_amount(amount, currency)
    return result


KEYS: dict[str, PolicyKey] = {
    p.key: p
    for p in (
        PolicyKey(
            "refund_approval_threshold",
            {},
            _thresholds,
            "Refunds at or above this amount per currency need approval (empty: all of them).",
        ),
        PolicyKey(
            "pro_rata_auto_approve_days",
            14,
            _non_negative_int,
            "Pro-rata requests still pending after this many days are approved (0: never).",
        ),
        PolicyKey(
            "webhook_retry_schedule",
            [0, 60, 300, 1800, 7200],
            _schedule,
            "Seconds before each delivery attempt, counted from the previous one.",
        ),
        PolicyKey(
            "webhook_timeout_seconds", 5.0, _positive_number, "Timeout of one delivery attempt."
        ),
        PolicyKey(
            "webhook_lease_seconds",
            0,
            _non_negative_int,
            "Seconds a copy holds a claimed delivery before another copy may take it over "
            "(0: 60 + 4 × the timeout).",
        ),
        PolicyKey(
            "webhook_disable_after_days",
            5,
            _non_negative_int,
            "Disable an endpoint whose deliveries all failed for this many days (0: never).",
        ),
        # Thresholds of `paydesk health` (and the dashboard's scheduler tile).
        PolicyKey(
            "health_task_late_seconds",
            300,
            _non_negative_int,
            "Health: a scheduled task is late this many seconds after its next run was due.",
        ),
        PolicyKey(
            "health_webhook_backlog_max",
            1000,
            _non_negative_int,
            "Health: more webhook deliveries due than this is a problem (0: no limit).",
        ),
        PolicyKey(
            "health_webhook_backlog_minutes",
            15,
            _non_negative_int,
            "Health: a due webhook delivery waiting longer than this is a problem (0: no limit).",
        ),
        PolicyKey(
            "health_refund_wait_hours",
            72,
            _non_negative_int,
            "Health: a refund awaiting approval longer than this is a problem (0: no limit).",
        ),
        PolicyKey(
            "health_disabled_endpoints_max",
            0,
            _non_negative_int,
            "Health: more disabled webhook endpoints than this is a problem.",
        ),
        PolicyKey(
            "health_round_trip_ms",
            1000,
            _non_negative_int,
            "Health: a database round trip slower than this is a problem (0: no limit).",
        ),
        PolicyKey(
            "health_min_copies_online",
            0,
            _non_negative_int,
            "Health, shared mode: fewer running copies than this is a problem (0: no minimum).",
        ),
    )
}


def _key(key: str) -> PolicyKey:
    try:
        return KEYS[key]
    except KeyError:
        raise InputError(f"{key!r} is not a policy setting; known: {', '.join(KEYS)}.") from None


def get(session: Session, key: str) -> Any:
    """The value in force for ``key`` (the default until an admin sets it)."""
    spec = _key(key)
    raw = session.scalar(select(PolicySetting.value).where(PolicySetting.key == key))
    return spec.default if raw is None else json.loads(raw)


def get_all(session: Session) -> dict[str, Any]:
    stored = {
        k: json.loads(v) for k, v in session.execute(select(PolicySetting.key, PolicySetting.value))
    }
    return {k: stored.get(k, spec.default) for k, spec in KEYS.items()}


def set_value(ctx: Context, actor: str, key: str, text: str) -> Any:
    """Parse, validate and store a policy value (admin only, audited). Returns the new value."""
    spec = _key(key)
    value = spec.parse(text)
    with ctx.db.write() as session:
        roles.require(session, actor, "policy.set")
        now = ctx.clock.now()
        row = session.get(PolicySetting, key)
        previous = spec.default if row is None else json.loads(row.value)
        encoded = json.dumps(value)
        if row is None:
            session.add(PolicySetting(key=key, value=encoded, updated_at=now, updated_by=actor))
        else:
            row.value, row.updated_at, row.updated_by = encoded, now, actor
        audit.record(
            session,
            at=now,
            actor=actor,
            action="policy.set",
            entity_type="policy",
            entity_id=key,
            details={"value": value, "previous": previous},
            client=ctx.client_id,
        )
    return value
