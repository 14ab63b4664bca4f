"""settlement reconciliation: batches and lines of the processors' settlement reports

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 23:40:00

``settlement_batches`` holds one row per settlement (payout) a report names;
``settlement_lines`` one row per line of a report (``line_key`` unique, so a line that
appears in two files is one line) and one per payment or refund no settlement covered
(``missing_from_settlement``, no batch). core.recon keeps them; finance and admin write them,
support reads them (core.store.pgroles.TABLE_RULES).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.store.models
from core.store import pgroles

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _time(name: str, nullable: bool) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, core.store.models.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "settlement_batches",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("utr", sa.String(length=64), nullable=True),
        _time("settled_at", True),
        _time("imported_at", False),
        sa.Column("imported_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_batches")),
    )
    op.create_index(
        "ix_settlement_batches_settled", "settlement_batches", ["settled_at", "id"], unique=False
    )
    op.create_table(
        "settlement_lines",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("line_key", sa.String(length=200), nullable=False),
        sa.Column("batch_id", sa.String(length=64), nullable=True),
        sa.Column("line_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("raw_type", sa.String(length=40), nullable=False),
        sa.Column("ref_id", sa.String(length=64), nullable=True),
        sa.Column("payment_ref", sa.String(length=64), nullable=True),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("tax", sa.BigInteger(), nullable=False),
        sa.Column("net", sa.BigInteger(), nullable=False),
        _time("occurred_at", True),
        sa.Column("source_line", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("matched_type", sa.String(length=16), nullable=True),
        sa.Column("matched_id", sa.String(length=64), nullable=True),
        sa.Column("expected", sa.BigInteger(), nullable=False),
        sa.Column("expected_currency", sa.String(length=3), nullable=True),
        sa.Column("difference", sa.BigInteger(), nullable=False),
        sa.Column("resolution", sa.String(length=16), nullable=True),
        sa.Column("resolution_reason", sa.String(length=16), nullable=True),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        sa.Column("linked_id", sa.String(length=64), nullable=True),
        sa.Column("resolved_by", sa.String(length=100), nullable=True),
        _time("resolved_at", True),
        _time("imported_at", False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_lines")),
        sa.UniqueConstraint("line_key", name=op.f("uq_settlement_lines_line_key")),
    )
    for name, columns in (
        ("ix_settlement_lines_batch_state", ["batch_id", "state", "id"]),
        ("ix_settlement_lines_state", ["state", "id"]),
        ("ix_settlement_lines_ref", ["ref_id"]),
        ("ix_settlement_lines_matched", ["matched_id", "kind", "id"]),
        ("ix_settlement_lines_occurred", ["occurred_at"]),
    ):
        op.create_index(name, "settlement_lines", columns, unique=False)
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        pgroles.apply_grants(conn)


def downgrade() -> None:
    op.drop_table("settlement_lines")
    op.drop_table("settlement_batches")
