"""Policy: settings every copy obeys, kept in the database (admin only, audited).

Each key has a default and a type and range (``core.access.policy_rules``): a bad value is refused
with one sentence before anything is written, and a bad value found stored (from an older
version, or written with SQL) is read as the default and reported by ``paydesk health``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.access import audit, policy_rules, roles
from core.context import Context
from core.errors import InputError
from core.refunds.states import DEFAULT_REASONS
from core.store.models import PolicySetting


@dataclass(frozen=True)
class PolicyKey:
    key: str
    default: Any
    parse: Callable[[str], Any]
    description: str

    @property
    def rule(self) -> policy_rules.Rule:
        """The key's type and range (``core.access.policy_rules``)."""
        return policy_rules.RULES[self.key]


def _parser(key: str) -> Callable[[str], Any]:
    return lambda text: policy_rules.parse(key, text)


KEYS: dict[str, PolicyKey] = {
    p.key: p
    for p in (
        PolicyKey(
            "refund_approval_threshold",
            {},
            _parser("refund_approval_threshold"),
            "A request taking a payment's live refunds to this amount or more per currency needs "
            "approval (empty: every request).",
        ),
        PolicyKey(
            "refund_reasons",
            dict(DEFAULT_REASONS),
            _parser("refund_reasons"),
            "The reasons a refund may be requested with, code: label (other is always kept, "
            "and a refund for it needs a note); refunds already made keep theirs.",
        ),
        PolicyKey(
            "pro_rata_auto_approve_days",
            14,
            _parser("pro_rata_auto_approve_days"),
            "Pro-rata requests still pending after this many days are approved (0: never).",
        ),
        PolicyKey(
            "webhook_retry_schedule",
            [0, 60, 300, 1800, 7200],
            _parser("webhook_retry_schedule"),
            "Seconds before each delivery attempt, counted from the previous one.",
        ),
        PolicyKey(
            "webhook_timeout_seconds",
            5.0,
            _parser("webhook_timeout_seconds"),
            "Timeout of one delivery attempt.",
        ),
        PolicyKey(
            "webhook_lease_seconds",
            0,
            _parser("webhook_lease_seconds"),
            "Seconds a copy holds a claimed delivery before another copy may take it over "
            "(0: 60 + 4 × the timeout).",
        ),
        PolicyKey(
            "webhook_disable_after_days",
            5,
            _parser("webhook_disable_after_days"),
            "Disable an endpoint whose deliveries all failed for this many days (0: never).",
        ),
        # Thresholds of `paydesk health` (and the dashboard's scheduler tile).
        PolicyKey(
            "health_task_late_seconds",
            300,
            _parser("health_task_late_seconds"),
            "Health: a scheduled task is late this many seconds after its next run was due.",
        ),
        PolicyKey(
            "health_webhook_backlog_max",
            1000,
            _parser("health_webhook_backlog_max"),
            "Health: more webhook deliveries due than this is a problem (0: no limit).",
        ),
        PolicyKey(
            "health_webhook_backlog_minutes",
            15,
            _parser("health_webhook_backlog_minutes"),
            "Health: a due webhook delivery waiting longer than this is a problem (0: no limit).",
        ),
        PolicyKey(
            "health_refund_wait_hours",
            72,
            _parser("health_refund_wait_hours"),
            "Health: a refund awaiting approval longer than this is a problem (0: no limit).",
        ),
        PolicyKey(
            "health_disabled_endpoints_max",
            0,
            _parser("health_disabled_endpoints_max"),
            "Health: more disabled webhook endpoints than this is a problem.",
        ),
        PolicyKey(
            "health_round_trip_ms",
            1000,
            _parser("health_round_trip_ms"),
            "Health: a database round trip slower than this is a problem (0: no limit).",
        ),
        PolicyKey(
            "health_min_copies_online",
            0,
            _parser("health_min_copies_online"),
            "Health, shared mode: fewer running copies than this is a problem (0: no minimum).",
        ),
        PolicyKey(
            "recon_settlement_cycle_days",
            2,
            _parser("recon_settlement_cycle_days"),
            "Reconciliation: a successful payment or processed refund no settlement covered this "
            "many days later is missing from settlement (T+2 by default).",
        ),
        PolicyKey(
            "gateway_sync_interval_seconds",
            30,
            _parser("gateway_sync_interval_seconds"),
            "Gateways: seconds between syncs of each connection; health reports a connection "
            "that has not synced for 5 intervals.",
        ),
        PolicyKey(
            "gateway_refund_check_minutes",
            15,
            _parser("gateway_refund_check_minutes"),
            "Gateways: a refund whose answer was lost and that the gateway's lists do not show "
            "after this many minutes waits in Needs check for a finance person.",
        ),
        PolicyKey(
            "gateway_full_sync_minutes",
            60,
            _parser("gateway_full_sync_minutes"),
            "Gateways: minutes between full passes, which read the gateway's lists whole so "
            "changes deep in them (an old webhook log retried) are seen; the syncs between stop "
            "at the first page with nothing new (0: every sync is a full pass).",
        ),
    )
}


def _key(key: str) -> PolicyKey:
    try:
        return KEYS[key]
    except KeyError:
        raise InputError(f"{key!r} is not a policy setting; known: {', '.join(KEYS)}.") from None


@dataclass(frozen=True)
class StoredProblem:
    """A stored policy value that cannot be used (from an older Paydesk, or written with SQL):
    the default is used instead, and ``paydesk health`` reports it."""

    key: str
    stored: str
    why: str
    default: Any

    def sentence(self) -> str:
        return (
            f"The policy setting {self.key} holds {policy_rules.stored_text(self.stored)!r}, "
            f"which is {self.why}; the default {json.dumps(self.default)} is used instead."
        )


def _in_force(key: str, raw: str | None) -> Any:
    spec = KEYS[key]
    if raw is None:
        return spec.default
    value, why = policy_rules.decode(key, raw)
    return spec.default if why else value


def get(session: Session, key: str) -> Any:
    """The value in force for ``key``: the default until an admin sets it, and the default
    when what is stored cannot be used (see ``problems``)."""
    _key(key)
    raw = session.scalar(select(PolicySetting.value).where(PolicySetting.key == key))
    return _in_force(key, raw)


def get_all(session: Session) -> dict[str, Any]:
    """Every key's value in force (as ``get``)."""
    stored = {k: v for k, v in session.execute(select(PolicySetting.key, PolicySetting.value))}
    return {k: _in_force(k, stored.get(k)) for k in KEYS}


def problems_in(stored: dict[str, str]) -> list[StoredProblem]:
    """The stored values (key → JSON text) of known keys that cannot be used, by key."""
    found = []
    for key, spec in KEYS.items():
        raw = stored.get(key)
        if raw is None:
            continue
        _value, why = policy_rules.decode(key, raw)
        if why:
            found.append(StoredProblem(key, raw, why, spec.default))
    return found


def problems(session: Session) -> list[StoredProblem]:
    """The stored values that cannot be used, and so fall back to their defaults."""
    stored = {k: v for k, v in session.execute(select(PolicySetting.key, PolicySetting.value))}
    return problems_in(stored)


def set_value(ctx: Context, actor: str, key: str, text: str) -> Any:
    """Parse, validate and store a policy value (admin only, audited). Returns the new value."""
    spec = _key(key)
    value = spec.parse(text)
    with ctx.db.write() as session:
        roles.require(session, actor, "policy.set")
        now = ctx.clock.now()
        row = session.get(PolicySetting, key)
        previous = _in_force(key, None if row is None else row.value)
        encoded = json.dumps(value, allow_nan=False)
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
