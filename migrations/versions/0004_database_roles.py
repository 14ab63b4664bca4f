"""shared mode: group roles, grants, and triggers that guard refunds and endpoints

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 05:00:00

Postgres only (nothing happens on SQLite). Creates the cluster-wide NOLOGIN groups
``paydesk_support``, ``paydesk_finance`` and ``paydesk_admin`` unless they exist, grants
them what ``core.store.pgroles.TABLE_RULES`` says, and adds two row triggers for the rules that
grants cannot express (docs/shared-mode.md):

- ``refunds_guard`` (BEFORE INSERT OR UPDATE ON refunds): four eyes for everyone (nobody
  approves or rejects a refund they requested); for any login that does not own the
  tables: a refund is requested in the login's own name and starts pending approval, or
  approved by ``paydesk-policy`` only below the policy's threshold for its currency; only
  finance and admin logins decide, in their own name (or as ``paydesk-auto`` for a stale
  pro-rata request) and retry failed refunds; only the requester cancels; what a refund
  is for never changes; other changes of state follow processing
  (approved → processing → processed/failed).
- ``merchants_guard`` (BEFORE UPDATE ON merchants): a login that is not admin (or owner)
  cannot re-point an endpoint, enable it, or disable one that is working (the
  dispatcher disables a failing one by itself, under any login).

The trigger functions pin their search_path to pg_catalog (then pg_temp, last) and read the
policy table through the trigger's own schema, so no one can shadow either.
"""

from __future__ import annotations

from alembic import op

from core.store import pgroles

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Whether the session's login owns the table the trigger fires on, or its schema, or is a
# superuser: owners can drop the triggers anyway. ``is_superuser`` (the session
# authorization's, which no one can set) answers bulk loads without a catalog query.
_OWNER = """
  owner := current_setting('is_superuser') = 'on';
  IF NOT owner THEN
    SELECT pg_has_role(session_user, c.relowner, 'MEMBER')
           OR pg_has_role(session_user, n.nspowner, 'MEMBER')
      INTO owner
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = TG_RELID;
  END IF;"""

_DENY = "USING ERRCODE = 'insufficient_privilege'"

REFUND_GUARD = f"""
CREATE OR REPLACE FUNCTION paydesk_refund_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  login text := session_user;
  owner boolean;
  deciding boolean;
  threshold bigint;
BEGIN
  -- Four eyes holds for everyone, the owner included.
  IF NEW.status IN ('approved', 'rejected') AND NEW.decided_by = NEW.requested_by
     AND (TG_OP = 'INSERT' OR OLD.status = 'pending_approval') THEN
    RAISE EXCEPTION 'Four eyes: % requested refund % and cannot approve or reject it.',
      NEW.requested_by, NEW.id {_DENY};
  END IF;
  {_OWNER}
  IF owner THEN
    RETURN NEW;
  END IF;
  deciding := pg_has_role(login, 'paydesk_finance', 'MEMBER')
              OR pg_has_role(login, 'paydesk_admin', 'MEMBER');

  IF TG_OP = 'INSERT' THEN
    IF NEW.requested_by IS DISTINCT FROM login THEN
      RAISE EXCEPTION 'The login % requests refunds in its own name, not as %.',
        login, NEW.requested_by {_DENY};
    END IF;
    IF NEW.status = 'pending_approval' AND NEW.decided_by IS NULL AND NEW.decided_at IS NULL THEN
      RETURN NEW;
    END IF;
    IF NEW.status = 'approved' AND NEW.decided_by = 'paydesk-policy' THEN
      EXECUTE format(
        'SELECT (value::jsonb ->> %L)::bigint FROM %I.policy WHERE key = %L',
        NEW.currency, TG_TABLE_SCHEMA, 'refund_approval_threshold'
      ) INTO threshold;
      IF threshold IS NOT NULL AND NEW.amount < threshold THEN
        RETURN NEW;
      END IF;
      RAISE EXCEPTION 'Refund % is not below the % approval threshold; it must wait for approval.',
        NEW.id, NEW.currency {_DENY};
    END IF;
    RAISE EXCEPTION 'A new refund starts pending approval (or approved by policy below the threshold), not %.',
      NEW.status {_DENY};
  END IF;

  IF (NEW.id, NEW.payment_id, NEW.merchant_id, NEW.amount, NEW.currency, NEW.kind,
      NEW.requested_by, NEW.subscription_id, NEW.idempotency_key, NEW.created_at)
     IS DISTINCT FROM
     (OLD.id, OLD.payment_id, OLD.merchant_id, OLD.amount, OLD.currency, OLD.kind,
      OLD.requested_by, OLD.subscription_id, OLD.idempotency_key, OLD.created_at) THEN
    RAISE EXCEPTION 'What refund % is for cannot change after it was requested.', OLD.id {_DENY};
  END IF;
  IF OLD.status = 'pending_approval' AND NEW.status <> OLD.status THEN
    IF NEW.status IN ('approved', 'rejected') THEN
      IF NOT deciding THEN
        RAISE EXCEPTION 'Only finance or admin logins can approve or reject refunds; % is neither.',
          login {_DENY};
      END IF;
      IF NEW.status = 'approved' AND NEW.decided_by = 'paydesk-auto' AND NEW.kind = 'pro_rata' THEN
        RETURN NEW;
      END IF;
      IF NEW.decided_by IS DISTINCT FROM login THEN
        RAISE EXCEPTION 'The login % decides refunds in its own name, not as %.',
          login, NEW.decided_by {_DENY};
      END IF;
      RETURN NEW;
    END IF;
    IF NEW.status = 'cancelled' AND OLD.requested_by = login AND NEW.decided_by = login THEN
      RETURN NEW;
    END IF;
    IF NEW.status = 'cancelled' THEN
      RAISE EXCEPTION 'Only %, who requested refund %, can cancel it.',
        OLD.requested_by, OLD.id {_DENY};
    END IF;
  END IF;
  IF (NEW.decided_by, NEW.decided_at, NEW.decision_note)
     IS DISTINCT FROM (OLD.decided_by, OLD.decided_at, OLD.decision_note) THEN
    RAISE EXCEPTION 'The decision on refund % cannot be changed.', OLD.id {_DENY};
  END IF;
  IF NEW.status = OLD.status
     OR (OLD.status = 'approved' AND NEW.status = 'processing')
     OR (OLD.status = 'processing' AND NEW.status IN ('processed', 'failed')) THEN
    RETURN NEW;
  END IF;
  IF OLD.status = 'failed' AND NEW.status = 'approved' THEN
    IF deciding THEN
      RETURN NEW;
    END IF;
    RAISE EXCEPTION 'Only finance or admin logins can retry a failed refund; % is neither.',
      login {_DENY};
  END IF;
  RAISE EXCEPTION 'Refund % cannot go from % to %.', OLD.id, OLD.status, NEW.status {_DENY};
END
$$"""

MERCHANT_GUARD = f"""
CREATE OR REPLACE FUNCTION paydesk_merchant_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  owner boolean;
BEGIN
  {_OWNER}
  IF owner OR pg_has_role(session_user, 'paydesk_admin', 'MEMBER') THEN
    RETURN NEW;
  END IF;
  IF (NEW.id, NEW.name, NEW.email, NEW.webhook_url, NEW.webhook_secret,
      NEW.webhook_secret_previous, NEW.webhook_secret_rotated_at)
     IS DISTINCT FROM
     (OLD.id, OLD.name, OLD.email, OLD.webhook_url, OLD.webhook_secret,
      OLD.webhook_secret_previous, OLD.webhook_secret_rotated_at) THEN
    RAISE EXCEPTION 'Only admin logins can change the webhook endpoint of %.', OLD.id {_DENY};
  END IF;
  IF NEW.webhook_enabled IS TRUE AND OLD.webhook_enabled IS NOT TRUE THEN
    RAISE EXCEPTION 'Only admin logins can enable the webhook endpoint of %.', OLD.id {_DENY};
  END IF;
  -- Deliveries disable a failing endpoint by themselves (410 Gone, or failing for days).
  IF OLD.webhook_enabled IS TRUE AND NEW.webhook_enabled IS NOT TRUE
     AND NEW.webhook_failing_since IS NULL THEN
    RAISE EXCEPTION 'Only admin logins can disable the working webhook endpoint of %.',
      OLD.id {_DENY};
  END IF;
  RETURN NEW;
END
$$"""


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    pgroles.apply_grants(conn)
    op.execute(REFUND_GUARD)
    op.execute(MERCHANT_GUARD)
    op.execute(
        "CREATE TRIGGER refunds_guard BEFORE INSERT OR UPDATE ON refunds "
        "FOR EACH ROW EXECUTE FUNCTION paydesk_refund_guard()"
    )
    op.execute(
        "CREATE TRIGGER merchants_guard BEFORE UPDATE ON merchants "
        "FOR EACH ROW EXECUTE FUNCTION paydesk_merchant_guard()"
    )


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS merchants_guard ON merchants")
    op.execute("DROP TRIGGER IF EXISTS refunds_guard ON refunds")
    op.execute("DROP FUNCTION IF EXISTS paydesk_merchant_guard()")
    op.execute("DROP FUNCTION IF EXISTS paydesk_refund_guard()")
    # The groups stay: they are cluster-wide and other databases may use them.
    pgroles.revoke_grants(conn)
