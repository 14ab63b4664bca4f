"""gateway refund outcomes: a refund POST whose answer was lost, and what Paydesk found

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 10:00:00

A refund of a gateway payment is sent once. When the answer to the POST is lost, whether the
gateway made the refund is unknown; Paydesk never sends it again by itself but looks for it.
``refunds`` gains:

- ``gateway_outcome``: null (nothing unknown), ``unknown`` (sent, answer lost: being looked
  for), ``needs_check`` (not found within the policy's ``gateway_refund_check_minutes``: a
  finance person links it or sends it again) or ``resend`` (a person asked for it to be sent
  again; the processing task sends it).
- ``gateway_evidence``: what was sent when, what came back, and where Paydesk looked.
- ``gateway_checked_at``: when Paydesk last looked for it.

Columns are only added (SQLite keeps the refunds table and its triggers as they are).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.store.models

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

COLUMNS = ("gateway_checked_at", "gateway_evidence", "gateway_outcome")


def upgrade() -> None:
    op.add_column("refunds", sa.Column("gateway_outcome", sa.String(length=16), nullable=True))
    op.add_column("refunds", sa.Column("gateway_evidence", sa.Text(), nullable=True))
    op.add_column(
        "refunds",
        sa.Column(
            "gateway_checked_at", core.store.models.UTCDateTime(timezone=True), nullable=True
        ),
    )
    op.create_index("ix_refunds_gateway_outcome", "refunds", ["gateway_outcome"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_refunds_gateway_outcome", table_name="refunds")
    # ALTER TABLE … DROP COLUMN on both databases: a batch rebuild on SQLite would drop the
    # refunds table's triggers (migration 0005).
    for name in COLUMNS:
        op.execute(f"ALTER TABLE refunds DROP COLUMN {name}")
