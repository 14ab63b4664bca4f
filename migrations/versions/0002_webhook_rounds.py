"""webhook delivery rounds and indexes for the Webhooks view

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 03:40:00

A manual retry starts a new round of the retry schedule while the attempt history (and the
running attempt count) is kept: ``round_start`` is the attempt count when the round began.
``next_trigger`` / ``next_actor`` say who asked for the next attempt (manual retry, test event).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_logs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("round_start", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("next_trigger", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("next_actor", sa.String(length=100), nullable=True))
        batch_op.create_index(
            "ix_webhook_logs_status_created", ["status", "created_at", "id"], unique=False
        )
    with op.batch_alter_table("webhook_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_webhook_attempts_started", ["started_at"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        # Room on each page so that taking a lease (unindexed columns) is a HOT update that
        # touches no index; the dispatcher does it for every delivery.
        op.execute("ALTER TABLE webhook_logs SET (fillfactor = 80)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE webhook_logs RESET (fillfactor)")
    with op.batch_alter_table("webhook_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_attempts_started")
    with op.batch_alter_table("webhook_logs", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_logs_status_created")
        batch_op.drop_column("next_actor")
        batch_op.drop_column("next_trigger")
        batch_op.drop_column("round_start")
