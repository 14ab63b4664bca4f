"""The refund state machine's one vocabulary: its statuses, which of them still count against
a payment's refundable amount, and the kinds and reasons a refund is requested with.

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
REASONS = ("requested_by_customer", "duplicate", "fraudulent", "pro_rata", "other")
