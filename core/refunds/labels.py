"""The words a person reads for the refund state machine's values (``core.refunds.states``):
one label per status, so "Awaiting approval" is written one way wherever a screen shows it, and
the label of the gateway's Needs check, which is not a status of its own (a ``processing``
refund whose outcome at the gateway is unknown past the policy time)."""

from __future__ import annotations

from core.refunds.states import RefundStatus

STATUS_LABELS: dict[str, str] = {
    RefundStatus.PENDING_APPROVAL: "Awaiting approval",
    RefundStatus.APPROVED: "Approved",
    RefundStatus.PROCESSING: "Processing",
    RefundStatus.PROCESSED: "Processed",
    RefundStatus.FAILED: "Failed",
    RefundStatus.REJECTED: "Rejected",
    RefundStatus.CANCELLED: "Cancelled",
}
NEEDS_CHECK_LABEL = "Needs check"


def status_label(status: str) -> str:
    """The label of ``status`` (an unknown value as it is stored)."""
    return STATUS_LABELS.get(status, status)
