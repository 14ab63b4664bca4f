"""What a gateway offers, as detected when its connection is added (and on each test)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

PAYMENT_LIST_MODES = ("paged", "array", "none")
REFUND_ROUTES = ("payment", "body", "none")


@dataclass
class Capabilities:
    # "paged" ({count, total, payments} with limit/skip), "array" (everything at once: Paydesk
    # pages it), "none" (payments come from webhook payloads and by id).
    payment_list: str = "none"
    refund_list: bool = False
    # Refund idempotency cannot be probed without making refunds; Paydesk always acts as if the
    # gateway ignored it (a refund whose answer is lost is never re-sent blindly).
    refund_idempotency: str = "assumed ignored"
    refund_route: str = "payment"  # POST /payments/{id}/refunds, or "body": POST /refunds
    webhook_logs: bool = False
    retry_route: bool = False
    queue_status: bool = False
    health: bool = False
    merchant_profile: bool = False
    merchant_id: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> Capabilities:
        """Read stored capabilities; unknown keys are ignored, bad values fall back."""
        caps = cls()
        try:
            data: Any = json.loads(text) if text else {}
        except ValueError:
            return caps
        if not isinstance(data, dict):
            return caps
        for f in fields(cls):
            if f.name in data:
                value = data[f.name]
                default = getattr(caps, f.name)
                same_kind = (
                    (isinstance(default, bool) and isinstance(value, bool))
                    or (isinstance(default, str) and isinstance(value, str))
                    or (default is None and (value is None or isinstance(value, str)))
                )
                if same_kind:
                    setattr(caps, f.name, value)
        return caps

    def lines(self) -> list[str]:
        """What each capability means, one line each, for ``gateways show`` and the dialog."""
        plist = {
            "paged": "payment list: yes, paged by the gateway",
            "array": "payment list: yes, all at once (Paydesk pages it)",
            "none": "payment list: none (payments come from webhook logs and lookups by id)",
        }.get(self.payment_list, f"payment list: {self.payment_list}")
        route = {
            "payment": "refunds: POST /payments/{id}/refunds",
            "body": "refunds: POST /refunds",
            "none": "refunds: no refund route found",
        }.get(self.refund_route, f"refunds: {self.refund_route}")
        yes = {True: "yes", False: "no"}
        return [
            plist,
            f"refund list: {yes[self.refund_list]}",
            route,
            f"refund idempotency: {self.refund_idempotency}",
            f"webhook logs: {yes[self.webhook_logs]}",
            f"webhook retry: {yes[self.retry_route]}",
            f"queue status: {yes[self.queue_status]}",
            f"health: {yes[self.health]}",
        ]
