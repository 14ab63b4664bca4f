"""The refund state machine's one vocabulary: its statuses, which of them still count against
a payment's refundable amount, and the kinds and the default reasons a refund is requested with.

``RefundStatus`` members are strings, so they compare equal to the stored values and bind as
text on SQLite and Postgres alike. The database holds the same transitions (migration 0005).
"""

from __future__ import annotations

from enum import StrEnum


class RefundStatus(StrEnum):
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    PROCESSING = "processing"
    PROCESSED = "processed"
    FAILED = "failed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


STATUSES: tuple[RefundStatus, ...] = tuple(RefundStatus)
# Refunds in these states no longer count against the payment's refundable amount.
NOT_COUNTED = (RefundStatus.REJECTED, RefundStatus.FAILED, RefundStatus.CANCELLED)
COUNTED = tuple(s for s in STATUSES if s not in NOT_COUNTED)
# Decided but not finished: the processing task still has work to do.
IN_FLIGHT = (RefundStatus.PENDING_APPROVAL, RefundStatus.APPROVED, RefundStatus.PROCESSING)

KINDS = ("full", "partial", "pro_rata")
# The reasons a refund may be requested with are a policy value (``refund_reasons``); these
# are its default, code → label, with the codes spelled as stored refunds hold them.
DEFAULT_REASONS: dict[str, str] = {
    "requested_by_customer": "Requested by the customer",
    "duplicate": "Duplicate payment",
    "fraudulent": "Fraudulent payment",
    "pro_rata": "Pro-rata (subscription cancelled)",
    "other": "Other (say why in the note)",
}
REASONS = tuple(DEFAULT_REASONS)
# The reason every policy keeps: a refund that fits no other, which needs a note saying why.
OTHER = "other"
OTHER_NEEDS_NOTE = "A refund for another reason needs a note saying why."


def reason_refusal(reason: str, note: str | None, reasons: dict[str, str]) -> str | None:
    """Why a request with ``reason`` and ``note`` is refused under the policy's ``reasons``
    (code → label), or None. Stored refunds are never checked: a reason removed from the
    policy later still reads as it was."""
    if reason not in reasons:
        return f"{reason!r} is not a refund reason; use one of {', '.join(reasons)}."
    if reason == OTHER and not (note or "").strip():
        return OTHER_NEEDS_NOTE
    return None
