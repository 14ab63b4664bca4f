"""Typed SQLAlchemy models for every table (DESIGN.md §3). Money is integer minor units."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Stable constraint names so Alembic migrations match on SQLite and Postgres alike.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in Python; ``timestamptz`` on Postgres, ISO text (UTC, no offset) on SQLite,
    so that text order is time order and keyset paging works on both."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(DateTime(timezone=False))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# Pending deliveries whose latest attempt failed. Queries repeat this text exactly, so that
# SQLite uses the partial index ix_webhook_logs_retrying.
WEBHOOK_RETRYING = (
    "status = 'pending' AND attempts > 0 "
    "AND (response_code IS NULL OR response_code < 200 OR response_code >= 300)"
)

# A 64-bit autoincrement key that is still SQLite's rowid alias.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime}  # noqa: RUF012 — SQLAlchemy reads it as is


class Merchant(Base):
    __tablename__ = "merchants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    webhook_url: Mapped[str | None] = mapped_column(String(2000))
    # No login may SELECT the secrets on Postgres (migration 0005): loading a merchant leaves
    # them out, and core.webhooks.secrets reaches them.
    webhook_secret: Mapped[str | None] = mapped_column(String(200), deferred=True)
    # After a rotation the previous secret keeps signing for a grace period.
    webhook_secret_previous: Mapped[str | None] = mapped_column(String(200), deferred=True)
    webhook_secret_rotated_at: Mapped[datetime | None]
    webhook_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    webhook_disabled_reason: Mapped[str | None] = mapped_column(Text)
    webhook_consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    webhook_failing_since: Mapped[datetime | None]
    webhook_last_success_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        # Keyset paging for the Payments view: newest first, per filter.
        Index("ix_payments_created", "created_at", "id"),
        Index("ix_payments_merchant_created", "merchant_id", "created_at", "id"),
        Index("ix_payments_status_created", "status", "created_at", "id"),
        Index("ix_payments_amount", "amount", "id"),
        Index("ix_payments_currency_amount", "currency", "amount", "id"),  # by amount
        Index("ix_payments_order", "order_id"),
        Index(
            "ix_payments_customer_email",
            "customer_email",
            postgresql_ops={"customer_email": "varchar_pattern_ops"},
        ),
        Index(
            "ix_payments_customer_vpa",
            "customer_vpa",
            postgresql_ops={"customer_vpa": "varchar_pattern_ops"},
        ),
        # Migration 0005; a trigger keeps refunded_amount equal to the live refunds' sum.
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= amount", name="refunded_amount_range"
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    order_id: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    captured: Mapped[bool] = mapped_column(Boolean, default=False)
    customer_email: Mapped[str | None] = mapped_column(String(320))
    customer_vpa: Mapped[str | None] = mapped_column(String(100))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_description: Mapped[str | None] = mapped_column(Text)
    # Kept by the database (migration 0005's triggers): the sum of the refunds that are not
    # rejected, cancelled or failed. No login may set it.
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # The gateway connection the payment was synced from (migration 0009); None: Paydesk's own.
    gateway: Mapped[str | None] = mapped_column(String(64), index=True)


class Subscription(Base):
    __tablename__ = "subscriptions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), unique=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]
    refund_window_days: Mapped[int] = mapped_column(Integer, default=30)


class Refund(Base):
    __tablename__ = "refunds"
    __table_args__ = (
        UniqueConstraint("merchant_id", "idempotency_key"),
        Index("ix_refunds_payment", "payment_id"),
        Index("ix_refunds_status_created", "status", "created_at", "id"),
        Index("ix_refunds_created", "created_at", "id"),
        CheckConstraint("amount > 0", name="amount_positive"),  # migration 0005
        Index("ix_refunds_gateway_refund", "gateway", "gateway_refund_id", unique=True),
        Index("ix_refunds_gateway_outcome", "gateway_outcome"),  # migration 0010
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(16))  # full / partial / pro_rata
    reason: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    # pending_approval / approved / processing / processed / failed / rejected / cancelled
    status: Mapped[str] = mapped_column(String(20))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    subscription_id: Mapped[str | None] = mapped_column(ForeignKey("subscriptions.id"))
    requested_by: Mapped[str] = mapped_column(String(100))
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None]
    failure_reason: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Migration 0009: the connection of a gateway payment's refund, the gateway's own refund id
    # once known, and when Paydesk sent it (an unknown outcome is looked for, never re-sent).
    gateway: Mapped[str | None] = mapped_column(String(64))
    gateway_refund_id: Mapped[str | None] = mapped_column(String(64))
    gateway_sent_at: Mapped[datetime | None]
    # Migration 0010: a sent refund whose answer was lost (unknown / needs_check / resend, see
    # core.gateway.refund_matching), the evidence a person reads, and when Paydesk last looked.
    gateway_outcome: Mapped[str | None] = mapped_column(String(16))
    gateway_evidence: Mapped[str | None] = mapped_column(Text)
    gateway_checked_at: Mapped[datetime | None]


class WebhookLog(Base):
    __tablename__ = "webhook_logs"
    __table_args__ = (
        Index("ix_webhook_logs_due", "status", "next_retry_at"),
        Index("ix_webhook_logs_merchant_created", "merchant_id", "created_at"),
        Index("ix_webhook_logs_created", "created_at", "id"),
        Index("ix_webhook_logs_entity", "entity_id"),
        Index("ix_webhook_logs_status_created", "status", "created_at", "id"),
        # Deliveries being retried (the dashboard's failing tile); migration 0003.
        Index(
            "ix_webhook_logs_retrying",
            "status",
            sqlite_where=text(WEBHOOK_RETRYING),
            postgresql_where=text(WEBHOOK_RETRYING),
        ),
        Index("ix_webhook_logs_gateway_log", "gateway", "gateway_log_id", unique=True),
    )

    # The ``webhook-id`` header: stable across retries so receivers can dedupe.
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    event: Mapped[str] = mapped_column(String(64))
    # The exact JSON text that is sent, so every retry signs the same bytes.
    payload: Mapped[str] = mapped_column(Text)
    # The payment or refund the event is about, for search.
    entity_id: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # pending / success / failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The attempt count when the current round began: a manual retry starts a new round of
    # the retry schedule and keeps the history.
    round_start: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Who asked for the next attempt when it is not the schedule ("manual", "test").
    next_trigger: Mapped[str | None] = mapped_column(String(16))
    next_actor: Mapped[str | None] = mapped_column(String(100))
    last_attempt_at: Mapped[datetime | None]
    next_retry_at: Mapped[datetime | None]
    response_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Migration 0009: a gateway's log (its connection and its own UUID); Paydesk's dispatcher
    # never delivers these, retries go to the gateway.
    gateway: Mapped[str | None] = mapped_column(String(64))
    gateway_log_id: Mapped[str | None] = mapped_column(String(64))


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"
    __table_args__ = (
        Index("ix_webhook_attempts_log", "webhook_log_id", "number"),
        Index("ix_webhook_attempts_started", "started_at"),
        # Covering for the dashboard's attempts-per-hour chart.
        Index("ix_webhook_attempts_started_code", "started_at", "response_code"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    webhook_log_id: Mapped[str] = mapped_column(ForeignKey("webhook_logs.id"))
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(String(2000))
    response_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    trigger: Mapped[str] = mapped_column(String(16))  # scheduled / manual / test
    actor: Mapped[str | None] = mapped_column(String(100))
    client: Mapped[str | None] = mapped_column(String(64))


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_expires", "expires_at"),)

    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    response: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_at", "at", "id"),
        Index("ix_audit_events_entity", "entity_id"),
        Index("ix_audit_events_actor", "actor", "at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[str | None] = mapped_column(Text)  # JSON text
    client: Mapped[str | None] = mapped_column(String(64))


class Client(Base):
    """Presence of running copies (GUI or worker)."""

    __tablename__ = "clients"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    user: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))  # app / worker
    started_at: Mapped[datetime]
    last_seen: Mapped[datetime]


class Staff(Base):
    """Roles in standalone mode (shared mode reads Postgres role membership)."""

    __tablename__ = "staff"

    username: Mapped[str] = mapped_column(String(100), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))  # support / finance / admin
    created_at: Mapped[datetime]
    added_by: Mapped[str | None] = mapped_column(String(100))


class PolicySetting(Base):
    """Shared settings that every copy obeys (retry schedule, approval thresholds, ...)."""

    __tablename__ = "policy"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)  # JSON text
    updated_at: Mapped[datetime]
    updated_by: Mapped[str | None] = mapped_column(String(100))


class PaymentRollup(Base):
    """Payments per 15-minute UTC bucket, currency and status, kept by database triggers
    (migration 0003) in the transaction that changes ``payments``. Postgres appends one
    delta row per key and statement, so a key may have several rows: always ``SUM``."""

    __tablename__ = "payment_rollup"
    __table_args__ = (
        Index("ix_payment_rollup_bucket", "bucket", "currency", "status", "count", "amount"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    bucket: Mapped[int] = mapped_column(BigInteger)  # epoch seconds, a multiple of 900
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20))
    count: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)


class RefundRollup(Base):
    """Refunds per 15-minute UTC bucket and currency: ``requested`` (bucket of created_at,
    any status) and ``processed`` (bucket of processed_at). Kept like ``PaymentRollup``."""

    __tablename__ = "refund_rollup"
    __table_args__ = (
        Index("ix_refund_rollup_bucket", "bucket", "currency", "measure", "count", "amount"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    bucket: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    measure: Mapped[str] = mapped_column(String(20))  # requested / processed
    count: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)


class GatewayConnection(Base):
    """A merchant's gateway account that Paydesk keeps a copy of (core.gateway; migration
    0009). The API secret is in the OS keyring, never here."""

    __tablename__ = "gateway_connections"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))  # the API base (…/api/v1)
    api_key: Mapped[str] = mapped_column(String(200))
    # The Paydesk merchant the gateway's rows belong to (the gateway's merchant ids are UUIDs).
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    capabilities: Mapped[str] = mapped_column(Text)  # JSON (core.gateway.capabilities)
    added_at: Mapped[datetime]
    added_by: Mapped[str] = mapped_column(String(100))
    removed: Mapped[bool] = mapped_column(Boolean, default=False)
    removed_at: Mapped[datetime | None]
    removed_by: Mapped[str | None] = mapped_column(String(100))
    last_sync_at: Mapped[datetime | None]
    last_sync_outcome: Mapped[str | None] = mapped_column(String(16))  # ok / partial / error
    last_error: Mapped[str | None] = mapped_column(Text)
    last_skipped: Mapped[str | None] = mapped_column(Text)  # JSON list of sentences
    last_added: Mapped[int] = mapped_column(Integer, default=0)
    last_updated: Mapped[int] = mapped_column(Integer, default=0)
    payments_count: Mapped[int] = mapped_column(Integer, default=0)
    refunds_count: Mapped[int] = mapped_column(Integer, default=0)
    logs_count: Mapped[int] = mapped_column(Integer, default=0)
    full_sync_at: Mapped[datetime | None]
    queue_status: Mapped[str | None] = mapped_column(Text)  # JSON, as the gateway last said
    # One copy syncs a connection at a time (shared mode).
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class TaskRun(Base):
    """The last run of each scheduler task in each running copy, for ``paydesk health``
    and the dashboard (the scheduler itself keeps its state in memory)."""

    __tablename__ = "task_runs"

    task: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str | None] = mapped_column(String(200))
    interval_seconds: Mapped[float | None] = mapped_column(Float)
    last_run_at: Mapped[datetime]
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))  # ok / error
    message: Mapped[str | None] = mapped_column(Text)
    next_run_at: Mapped[datetime | None]


class SettlementBatch(Base):
    """One settlement (payout) of a processor's report: the money it sent to the bank in one
    transfer (core.recon; docs/reconciliation.md)."""

    __tablename__ = "settlement_batches"
    __table_args__ = (Index("ix_settlement_batches_settled", "settled_at", "id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the report's settlement id
    source: Mapped[str] = mapped_column(String(32))  # the format it came in (razorpay, stripe, …)
    utr: Mapped[str | None] = mapped_column(String(64))  # the bank transfer's reference
    settled_at: Mapped[datetime | None]
    imported_at: Mapped[datetime]
    imported_by: Mapped[str] = mapped_column(String(100))


class SettlementLine(Base):
    """One line of a settlement report, or a payment or refund no settlement covered
    (``missing_from_settlement``, no batch). ``line_key`` makes a line that appears in two
    files one line. Amounts are minor units: ``amount`` and ``fee`` (tax included) as
    reported, ``net`` what the line added to the batch, ``expected`` what Paydesk's own record
    says, ``difference`` the part of ``net`` Paydesk's records do not explain."""

    __tablename__ = "settlement_lines"
    __table_args__ = (
        Index("ix_settlement_lines_batch_state", "batch_id", "state", "id"),
        Index("ix_settlement_lines_state", "state", "id"),
        Index("ix_settlement_lines_ref", "ref_id"),
        Index("ix_settlement_lines_matched", "matched_id", "kind", "id"),
        # Where the settled period begins (core.recon.matching.coverage_start).
        Index("ix_settlement_lines_occurred", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    line_key: Mapped[str] = mapped_column(String(200), unique=True)
    batch_id: Mapped[str | None] = mapped_column(String(64))
    line_id: Mapped[str] = mapped_column(String(64))  # the report's own id for the line
    kind: Mapped[str] = mapped_column(String(16))  # payment / refund / adjustment
    raw_type: Mapped[str] = mapped_column(String(40))
    ref_id: Mapped[str | None] = mapped_column(String(64))  # the payment or refund it names
    payment_ref: Mapped[str | None] = mapped_column(String(64))  # a refund's payment
    order_id: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[int] = mapped_column(BigInteger, default=0)
    tax: Mapped[int] = mapped_column(BigInteger, default=0)
    net: Mapped[int] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime | None]
    source_line: Mapped[int | None] = mapped_column(Integer)  # line number in its file
    # Matching (core.recon.matching): one state per line.
    state: Mapped[str] = mapped_column(String(24))
    matched_type: Mapped[str | None] = mapped_column(String(16))  # payment / refund
    matched_id: Mapped[str | None] = mapped_column(String(64))
    expected: Mapped[int] = mapped_column(BigInteger, default=0)
    expected_currency: Mapped[str | None] = mapped_column(String(3))
    difference: Mapped[int] = mapped_column(BigInteger, default=0)
    # A person's resolution (linked / accepted / investigating), audited and reopenable.
    resolution: Mapped[str | None] = mapped_column(String(16))
    resolution_reason: Mapped[str | None] = mapped_column(String(16))
    resolution_note: Mapped[str | None] = mapped_column(Text)
    linked_id: Mapped[str | None] = mapped_column(String(64))
    resolved_by: Mapped[str | None] = mapped_column(String(100))
    resolved_at: Mapped[datetime | None]
    imported_at: Mapped[datetime]
