"""hardening: refund integrity in the database, hidden signing secrets, sealed webhook logs

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 09:00:00

Refund integrity (both databases; docs/shared-mode.md):

- CHECK constraints: payment and refund amounts are positive, and ``payments.refunded_amount``
  lies between 0 and the payment's amount.
- A refund is in its payment's currency; the live refunds of a payment (every state but
  rejected, cancelled and failed) never add up to more than its amount; a refund's state only
  moves along DESIGN.md's machine (pending_approval → approved / rejected / cancelled,
  approved → processing → processed / failed, failed → approved), for every login, the owner
  included.
- ``payments.refunded_amount`` is derived from the refunds by the database: a trigger keeps it
  equal to the sum of the live refunds, and nothing else may change it.
- Rows written before this revision are checked first: a payment or refund amount that is not
  positive, a refund in another currency than its payment, or live refunds above their
  payment's amount stop the upgrade with one sentence naming the rows, before anything is
  changed. Otherwise every ``refunded_amount`` is set to its live refunds' sum.

Postgres keeps the totals with statement-level triggers (one lock of each touched payment,
in id order, per statement, so two requests on one payment at once are serialised); SQLite
with row triggers that ``RAISE(ABORT, …)``. SQLite's table CHECKs need the two tables rebuilt
(Alembic's batch mode), which drops their triggers: the dashboard rollup triggers of 0003 are
made again afterwards.

Signing secrets and webhook logs (Postgres only; SQLite is the OS user's own file):

- No Paydesk group may SELECT ``merchants.webhook_secret`` or ``webhook_secret_previous``
  (column privileges, ``core.store.pgroles.TABLE_RULES``). Four SECURITY DEFINER functions, owned
  by the migrating login and bound to this schema, stand in for them (core.webhooks.secrets):
  ``paydesk_webhook_secret_masks()`` (masked, every group), ``paydesk_reveal_webhook_secret``
  (admins; it writes the ``endpoint.reveal_secret`` audit event itself),
  ``paydesk_set_webhook_secret`` (admins: first secret, rotation) and
  ``paydesk_delivery_secrets`` (the dispatcher: secrets for pending, leased logs only).
- No group may INSERT into ``webhook_logs`` or UPDATE what a log is about and carries (id,
  merchant, event, payload, entity, created_at); every group keeps its delivery bookkeeping.
  Deliveries are created by ``paydesk_enqueue_webhook``, which refuses a payload Paydesk
  would not send: a ``test.ping`` says exactly what Paydesk's says, a ``refund.processed``
  matches its refund (processed, same merchant, amount, currency…) and exists once; other
  events only from the owner, who can write the table directly anyway.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

from core.errors import Refused
from core.store import pgroles

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# States whose amount counts against the payment (core.refunds.service.COUNTED).
LIVE = "('pending_approval', 'approved', 'processing', 'processed')"
LIVE_QUOTED = LIVE.replace("'", "''")  # inside a PL/pgSQL string
# The state machine of DESIGN.md §3: (from, to) pairs; staying in a state is always allowed.
TRANSITIONS = (
    ("pending_approval", "approved"),
    ("pending_approval", "rejected"),
    ("pending_approval", "cancelled"),
    ("approved", "processing"),
    ("processing", "processed"),
    ("processing", "failed"),
    ("failed", "approved"),
)
_PAIRS = ", ".join(f"('{a}', '{b}')" for a, b in TRANSITIONS)

CHECKS = {
    "payments": (
        ("amount_positive", "amount > 0"),
        ("refunded_amount_range", "refunded_amount >= 0 AND refunded_amount <= amount"),
    ),
    "refunds": (("amount_positive", "amount > 0"),),
}

_DENY = "USING ERRCODE = 'check_violation'"

# -- Postgres ----------------------------------------------------------------------------------

PG_REFUND_STATE = f"""
CREATE OR REPLACE FUNCTION paydesk_refund_state() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF NEW.status IS DISTINCT FROM OLD.status
     AND (OLD.status, NEW.status) NOT IN ({_PAIRS}) THEN
    RAISE EXCEPTION 'Refund % cannot go from % to %.', OLD.id, OLD.status, NEW.status {_DENY};
  END IF;
  RETURN NEW;
END
$$"""

# Runs as the owner (SECURITY DEFINER): it writes payments.refunded_amount, which no login may.
PG_REFUND_TOTALS = f"""
CREATE OR REPLACE FUNCTION paydesk_refund_totals() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s text := quote_ident(TG_TABLE_SCHEMA);
  touched text;
  bad record;
BEGIN
  IF TG_OP = 'INSERT' THEN
    touched := 'SELECT payment_id, currency FROM new_rows';
  ELSIF TG_OP = 'UPDATE' THEN
    touched := 'SELECT payment_id, currency FROM new_rows UNION ALL '
               'SELECT payment_id, currency FROM old_rows';
  ELSE
    touched := 'SELECT payment_id, currency FROM old_rows';
  END IF;
  -- One lock per touched payment, in id order: concurrent refunds of a payment queue here and
  -- each then counts the others' committed rows.
  EXECUTE format('SELECT count(*) FROM (SELECT p.id FROM %s.payments p WHERE p.id IN '
                 '(SELECT payment_id FROM (%s) t) ORDER BY p.id FOR UPDATE OF p) l', s, touched);
  IF TG_OP <> 'DELETE' THEN
    -- New refunds, and refunds whose currency or payment changes.
    EXECUTE format('SELECT r.id, r.currency, p.currency AS payment_currency FROM new_rows r '
                   'JOIN %s.payments p ON p.id = r.payment_id '
                   'WHERE r.currency <> p.currency AND %s LIMIT 1', s,
                   CASE WHEN TG_OP = 'INSERT' THEN 'true' ELSE
                   'NOT EXISTS (SELECT 1 FROM old_rows o WHERE o.id = r.id '
                   'AND o.currency = r.currency AND o.payment_id = r.payment_id)' END) INTO bad;
    IF bad.id IS NOT NULL THEN
      RAISE EXCEPTION 'Refund % is in %, but its payment is in %; a refund is in its payment''s currency.',
        bad.id, bad.currency, bad.payment_currency {_DENY};
    END IF;
  END IF;
  EXECUTE format(
    'WITH t AS (SELECT p.id, p.amount, p.currency, p.refunded_amount, '
    '  coalesce((SELECT sum(r.amount) FROM %1$s.refunds r WHERE r.payment_id = p.id '
    '            AND r.status IN {LIVE_QUOTED}), 0) AS live '
    '  FROM %1$s.payments p WHERE p.id IN (SELECT payment_id FROM (%2$s) x)) '
    'SELECT id, amount, currency, live FROM t WHERE live > amount ORDER BY id LIMIT 1',
    s, touched) INTO bad;
  IF bad.id IS NOT NULL THEN
    RAISE EXCEPTION 'The live refunds of payment % would add up to % %, more than its % %.',
      bad.id, bad.live, bad.currency, bad.amount, bad.currency {_DENY};
  END IF;
  -- The payments triggers of 0003 (rollups) name their tables unqualified: let them find the
  -- schema's tables until this function returns (its SET clause restores the path).
  PERFORM set_config('search_path', format('%I, pg_catalog, pg_temp', TG_TABLE_SCHEMA), true);
  EXECUTE format(
    'UPDATE %1$s.payments p SET refunded_amount = t.live FROM ('
    '  SELECT q.id, coalesce((SELECT sum(r.amount) FROM %1$s.refunds r '
    '    WHERE r.payment_id = q.id AND r.status IN {LIVE_QUOTED}), 0) AS live '
    '  FROM %1$s.payments q WHERE q.id IN (SELECT payment_id FROM (%2$s) x)) t '
    'WHERE p.id = t.id AND p.refunded_amount IS DISTINCT FROM t.live',
    s, touched);
  RETURN NULL;
END
$$"""

# Nobody sets refunded_amount: it starts at 0 and only the refunds' trigger (one level down)
# changes it.
PG_PAYMENT_REFUNDED = """
CREATE OR REPLACE FUNCTION paydesk_payment_refunded() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF pg_trigger_depth() < 2 THEN
      NEW.refunded_amount := 0;
    END IF;
  ELSIF NEW.refunded_amount IS DISTINCT FROM OLD.refunded_amount AND pg_trigger_depth() < 2 THEN
    RAISE EXCEPTION 'The refunded amount of payment % is kept by Paydesk from its refunds; it cannot be set.',
      OLD.id USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$"""

PG_TRIGGERS = (
    "CREATE TRIGGER refunds_state BEFORE UPDATE OF status ON refunds "
    "FOR EACH ROW EXECUTE FUNCTION paydesk_refund_state()",
    "CREATE TRIGGER refunds_totals_insert AFTER INSERT ON refunds "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION paydesk_refund_totals()",
    "CREATE TRIGGER refunds_totals_update AFTER UPDATE ON refunds "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION paydesk_refund_totals()",
    "CREATE TRIGGER refunds_totals_delete AFTER DELETE ON refunds "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION paydesk_refund_totals()",
    "CREATE TRIGGER payments_refunded BEFORE INSERT OR UPDATE ON payments "
    "FOR EACH ROW EXECUTE FUNCTION paydesk_payment_refunded()",
)
PG_DROP = (
    "DROP TRIGGER IF EXISTS payments_refunded ON payments",
    "DROP TRIGGER IF EXISTS refunds_totals_delete ON refunds",
    "DROP TRIGGER IF EXISTS refunds_totals_update ON refunds",
    "DROP TRIGGER IF EXISTS refunds_totals_insert ON refunds",
    "DROP TRIGGER IF EXISTS refunds_state ON refunds",
    "DROP FUNCTION IF EXISTS paydesk_payment_refunded()",
    "DROP FUNCTION IF EXISTS paydesk_refund_totals()",
    "DROP FUNCTION IF EXISTS paydesk_refund_state()",
)

# -- SQLite ------------------------------------------------------------------------------------


def _live_sum(payment: str, *, besides: str | None = None) -> str:
    other = f" AND id <> {besides}" if besides else ""
    return (
        f"(SELECT coalesce(sum(amount), 0) FROM refunds WHERE payment_id = {payment} "
        f"AND status IN {LIVE}{other})"
    )


def _raise(message: str) -> str:
    return f"SELECT RAISE(ABORT, '{message}');"


def _sqlite_statements() -> list[str]:
    payment_amount = "(SELECT amount FROM payments WHERE id = NEW.payment_id)"
    currency = "(SELECT currency FROM payments WHERE id = NEW.payment_id)"
    total = f"UPDATE payments SET refunded_amount = {_live_sum('{p}')} WHERE id = {{p}};"
    return [
        "CREATE TRIGGER refunds_currency_insert BEFORE INSERT ON refunds "
        f"WHEN NEW.currency IS NOT {currency} BEGIN "
        f"{_raise('A refund is in the currency of its payment.')} END",
        "CREATE TRIGGER refunds_currency_update BEFORE UPDATE OF currency, payment_id ON refunds "
        f"WHEN NEW.currency IS NOT {currency} BEGIN "
        f"{_raise('A refund is in the currency of its payment.')} END",
        "CREATE TRIGGER refunds_limit_insert BEFORE INSERT ON refunds "
        f"WHEN NEW.status IN {LIVE} AND "
        f"{_live_sum('NEW.payment_id')} + NEW.amount > {payment_amount} BEGIN "
        f"{_raise('The live refunds of a payment cannot add up to more than its amount.')} END",
        "CREATE TRIGGER refunds_limit_update BEFORE UPDATE OF status, amount, payment_id "
        f"ON refunds WHEN NEW.status IN {LIVE} AND "
        f"{_live_sum('NEW.payment_id', besides='NEW.id')} + NEW.amount > {payment_amount} BEGIN "
        f"{_raise('The live refunds of a payment cannot add up to more than its amount.')} END",
        "CREATE TRIGGER refunds_state BEFORE UPDATE OF status ON refunds "
        f"WHEN NEW.status IS NOT OLD.status AND (OLD.status, NEW.status) NOT IN "
        f"(VALUES {_PAIRS}) BEGIN "
        f"{_raise('A refund only moves along its state machine.')} END",
        "CREATE TRIGGER refunds_total_insert AFTER INSERT ON refunds BEGIN "
        f"{total.format(p='NEW.payment_id')} END",
        "CREATE TRIGGER refunds_total_update AFTER UPDATE OF status, amount, payment_id "
        f"ON refunds BEGIN {total.format(p='NEW.payment_id')} "
        f"{total.format(p='OLD.payment_id')} END",
        "CREATE TRIGGER refunds_total_delete AFTER DELETE ON refunds BEGIN "
        f"{total.format(p='OLD.payment_id')} END",
        "CREATE TRIGGER payments_refunded BEFORE UPDATE OF refunded_amount ON payments "
        f"WHEN NEW.refunded_amount IS NOT {_live_sum('NEW.id')} BEGIN "
        f"{_raise('The refunded amount of a payment is kept by Paydesk from its refunds.')} END",
    ]


SQLITE_TRIGGER_NAMES = (
    "refunds_currency_insert",
    "refunds_currency_update",
    "refunds_limit_insert",
    "refunds_limit_update",
    "refunds_state",
    "refunds_total_insert",
    "refunds_total_update",
    "refunds_total_delete",
    "payments_refunded",
)


def _rollups():  # type: ignore[no-untyped-def]
    """Migration 0003's module (its file name is not an importable name)."""
    path = Path(__file__).with_name("0003_dashboard_rollups.py")
    spec = importlib.util.spec_from_file_location("paydesk_migration_0003", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sqlite_rebuild(add: bool) -> None:
    """Rebuild payments and refunds with (or without) the CHECKs, then make the triggers the
    rebuild dropped again."""
    for table, checks in CHECKS.items():
        with op.batch_alter_table(table, recreate="always") as batch:
            for name, condition in checks:
                full = op.f(f"ck_{table}_{name}")
                if add:
                    batch.create_check_constraint(full, sa.text(condition))
                else:
                    batch.drop_constraint(full, type_="check")
    for sql in _rollup_triggers():
        op.execute(sql)


def _rollup_triggers() -> list[str]:
    return list(_rollups()._sqlite_triggers())


# -- Postgres: secrets and deliveries -----------------------------------------------------------


def _admin_check(s: str) -> str:
    return f"""
  owner := current_setting('is_superuser') = 'on' OR EXISTS (
    SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = '{s}.merchants'::regclass
       AND (pg_has_role(session_user, c.relowner, 'MEMBER')
            OR pg_has_role(session_user, n.nspowner, 'MEMBER')));
  IF NOT owner AND NOT pg_has_role(session_user, 'paydesk_admin', 'MEMBER') THEN
    RAISE EXCEPTION 'Only admin logins can see or change a webhook secret; % is not one.',
      session_user USING ERRCODE = 'insufficient_privilege';
  END IF;"""


def pg_secret_functions(s: str) -> list[str]:
    """The functions, bound to the schema ``s`` (already quoted)."""
    definer = "SECURITY DEFINER SET search_path = pg_catalog, pg_temp"
    return [
        f"""
CREATE OR REPLACE FUNCTION paydesk_webhook_secret_masks()
RETURNS TABLE (merchant_id text, secret_mask text)
LANGUAGE sql STABLE {definer} AS $$
  SELECT id::text, CASE WHEN coalesce(webhook_secret, '') = '' THEN NULL
                        ELSE 'whsec_…' || right(webhook_secret, 4) END
    FROM {s}.merchants
$$""",
        f"""
CREATE OR REPLACE FUNCTION paydesk_reveal_webhook_secret(
  p_merchant text, p_actor text, p_client text, p_at timestamptz) RETURNS text
LANGUAGE plpgsql {definer} AS $$
DECLARE
  owner boolean;
  secret text;
BEGIN
  {_admin_check(s)}
  IF NOT owner AND p_actor IS DISTINCT FROM session_user THEN
    RAISE EXCEPTION 'The login % reveals secrets in its own name, not as %.', session_user,
      p_actor USING ERRCODE = 'insufficient_privilege';
  END IF;
  SELECT webhook_secret INTO secret FROM {s}.merchants WHERE id = p_merchant;
  IF coalesce(secret, '') = '' THEN
    RETURN NULL;
  END IF;
  INSERT INTO {s}.audit_events (at, actor, action, entity_type, entity_id, client)
  VALUES (coalesce(p_at, now()), coalesce(p_actor, session_user), 'endpoint.reveal_secret',
          'merchant', p_merchant, p_client);
  RETURN secret;
END
$$""",
        f"""
CREATE OR REPLACE FUNCTION paydesk_set_webhook_secret(
  p_merchant text, p_secret text, p_rotate boolean, p_at timestamptz) RETURNS boolean
LANGUAGE plpgsql {definer} AS $$
DECLARE
  owner boolean;
  current text;
BEGIN
  {_admin_check(s)}
  IF p_secret IS NULL OR p_secret NOT LIKE 'whsec_%' THEN
    RAISE EXCEPTION 'A webhook secret is a whsec_ secret.' USING ERRCODE = 'check_violation';
  END IF;
  SELECT webhook_secret INTO current FROM {s}.merchants WHERE id = p_merchant FOR UPDATE;
  IF coalesce(current, '') = '' THEN
    UPDATE {s}.merchants SET webhook_secret = p_secret WHERE id = p_merchant;
    RETURN false;
  END IF;
  IF p_rotate THEN
    UPDATE {s}.merchants SET webhook_secret_previous = current, webhook_secret = p_secret,
           webhook_secret_rotated_at = p_at WHERE id = p_merchant;
    RETURN true;
  END IF;
  RETURN false;
END
$$""",
        f"""
CREATE OR REPLACE FUNCTION paydesk_delivery_secrets(p_ids text[])
RETURNS TABLE (log_id text, secret text, previous text, rotated_at timestamptz)
LANGUAGE sql STABLE {definer} AS $$
  SELECT l.id::text, m.webhook_secret::text, m.webhook_secret_previous::text,
         m.webhook_secret_rotated_at
    FROM {s}.webhook_logs l JOIN {s}.merchants m ON m.id = l.merchant_id
   WHERE l.id = ANY (p_ids) AND l.status = 'pending' AND l.lease_owner IS NOT NULL
$$""",
        f"""
CREATE OR REPLACE FUNCTION paydesk_enqueue_webhook(
  p_id text, p_merchant text, p_event text, p_payload text, p_entity text, p_at timestamptz,
  p_next_trigger text, p_next_actor text) RETURNS void
LANGUAGE plpgsql {definer} AS $$
DECLARE
  body jsonb;
  data jsonb;
  r record;
  owner boolean;
BEGIN
  owner := current_setting('is_superuser') = 'on' OR EXISTS (
    SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = '{s}.webhook_logs'::regclass
       AND (pg_has_role(session_user, c.relowner, 'MEMBER')
            OR pg_has_role(session_user, n.nspowner, 'MEMBER')));
  BEGIN
    body := p_payload::jsonb;
  EXCEPTION WHEN others THEN
    RAISE EXCEPTION 'Webhook log %: its payload is not JSON.', p_id {_DENY};
  END;
  IF jsonb_typeof(body) IS DISTINCT FROM 'object'
     OR (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(body) k)
        IS DISTINCT FROM ARRAY['created_at', 'data', 'event', 'id']
     OR body ->> 'id' IS DISTINCT FROM p_id OR body ->> 'event' IS DISTINCT FROM p_event
     OR jsonb_typeof(body -> 'data') IS DISTINCT FROM 'object' THEN
    RAISE EXCEPTION 'Webhook log %: the payload is not one Paydesk sends.', p_id {_DENY};
  END IF;
  data := body -> 'data';
  IF owner THEN
    NULL;  -- the owner writes the table directly anyway (demo data, imports, tests)
  ELSIF p_event = 'test.ping' THEN
    IF data IS DISTINCT FROM jsonb_build_object(
         'merchant_id', p_merchant, 'message', 'A test event sent from Paydesk.')
       OR p_entity IS NOT NULL THEN
      RAISE EXCEPTION 'Webhook log %: a test event says only what Paydesk''s says.',
        p_id {_DENY};
    END IF;
  ELSIF p_event = 'refund.processed' THEN
    SELECT * INTO r FROM {s}.refunds WHERE id = p_entity;
    IF r.id IS NULL OR r.status <> 'processed' OR r.merchant_id <> p_merchant
       OR (data - 'created_at' - 'processed_at') IS DISTINCT FROM jsonb_build_object(
            'id', r.id, 'payment_id', r.payment_id, 'amount', r.amount,
            'currency', r.currency, 'kind', r.kind, 'reason', r.reason,
            'status', 'processed')
       OR EXISTS (SELECT 1 FROM {s}.webhook_logs
                   WHERE entity_id = p_entity AND event = 'refund.processed') THEN
      RAISE EXCEPTION 'Webhook log %: it does not report refund % as it was processed.',
        p_id, p_entity {_DENY};
    END IF;
  ELSE
    RAISE EXCEPTION 'Webhook log %: Paydesk does not send % events.', p_id, p_event {_DENY};
  END IF;
  INSERT INTO {s}.webhook_logs (id, merchant_id, event, payload, entity_id, status, attempts,
    round_start, next_trigger, next_actor, next_retry_at, created_at, updated_at)
  VALUES (p_id, p_merchant, p_event, p_payload, p_entity, 'pending', 0, 0, p_next_trigger,
    p_next_actor, p_at, p_at, p_at);
END
$$""",
    ]


# Signature -> the groups that may call it (nobody else: EXECUTE is revoked from PUBLIC).
PG_FUNCTION_GRANTS = {
    "paydesk_webhook_secret_masks()": pgroles.ALL_GROUPS,
    "paydesk_reveal_webhook_secret(text, text, text, timestamptz)": "paydesk_admin",
    "paydesk_set_webhook_secret(text, text, boolean, timestamptz)": "paydesk_admin",
    "paydesk_delivery_secrets(text[])": pgroles.ALL_GROUPS,
    "paydesk_enqueue_webhook(text, text, text, text, text, timestamptz, text, text)": (
        pgroles.ALL_GROUPS
    ),
}


def _pg_secrets_upgrade(conn) -> None:  # type: ignore[no-untyped-def]
    s = conn.dialect.identifier_preparer.quote_identifier(pgroles.current_schema(conn))
    for sql in pg_secret_functions(s):
        op.execute(sa.text(sql))
    for signature, groups in PG_FUNCTION_GRANTS.items():
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {groups}")


# -- rows written before this revision ----------------------------------------------------------

# What the new rules refuse, each with the sentence that names the rows it found.
_BAD_ROWS = (
    ("SELECT id FROM payments WHERE amount <= 0", "payments with an amount that is not positive"),
    ("SELECT id FROM refunds WHERE amount <= 0", "refunds with an amount that is not positive"),
    (
        "SELECT r.id FROM refunds r JOIN payments p ON p.id = r.payment_id "
        "WHERE r.currency <> p.currency",
        "refunds in another currency than their payment",
    ),
    (
        f"SELECT p.id FROM payments p WHERE {_live_sum('p.id')} > p.amount",
        "payments whose live refunds add up to more than their amount",
    ),
)
_NAMED = 5  # ids named in the sentence


def _check_existing_rows(conn: sa.Connection) -> None:
    """Refuse the upgrade, before anything changes, when rows already break the new rules:
    the constraints would refuse them anyway, with a message nobody can act on."""
    for query, what in _BAD_ROWS:
        ids = [row[0] for row in conn.execute(sa.text(f"{query} ORDER BY 1 LIMIT {_NAMED + 1}"))]
        if ids:
            named = ", ".join(ids[:_NAMED]) + (" and more" if len(ids) > _NAMED else "")
            raise Refused(
                f"The database cannot be upgraded: it holds {what} ({named}); "
                "correct or remove them with a SQL client as the schema owner, then try again."
            )


# -- upgrade / downgrade -----------------------------------------------------------------------


def upgrade() -> None:
    conn = op.get_bind()
    _check_existing_rows(conn)
    # Derived from now on: make the stored value what the triggers will keep it at.
    live = _live_sum("payments.id")
    op.execute(f"UPDATE payments SET refunded_amount = {live} WHERE refunded_amount <> {live}")
    if conn.dialect.name == "postgresql":
        for table, checks in CHECKS.items():
            for name, condition in checks:
                op.create_check_constraint(op.f(f"ck_{table}_{name}"), table, sa.text(condition))
        for sql in (PG_REFUND_STATE, PG_REFUND_TOTALS, PG_PAYMENT_REFUNDED, *PG_TRIGGERS):
            op.execute(sql)
        _pg_secrets_upgrade(conn)
        # TABLE_RULES: secrets hidden, webhook logs written only by paydesk_enqueue_webhook.
        pgroles.apply_grants(conn)
    else:
        _sqlite_rebuild(add=True)
        for sql in _sqlite_statements():
            op.execute(sql)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        for sql in PG_DROP:
            op.execute(sql)
        for signature in PG_FUNCTION_GRANTS:
            op.execute(f"DROP FUNCTION IF EXISTS {signature}")
        groups = pgroles.ALL_GROUPS
        # 0004's grants on the two tables.
        op.execute(f"GRANT SELECT ON TABLE merchants TO {groups}")
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE webhook_logs TO {groups}")
        for table, checks in CHECKS.items():
            for name, _condition in checks:
                op.drop_constraint(op.f(f"ck_{table}_{name}"), table, type_="check")
    else:
        for name in SQLITE_TRIGGER_NAMES:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        _sqlite_rebuild(add=False)
