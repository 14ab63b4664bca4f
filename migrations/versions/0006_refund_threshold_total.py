"""refunds: the approval threshold applies to the payment's total, not to each request

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 09:00:00

Postgres only (nothing happens on SQLite). ``paydesk_refund_guard`` (migration 0004) let a
login insert a refund approved by ``paydesk-policy`` whenever that refund alone was below the
policy's threshold for its currency, so five requests of 9.99 under a 10.00 threshold were all
approved. It now allows it only when the payment's live refunds (pending approval, approved,
processing, processed) plus the new one stay below the threshold, as ``core.refunds.service`` does; a
stored threshold it cannot read as a whole number counts as no threshold (every refund waits
for approval). The function is 0004's with only that check changed.

The total is read by ``paydesk_refund_live_total`` (SECURITY DEFINER, bound to this schema):
it locks the payment row first, so two logins inserting refunds of one payment at once are
counted one after the other. Logins cannot lock rows of a table they may not update, hence
the definer; only the Paydesk groups may call it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

from core.store import pgroles

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# States whose amount counts against the payment (core.refunds.service.COUNTED).
LIVE = "('pending_approval', 'approved', 'processing', 'processed')"

# 0004's threshold check, and what replaces it.
_OLD_DECLARE = "  threshold bigint;\n"
_NEW_DECLARE = "  threshold bigint;\n  earlier bigint;\n"
_OLD_CHECK = """      EXECUTE format(
        'SELECT (value::jsonb ->> %L)::bigint FROM %I.policy WHERE key = %L',
        NEW.currency, TG_TABLE_SCHEMA, 'refund_approval_threshold'
      ) INTO threshold;
      IF threshold IS NOT NULL AND NEW.amount < threshold THEN
        RETURN NEW;
      END IF;
"""
_NEW_CHECK = """      BEGIN
        EXECUTE format(
          'SELECT (value::jsonb ->> %L)::bigint FROM %I.policy WHERE key = %L',
          NEW.currency, TG_TABLE_SCHEMA, 'refund_approval_threshold'
        ) INTO threshold;
      EXCEPTION WHEN others THEN
        threshold := NULL;  -- not a whole number: no threshold, as Paydesk reads it
      END;
      IF threshold IS NOT NULL THEN
        -- The payment's live refunds besides this one (the payment row locked first).
        EXECUTE format('SELECT %I.paydesk_refund_live_total(%L, %L)',
                       TG_TABLE_SCHEMA, NEW.payment_id, NEW.id) INTO earlier;
        IF earlier + NEW.amount < threshold THEN
          RETURN NEW;
        END IF;
      END IF;
"""


def _live_total(schema: str) -> str:
    s = schema.replace('"', '""')
    return f"""
CREATE OR REPLACE FUNCTION "{s}".paydesk_refund_live_total(payment text, refund text)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  total bigint;
BEGIN
  PERFORM 1 FROM "{s}".payments WHERE id = payment FOR UPDATE;
  SELECT coalesce(sum(amount), 0) INTO total FROM "{s}".refunds
   WHERE payment_id = payment AND id <> refund AND status IN {LIVE};
  RETURN total;
END
$$"""


def _roles_migration() -> ModuleType:
    """Migration 0004's module (its file name is not an importable name)."""
    path = Path(__file__).with_name("0004_database_roles.py")
    spec = importlib.util.spec_from_file_location("paydesk_migration_0004", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def refund_guard() -> str:
    """0004's ``paydesk_refund_guard`` with the total-based threshold check."""
    body: str = _roles_migration().REFUND_GUARD
    assert body.count(_OLD_CHECK) == 1 and body.count(_OLD_DECLARE) == 1
    return body.replace(_OLD_DECLARE, _NEW_DECLARE).replace(_OLD_CHECK, _NEW_CHECK)


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    schema = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
    op.execute(_live_total(schema))
    quoted = '"' + schema.replace('"', '""') + '"'
    function = f"{quoted}.paydesk_refund_live_total(text, text)"
    op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO {pgroles.ALL_GROUPS}")
    op.execute(refund_guard())


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    op.execute(_roles_migration().REFUND_GUARD)
    op.execute("DROP FUNCTION IF EXISTS paydesk_refund_live_total(text, text)")
