"""payments: an index on (currency, amount, id) for the list sorted by amount

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 10:00:00

Sorted by amount, the Payments list groups each currency's payments together (amounts in
different currencies do not compare) and pages on (currency, amount, id). This index serves
that order and its keyset condition, with or without a currency filter, instead of a sort of
every matching row.
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_payments_currency_amount", "payments", ["currency", "amount", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_payments_currency_amount", table_name="payments")
