"""What a task run did that a person should hear about at once, as one sentence.

The scheduler's runs are silent by design, but some change figures on screen with no action of
the person's: the auto-approval of stale pro-rata requests (in a fresh demo, the whole overdue
backlog in its first minutes) moves the Overview's "Refunds awaiting approval" by itself. The
app shows this sentence as a transient notice; each refund is also in the Activity view as
"Refund auto-approved" (its audit event).
"""

from __future__ import annotations

import re
from typing import Any

AUTO_APPROVE_TASK = "refund_auto_approve"
# core.refunds.processing's run message: "33 auto-approved" (None when there was nothing).
_AUTO_APPROVED = re.compile(r"^(\d+) auto-approved$")


def notice_for(state: Any) -> str | None:
    """The sentence for a finished run (a ``core.jobs.scheduler.TaskState``), or None."""
    if getattr(state, "running", False) or getattr(state, "last_outcome", None) != "ok":
        return None
    if getattr(state, "name", None) == AUTO_APPROVE_TASK:
        match = _AUTO_APPROVED.match(str(getattr(state, "last_message", "") or ""))
        if match:
            n = int(match.group(1))
            requests = "request" if n == 1 else "requests"
            return (
                f"Auto-approved {n:,} stale pro-rata {requests} "
                "(pending longer than the policy allows); the Activity view lists them."
            )
    return None
