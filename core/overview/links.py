"""What a click on the Overview (or a link between views) opens: the view and the filter it
narrows to. Payments use ``core.payments.queries.PaymentFilter`` as is; the others describe
the view to open and the GUI maps them onto that view's own filter. Plain data, so the modules
that read or show these links need not load the dashboard."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from core.payments.queries import PaymentFilter


@dataclass(frozen=True)
class RefundLink:
    """The Refunds view narrowed to what a tile or bar counts (times are aware UTC,
    ranges half-open)."""

    view: ClassVar[str] = "refunds"
    status: str | None = None
    currency: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    processed_from: datetime | None = None
    processed_to: datetime | None = None
    oldest_first: bool = False


@dataclass(frozen=True)
class WebhookLink:
    """The Webhooks view. ``failing``: failed deliveries plus pending ones with at least one
    failed attempt. ``attempted_*`` and ``attempt_outcome`` narrow to deliveries with an
    attempt in that hour that succeeded (2xx) or failed."""

    view: ClassVar[str] = "webhooks"
    status: str | None = None
    failing: bool = False
    merchant_id: str | None = None
    attempted_from: datetime | None = None
    attempted_to: datetime | None = None
    attempt_outcome: str | None = None  # success / failure


@dataclass(frozen=True)
class EndpointLink:
    """The merchants' endpoints view: one merchant, or (``problems``) every endpoint that
    is disabled or failing."""

    view: ClassVar[str] = "endpoints"
    merchant_id: str | None = None
    problems: bool = False


@dataclass(frozen=True)
class JobsLink:
    """The Jobs view, optionally scrolled to one task."""

    view: ClassVar[str] = "jobs"
    task: str | None = None


@dataclass(frozen=True)
class ReconLink:
    """The Reconciliation view; ``open_only``: the exceptions nobody has resolved yet."""

    view: ClassVar[str] = "recon"
    open_only: bool = False


Link = PaymentFilter | RefundLink | WebhookLink | EndpointLink | JobsLink | ReconLink
