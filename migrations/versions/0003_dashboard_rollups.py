"""dashboard rollups (kept by triggers) and durable scheduler task runs

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 04:00:00

``payment_rollup`` and ``refund_rollup`` hold counts and amounts per 15-minute UTC bucket
(``bucket`` = epoch seconds of the bucket start), currency and status/measure. Triggers
keep them in the same transaction as every change to ``payments`` / ``refunds``, whoever
writes: the services, the demo's bulk load, another copy, a SQL client.

- SQLite (writers are serialised): row triggers keep one row per key (update, else insert).
- Postgres: statement triggers with transition tables append one aggregated delta row per
  key and statement, never updating a shared row, so concurrent writers neither wait on
  nor deadlock over the rollup; ``core.overview.rollups.compact`` folds the deltas later.

Readers always ``SUM`` per key, so both layouts read the same. ``task_runs`` records each
scheduler task's last run per running copy for ``paydesk health``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.store.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BUCKET_SECONDS = 900
RETRYING = (
    "status = 'pending' AND attempts > 0 "
    "AND (response_code IS NULL OR response_code < 200 OR response_code >= 300)"
)


def _sqlite_bucket(col: str) -> str:
    # Whole seconds of the stored "YYYY-MM-DD HH:MM:SS.ffffff": SQLite's date functions
    # round to milliseconds, which would move 23:59:59.9999 into the next day.
    return (
        f"(CAST(strftime('%s', substr({col}, 1, 19)) AS INTEGER) "
        f"/ {BUCKET_SECONDS} * {BUCKET_SECONDS})"
    )


def _pg_bucket(col: str) -> str:
    return f"(floor(extract(epoch FROM {col}))::bigint / {BUCKET_SECONDS} * {BUCKET_SECONDS})"


def _sqlite_add(table: str, key: str, bucket: str, currency: str, value: str, sign: str,
                amount: str, where: str = "1") -> str:  # fmt: skip
    """Add ``sign`` 1 row of ``amount`` to one key: update it, or insert it when missing."""
    return (
        f"UPDATE {table} SET count = count {sign} 1, amount = amount {sign} {amount} "
        f"WHERE bucket = {bucket} AND currency = {currency} AND {key} = {value} AND {where};\n"
        f"INSERT INTO {table} (bucket, currency, {key}, count, amount) "
        f"SELECT {bucket}, {currency}, {value}, {sign}1, {sign}{amount} "
        f"WHERE {where} AND changes() = 0;\n"
    )


def _sqlite_triggers() -> list[str]:
    b = _sqlite_bucket
    pay_changed = (
        "OLD.created_at IS NOT NEW.created_at OR OLD.currency IS NOT NEW.currency "
        "OR OLD.status IS NOT NEW.status OR OLD.amount IS NOT NEW.amount"
    )
    req_changed = (
        "OLD.created_at IS NOT NEW.created_at OR OLD.currency IS NOT NEW.currency "
        "OR OLD.amount IS NOT NEW.amount"
    )
    proc_changed = (
        "OLD.status IS NOT NEW.status OR OLD.processed_at IS NOT NEW.processed_at "
        "OR OLD.currency IS NOT NEW.currency OR OLD.amount IS NOT NEW.amount"
    )

    def pay(row: str, sign: str) -> str:
        return _sqlite_add(
            "payment_rollup", "status", b(f"{row}.created_at"), f"{row}.currency",
            f"{row}.status", sign, f"{row}.amount",
        )  # fmt: skip

    def requested(row: str, sign: str) -> str:
        return _sqlite_add(
            "refund_rollup", "measure", b(f"{row}.created_at"), f"{row}.currency",
            "'requested'", sign, f"{row}.amount",
        )  # fmt: skip

    def processed(row: str, sign: str) -> str:
        return _sqlite_add(
            "refund_rollup", "measure", b(f"{row}.processed_at"), f"{row}.currency",
            "'processed'", sign, f"{row}.amount",
            f"{row}.status = 'processed' AND {row}.processed_at IS NOT NULL",
        )  # fmt: skip

    return [
        f"CREATE TRIGGER payment_rollup_insert AFTER INSERT ON payments BEGIN\n"
        f"{pay('NEW', '+')}END",
        f"CREATE TRIGGER payment_rollup_update "
        f"AFTER UPDATE OF created_at, currency, status, amount ON payments "
        f"WHEN {pay_changed} BEGIN\n{pay('OLD', '-')}{pay('NEW', '+')}END",
        f"CREATE TRIGGER payment_rollup_delete AFTER DELETE ON payments BEGIN\n"
        f"{pay('OLD', '-')}END",
        f"CREATE TRIGGER refund_rollup_insert AFTER INSERT ON refunds BEGIN\n"
        f"{requested('NEW', '+')}{processed('NEW', '+')}END",
        f"CREATE TRIGGER refund_rollup_update_requested "
        f"AFTER UPDATE OF created_at, currency, amount ON refunds "
        f"WHEN {req_changed} BEGIN\n{requested('OLD', '-')}{requested('NEW', '+')}END",
        f"CREATE TRIGGER refund_rollup_update_processed "
        f"AFTER UPDATE OF status, processed_at, currency, amount ON refunds "
        f"WHEN {proc_changed} BEGIN\n{processed('OLD', '-')}{processed('NEW', '+')}END",
        f"CREATE TRIGGER refund_rollup_delete AFTER DELETE ON refunds BEGIN\n"
        f"{requested('OLD', '-')}{processed('OLD', '-')}END",
    ]


SQLITE_TRIGGER_NAMES = (
    "payment_rollup_insert",
    "payment_rollup_update",
    "payment_rollup_delete",
    "refund_rollup_insert",
    "refund_rollup_update_requested",
    "refund_rollup_update_processed",
    "refund_rollup_delete",
)


def _pg_payment_rows(table: str, sign: str) -> str:
    return (
        f"SELECT {_pg_bucket('created_at')} AS bucket, currency, status AS k, "
        f"{sign}1 AS c, {sign}amount AS a FROM {table}"
    )


def _pg_refund_rows(table: str, sign: str) -> str:
    return (
        f"SELECT {_pg_bucket('created_at')} AS bucket, currency, 'requested' AS k, "
        f"{sign}1 AS c, {sign}amount AS a FROM {table} "
        f"UNION ALL SELECT {_pg_bucket('processed_at')}, currency, 'processed', {sign}1, "
        f"{sign}amount FROM {table} WHERE status = 'processed' AND processed_at IS NOT NULL"
    )


def _pg_function(name: str, table: str, key: str, rows) -> str:  # type: ignore[no-untyped-def]
    def delta(parts: str) -> str:
        # One row per key and statement; keys whose changes cancel out (an UPDATE of
        # another column) write nothing.
        return (
            f"INSERT INTO {table} (bucket, currency, {key}, count, amount) "
            f"SELECT bucket, currency, k, sum(c), sum(a) FROM ({parts}) d "
            f"GROUP BY bucket, currency, k HAVING sum(c) <> 0 OR sum(a) <> 0;"
        )

    return f"""
CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    {delta(rows("new_rows", ""))}
  ELSIF TG_OP = 'UPDATE' THEN
    {delta(rows("new_rows", "") + " UNION ALL " + rows("old_rows", "-"))}
  ELSE
    {delta(rows("old_rows", "-"))}
  END IF;
  RETURN NULL;
END
$$"""


def _pg_statements() -> list[str]:
    out = [
        _pg_function("paydesk_payment_rollup", "payment_rollup", "status", _pg_payment_rows),
        _pg_function("paydesk_refund_rollup", "refund_rollup", "measure", _pg_refund_rows),
    ]
    for table, fn, prefix in (
        ("payments", "paydesk_payment_rollup", "payment_rollup"),
        ("refunds", "paydesk_refund_rollup", "refund_rollup"),
    ):
        out += [
            f"CREATE TRIGGER {prefix}_insert AFTER INSERT ON {table} "
            f"REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {fn}()",
            f"CREATE TRIGGER {prefix}_update AFTER UPDATE ON {table} "
            f"REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {fn}()",
            f"CREATE TRIGGER {prefix}_delete AFTER DELETE ON {table} "
            f"REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {fn}()",
        ]
    return out


def _rebuild_sql(dialect: str) -> list[str]:
    b = _pg_bucket if dialect == "postgresql" else _sqlite_bucket
    return [
        "INSERT INTO payment_rollup (bucket, currency, status, count, amount) "
        f"SELECT {b('created_at')}, currency, status, count(*), sum(amount) FROM payments "
        "GROUP BY 1, 2, 3",
        "INSERT INTO refund_rollup (bucket, currency, measure, count, amount) "
        f"SELECT {b('created_at')}, currency, 'requested', count(*), sum(amount) FROM refunds "
        "GROUP BY 1, 2",
        "INSERT INTO refund_rollup (bucket, currency, measure, count, amount) "
        f"SELECT {b('processed_at')}, currency, 'processed', count(*), sum(amount) FROM refunds "
        "WHERE status = 'processed' AND processed_at IS NOT NULL GROUP BY 1, 2",
    ]


def upgrade() -> None:
    for table, key in (("payment_rollup", "status"), ("refund_rollup", "measure")):
        op.create_table(
            table,
            sa.Column(
                "id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                autoincrement=True,
                nullable=False,
            ),
            sa.Column("bucket", sa.BigInteger(), nullable=False),
            sa.Column("currency", sa.String(length=3), nullable=False),
            sa.Column(key, sa.String(length=20), nullable=False),
            sa.Column("count", sa.BigInteger(), nullable=False),
            sa.Column("amount", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        )
        # Covering: the dashboard reads ranges of buckets without touching the table.
        op.create_index(f"ix_{table}_bucket", table, ["bucket", "currency", key, "count", "amount"])
    # The dashboard counts deliveries being retried from this small index alone (the
    # same text as core.store.models.WEBHOOK_RETRYING: SQLite only uses a partial index for a
    # query that repeats its condition; on status, so SQLite prefers it to the others).
    op.create_index(
        "ix_webhook_logs_retrying",
        "webhook_logs",
        ["status"],
        sqlite_where=sa.text(RETRYING),
        postgresql_where=sa.text(RETRYING),
    )
    # The hourly attempts chart reads the last 48 hours from the index alone.
    op.create_index(
        "ix_webhook_attempts_started_code", "webhook_attempts", ["started_at", "response_code"]
    )
    op.create_table(
        "task_runs",
        sa.Column("task", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("interval_seconds", sa.Float(), nullable=True),
        sa.Column("last_run_at", core.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("next_run_at", core.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("task", "client_id", name=op.f("pk_task_runs")),
    )
    dialect = op.get_bind().dialect.name
    statements = _pg_statements() if dialect == "postgresql" else _sqlite_triggers()
    # Rows that exist already are counted once, before the triggers start counting.
    for sql in [*_rebuild_sql(dialect), *statements]:
        op.execute(sql)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for table, prefix in (("payments", "payment_rollup"), ("refunds", "refund_rollup")):
            for op_name in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {prefix}_{op_name} ON {table}")
        op.execute("DROP FUNCTION IF EXISTS paydesk_payment_rollup()")
        op.execute("DROP FUNCTION IF EXISTS paydesk_refund_rollup()")
    else:
        for name in SQLITE_TRIGGER_NAMES:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("task_runs")
    op.drop_index("ix_webhook_attempts_started_code", table_name="webhook_attempts")
    op.drop_index("ix_webhook_logs_retrying", table_name="webhook_logs")
    for table in ("refund_rollup", "payment_rollup"):
        op.drop_index(f"ix_{table}_bucket", table_name=table)
        op.drop_table(table)
