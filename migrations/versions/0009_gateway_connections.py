"""gateway connections: a merchant's gateway account, and which connection a row came from

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 23:30:00

``gateway_connections`` holds one row per connection (core.gateway.connections): its name, API
base URL, API key (the secret is in the OS keyring, never here), what the gateway offers, and
the last sync's time, outcome, error, skipped rows and counts. A removed connection keeps its
row (``removed``) so the rows it brought stay attributed.

``payments``, ``refunds`` and ``webhook_logs`` gain ``gateway`` (the connection's name; null for
Paydesk's own rows). Refunds also keep the gateway's refund id and when Paydesk sent the refund;
webhook logs the gateway's log id (a UUID, longer than Paydesk's ids), unique per connection.
Admins change connections; every copy records its syncs (core.store.pgroles.TABLE_RULES).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.store.models
from core.store import pgroles

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _time(name: str, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, core.store.models.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "gateway_connections",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("api_key", sa.String(length=200), nullable=False),
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("capabilities", sa.Text(), nullable=False),
        _time("added_at", False),
        sa.Column("added_by", sa.String(length=100), nullable=False),
        sa.Column("removed", sa.Boolean(), nullable=False, server_default=sa.false()),
        _time("removed_at"),
        sa.Column("removed_by", sa.String(length=100), nullable=True),
        _time("last_sync_at"),
        sa.Column("last_sync_outcome", sa.String(length=16), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_skipped", sa.Text(), nullable=True),
        sa.Column("last_added", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_updated", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("payments_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("refunds_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("logs_count", sa.Integer(), nullable=False, server_default="0"),
        _time("full_sync_at"),
        sa.Column("queue_status", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        _time("lease_expires_at"),
        _time("updated_at", False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_gateway_connections_merchant_id_merchants"),
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_gateway_connections")),
    )
    op.add_column("payments", sa.Column("gateway", sa.String(length=64), nullable=True))
    op.create_index("ix_payments_gateway", "payments", ["gateway"], unique=False)
    op.add_column("refunds", sa.Column("gateway", sa.String(length=64), nullable=True))
    op.add_column("refunds", sa.Column("gateway_refund_id", sa.String(length=64), nullable=True))
    op.add_column("refunds", _time("gateway_sent_at"))
    op.create_index(
        "ix_refunds_gateway_refund", "refunds", ["gateway", "gateway_refund_id"], unique=True
    )
    op.add_column("webhook_logs", sa.Column("gateway", sa.String(length=64), nullable=True))
    op.add_column("webhook_logs", sa.Column("gateway_log_id", sa.String(length=64), nullable=True))
    op.create_index(
        "ix_webhook_logs_gateway_log", "webhook_logs", ["gateway", "gateway_log_id"], unique=True
    )
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        pgroles.apply_grants(conn)


def downgrade() -> None:
    op.drop_index("ix_webhook_logs_gateway_log", table_name="webhook_logs")
    op.drop_index("ix_refunds_gateway_refund", table_name="refunds")
    op.drop_index("ix_payments_gateway", table_name="payments")
    with op.batch_alter_table("webhook_logs") as batch:
        batch.drop_column("gateway_log_id")
        batch.drop_column("gateway")
    with op.batch_alter_table("refunds") as batch:
        batch.drop_column("gateway_sent_at")
        batch.drop_column("gateway_refund_id")
        batch.drop_column("gateway")
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("gateway")
    op.drop_table("gateway_connections")
