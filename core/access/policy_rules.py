"""The type and range of each policy setting: what ``policy set`` accepts from a person, and
whether a value found in the database (written by an older Paydesk, or by hand with SQL) may
be used. No database code and no SQLAlchemy, so the quick path of ``paydesk health`` can ask.

Kinds:

- ``int``: a whole number from ``low`` to ``high``, typed as ASCII digits.
- ``seconds``: a number above ``low`` and at most ``high`` (``5``, ``0.3``), never NaN or
  infinite.
- ``schedule``: one to ``MAX_ATTEMPTS`` whole numbers of seconds, each from ``low`` to
  ``high`` (``0,60,300``).
- ``thresholds``: amounts per ISO currency Paydesk knows (``USD:10.00,JPY:1000``), stored as
  whole, non-negative minor units (``{"USD": 1000, "JPY": 1000}``).
- ``reasons``: refund reason codes with their labels (``duplicate:Duplicate payment,other``),
  stored as code → label in the order given; codes are plain lowercase (``pro_rata``), each
  once, at most ``MAX_REASONS``, and ``other`` is always among them.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from core import money
from core.errors import InputError
from core.refunds.states import OTHER

MAX_ATTEMPTS = 20
# A threshold fits a 64-bit integer (the Postgres trigger reads it as bigint).
MAX_MINOR = 10**18 - 1
_WHOLE = re.compile(r"[0-9]+", re.ASCII)
_NUMBER = re.compile(r"[0-9]{1,18}(?:\.[0-9]{1,9})?", re.ASCII)
_SHOWN = 40
_BETWEEN_CURRENCIES = re.compile(r",(?=\s*[A-Za-z]{3}\s*:)")
# A reason code as refunds store it: plain lowercase ASCII, words joined by "_".
_REASON_CODE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*", re.ASCII)
MAX_REASONS = 30
MAX_REASON_CODE = 40
MAX_REASON_LABEL = 60


@dataclass(frozen=True)
class Rule:
    kind: str  # "int" / "seconds" / "schedule" / "thresholds" / "reasons"
    low: int = 0
    high: int = 0
    unit: str = ""

    def describe(self) -> str:
        """The range in words, for ``policy show`` and sentences."""
        if self.kind == "int":
            return f"a whole number from {self.low:,} to {self.high:,}{self.unit}"
        if self.kind == "seconds":
            return f"a number above {self.low:,} and at most {self.high:,}{self.unit}"
        if self.kind == "schedule":
            return (
                f"1 to {MAX_ATTEMPTS} whole numbers of seconds, each from {self.low:,} "
                f"to {self.high:,}"
            )
        if self.kind == "reasons":
            return (
                f"1 to {MAX_REASONS} lowercase reason codes with labels, other among them "
                "(duplicate:Duplicate payment,other:Other)"
            )
        return "amounts per currency, none negative (USD:10.00,JPY:1000)"


DAY = 86_400
RULES: dict[str, Rule] = {
    "refund_approval_threshold": Rule("thresholds"),
    "refund_reasons": Rule("reasons"),
    "pro_rata_auto_approve_days": Rule("int", 0, 3650, " days"),
    "webhook_retry_schedule": Rule("schedule", 0, 7 * DAY),
    "webhook_timeout_seconds": Rule("seconds", 0, 120, " seconds"),
    "webhook_lease_seconds": Rule("int", 0, DAY, " seconds"),
    "webhook_disable_after_days": Rule("int", 0, 365, " days"),
    "health_task_late_seconds": Rule("int", 0, 7 * DAY, " seconds"),
    "health_webhook_backlog_max": Rule("int", 0, 1_000_000_000),
    "health_webhook_backlog_minutes": Rule("int", 0, 365 * 24 * 60, " minutes"),
    "health_refund_wait_hours": Rule("int", 0, 365 * 24, " hours"),
    "health_disabled_endpoints_max": Rule("int", 0, 1_000_000),
    "health_round_trip_ms": Rule("int", 0, 600_000, " ms"),
    "health_min_copies_online": Rule("int", 0, 1000),
    "recon_settlement_cycle_days": Rule("int", 0, 60, " days"),
    "gateway_sync_interval_seconds": Rule("int", 5, DAY, " seconds"),
    "gateway_refund_check_minutes": Rule("int", 0, 7 * 24 * 60, " minutes"),
    "gateway_full_sync_minutes": Rule("int", 0, 7 * 24 * 60, " minutes"),
}


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…")


def _whole(key: str, rule: Rule, text: str) -> int:
    cleaned = text.strip()
    if cleaned.startswith("-") and _WHOLE.fullmatch(cleaned[1:]):
        raise InputError("The value cannot be negative.")
    if not _WHOLE.fullmatch(cleaned):
        raise InputError(f"{_shown(cleaned)} is not a whole number.")
    if len(cleaned.lstrip("0")) > 18:
        raise InputError(f"{key} must be {rule.describe()}; {_shown(cleaned)} is not.")
    value = int(cleaned)
    if not rule.low <= value <= rule.high:
        raise InputError(f"{key} must be {rule.describe()}; {value:,} is not.")
    return value


def _seconds(key: str, rule: Rule, text: str) -> float:
    cleaned = text.strip()
    if cleaned.startswith("-") and _NUMBER.fullmatch(cleaned[1:]):
        raise InputError("The value must be greater than zero.")
    if not _NUMBER.fullmatch(cleaned):
        raise InputError(f"{_shown(cleaned)} is not a number.")
    value = float(cleaned)
    if value <= rule.low:
        raise InputError("The value must be greater than zero.")
    if value > rule.high:
        raise InputError(f"{key} must be {rule.describe()}; {cleaned} is not.")
    return value


def _schedule(key: str, rule: Rule, text: str) -> list[int]:
    parts = [p.strip() for p in text.split(",")]
    if parts and parts[-1] == "":
        parts.pop()  # a trailing comma
    if not parts or any(not _WHOLE.fullmatch(p) for p in parts):
        if any(p.startswith("-") and _WHOLE.fullmatch(p[1:]) for p in parts):
            raise InputError("The retry schedule needs at least one delay, none negative.")
        if not parts:
            raise InputError("The retry schedule needs at least one delay, none negative.")
        raise InputError(
            f"{_shown(text.strip())} is not a list of seconds like 0,60,300,1800,7200."
        )
    if len(parts) > MAX_ATTEMPTS:
        raise InputError(f"The retry schedule allows at most {MAX_ATTEMPTS} attempts.")
    for p in parts:
        if len(p.lstrip("0")) > 18 or int(p) > rule.high:
            raise InputError(
                f"A delay of the retry schedule is at most {rule.high:,} seconds (7 days); "
                f"{_shown(p)} is more."
            )
    delays = [int(p) for p in parts]
    return delays


def _thresholds(text: str) -> dict[str, int]:
    """``INR:5000.00,JPY:10000`` → minor units per currency; empty = every refund needs approval."""
    result: dict[str, int] = {}
    # "," separates currencies, and thousands within an amount (USD:1,500.00,JPY:1000).
    for part in filter(None, (p.strip() for p in _BETWEEN_CURRENCIES.split(text))):
        currency, sep, amount = part.partition(":")
        if not sep:
            raise InputError(f"{_shown(part)} should look like INR:5000.00.")
        currency = currency.strip().upper()
        money.exponent(currency)  # refuses a currency Paydesk does not know
        if currency in result:
            raise InputError(f"The threshold of {currency} is given twice.")
        result[currency] = money.parse_amount(amount, currency, allow_zero=True)
    return result


def default_label(code: str) -> str:
    """The label of a reason code typed without one: ``pro_rata`` → "Pro rata"."""
    return code.replace("_", " ").capitalize()


def _reasons(text: str) -> dict[str, str]:
    """``duplicate:Duplicate payment,other`` → code → label, in the order typed."""
    result: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        code, _sep, label = part.partition(":")
        code, label = code.strip(), " ".join(label.split())
        if not _REASON_CODE.fullmatch(code) or len(code) > MAX_REASON_CODE:
            raise InputError(
                f"{_shown(code)} is not a reason code; use up to {MAX_REASON_CODE} lowercase "
                "letters, digits and _ (like requested_by_customer)."
            )
        if code in result:
            raise InputError(f"The reason {code} is given twice.")
        if len(label) > MAX_REASON_LABEL or not label.isprintable():
            raise InputError(
                f"The label of {code} must be printable and at most {MAX_REASON_LABEL} characters."
            )
        result[code] = label or default_label(code)
    if not result:
        raise InputError("The refund reasons need at least one code, other among them.")
    if len(result) > MAX_REASONS:
        raise InputError(f"The refund reasons allow at most {MAX_REASONS} codes.")
    if OTHER not in result:
        raise InputError(
            "The refund reasons must keep other, for a refund that fits no other reason."
        )
    return result


def parse(key: str, text: str) -> Any:
    """What a person typed for ``key`` as the value to store; refuses a wrong type, NaN,
    infinity and anything out of range with one sentence."""
    rule = RULES[key]
    if not isinstance(text, str):
        raise InputError(f"{key} needs a value.")
    if rule.kind == "int":
        return _whole(key, rule, text)
    if rule.kind == "seconds":
        return _seconds(key, rule, text)
    if rule.kind == "schedule":
        return _schedule(key, rule, text)
    if rule.kind == "reasons":
        return _reasons(text)
    return _thresholds(text)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def problem(key: str, value: Any) -> str | None:
    """Why a decoded stored ``value`` of ``key`` cannot be used, or None when it can."""
    rule = RULES[key]
    if rule.kind == "int":
        if not _is_int(value):
            return "not a whole number"
        if not rule.low <= value <= rule.high:
            return f"out of range ({rule.describe()})"
        return None
    if rule.kind == "seconds":
        if not (_is_int(value) or isinstance(value, float)):
            return "not a number"
        if not math.isfinite(value):
            return "not a finite number"
        if not rule.low < value <= rule.high:
            return f"out of range ({rule.describe()})"
        return None
    if rule.kind == "schedule":
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_ATTEMPTS:
            return f"not a list of 1 to {MAX_ATTEMPTS} delays"
        if not all(_is_int(d) and rule.low <= d <= rule.high for d in value):
            return f"a delay is not a whole number from {rule.low:,} to {rule.high:,} seconds"
        return None
    if rule.kind == "reasons":
        return _reasons_problem(value)
    if not isinstance(value, dict):
        return "not amounts per currency"
    for currency, amount in value.items():
        if currency not in money.EXPONENTS:
            return f"{str(currency)[:10]!r} is not a currency Paydesk knows"
        if not _is_int(amount) or not 0 <= amount <= MAX_MINOR:
            return f"the {currency} threshold is not a whole, non-negative number of minor units"
    return None


def _reasons_problem(value: Any) -> str | None:
    if not isinstance(value, dict) or not 1 <= len(value) <= MAX_REASONS:
        return f"not 1 to {MAX_REASONS} reason codes with labels"
    for code, label in value.items():
        if not _REASON_CODE.fullmatch(code) or len(code) > MAX_REASON_CODE:
            return f"{code[:MAX_REASON_CODE]!r} is not a reason code"
        if not isinstance(label, str) or not label.strip() or len(label) > MAX_REASON_LABEL:
            return f"the label of {code} is not a short text"
        if not label.isprintable():
            return f"the label of {code} is not printable"
    if OTHER not in value:
        return "without the reason other"
    return None


def decode(key: str, raw: str) -> tuple[Any, str | None]:
    """A stored JSON text of ``key``: (its value, None) when it can be used, else
    (None, why not)."""
    try:
        value = json.loads(raw)
    except (ValueError, TypeError, RecursionError):
        return None, "not readable"
    why = problem(key, value)
    return (None, why) if why else (value, None)


def stored_text(raw: str) -> str:
    """A stored value as a sentence shows it (shortened, control characters escaped)."""
    text = raw if isinstance(raw, str) else repr(raw)
    short = text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"
    return short.encode("unicode_escape").decode("ascii") if not short.isprintable() else short
