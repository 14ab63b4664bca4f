"""webhooks: deliveries are signed inside the database; no secret leaves it

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 23:30:00

Postgres only (nothing happens on SQLite, where the OS user owns the file and Paydesk signs in
Python). Until now ``paydesk_delivery_secrets`` (migration 0005) handed the dispatcher the
merchant secrets of pending logs under a lease, so any login that leased a log could read its
merchant's secret. It is dropped; in its place:

- ``paydesk_sign_deliveries(log_ids, lease_owner, now)`` (SECURITY DEFINER, bound to this
  schema, every Paydesk group): for each given log that is pending and leased to
  ``lease_owner`` and whose payload is one ``paydesk_enqueue_webhook`` admits (a JSON object of
  exactly ``id``, ``event``, ``created_at``, ``data``, with the log's own id and event), it
  returns the Standard Webhooks headers made with the merchant's secrets: the Unix timestamp
  (the database's clock), ``v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{payload}")>`` for
  the current secret and, within 24 hours of a rotation (``core.webhooks.signing
  .ROTATION_GRACE``, measured at ``now``), for the previous one, and the older gateway's hex
  HMAC-SHA256 of the payload. It signs the payload stored in the row, never text the caller
  passes, and returns no secret. A log it will not sign comes back with a sentence instead.
- ``paydesk_hmac_sha256(key, message)``: RFC 2104 HMAC over the built-in ``sha256(bytea)``.
  pgcrypto's ``hmac()`` would do, but it is an extension: the login that migrates may lack
  CREATE on the database, and a schema of its own cannot assume one is installed.

The key is what ``core.webhooks.signing.secret_key`` makes of the secret: the base64 after
``whsec_`` (missing padding tolerated, anything else outside the alphabet refused).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

from core.store import pgroles

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_DEFINER = "SECURITY DEFINER SET search_path = pg_catalog, pg_temp"

# Sentences for a log the database does not sign (the dispatcher records them as the
# attempt's error, and the log fails without being sent).
NO_SECRET = "The endpoint has no signing secret; it was not sent."
BAD_SECRET = "The webhook secret is not a whsec_ secret (base64 after whsec_); it was not sent."
NOT_PAYDESKS = "The payload is not one Paydesk sends; it was not signed or sent."


def _hmac(s: str) -> str:
    # The pads are XORed eight bytes at a time as bigints (to_hex of an int8 prints its 64 bits).
    return f"""
CREATE OR REPLACE FUNCTION {s}.paydesk_hmac_sha256(p_key bytea, p_message bytea) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  k text;
  chunk bigint;
  inner_pad text := '';
  outer_pad text := '';
BEGIN
  IF length(p_key) > 64 THEN
    p_key := sha256(p_key);
  END IF;
  k := rpad(encode(p_key, 'hex'), 128, '0');
  FOR i IN 0..7 LOOP
    chunk := ('x' || substr(k, i * 16 + 1, 16))::bit(64)::bigint;
    inner_pad := inner_pad || lpad(to_hex(chunk # x'3636363636363636'::bigint), 16, '0');
    outer_pad := outer_pad || lpad(to_hex(chunk # x'5c5c5c5c5c5c5c5c'::bigint), 16, '0');
  END LOOP;
  RETURN sha256(decode(outer_pad, 'hex') || sha256(decode(inner_pad, 'hex') || p_message));
END
$$"""


def _key(s: str) -> str:
    # NULL for text that is not a secret, as signing.secret_key refuses it.
    return f"""
CREATE OR REPLACE FUNCTION {s}.paydesk_webhook_key(p_secret text) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  body text := CASE WHEN left(p_secret, 6) = 'whsec_' THEN substr(p_secret, 7) ELSE p_secret END;
BEGIN
  body := body || repeat('=', (4 - length(body) % 4) % 4);
  -- decode() skips whitespace, which the Python side refuses: check the alphabet first.
  IF body !~ '^[A-Za-z0-9+/]*={{0,2}}$' THEN
    RETURN NULL;
  END IF;
  RETURN nullif(decode(body, 'base64'), ''::bytea);
END
$$"""


def _sign(s: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION {s}.paydesk_sign_deliveries(
  p_ids text[], p_lease_owner text, p_now timestamptz)
RETURNS TABLE (log_id text, signed_at bigint, signature text, legacy_signature text,
               problem text)
LANGUAGE plpgsql VOLATILE {_DEFINER} AS $$
DECLARE
  r record;
  body jsonb;
  ts bigint := floor(extract(epoch FROM clock_timestamp()))::bigint;
  message bytea;
  payload bytea;
  cur bytea;
  prev bytea;
  last_merchant text;
BEGIN
  FOR r IN
    SELECT l.id, l.event, l.payload, l.merchant_id, m.webhook_secret AS secret,
           m.webhook_secret_previous AS previous, m.webhook_secret_rotated_at AS rotated_at
      FROM {s}.webhook_logs l JOIN {s}.merchants m ON m.id = l.merchant_id
     WHERE l.id = ANY (p_ids) AND l.status = 'pending' AND l.lease_owner = p_lease_owner
     ORDER BY l.merchant_id, l.id
  LOOP
    log_id := r.id;
    signed_at := NULL;
    signature := NULL;
    legacy_signature := NULL;
    problem := NULL;
    BEGIN
      body := r.payload::jsonb;
    EXCEPTION WHEN others THEN
      body := NULL;
    END;
    IF body IS NULL OR jsonb_typeof(body) IS DISTINCT FROM 'object'
       OR (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(body) k)
          IS DISTINCT FROM ARRAY['created_at', 'data', 'event', 'id']
       OR body ->> 'id' IS DISTINCT FROM r.id OR body ->> 'event' IS DISTINCT FROM r.event
       OR jsonb_typeof(body -> 'data') IS DISTINCT FROM 'object' THEN
      problem := '{NOT_PAYDESKS}';
      RETURN NEXT;
      CONTINUE;
    END IF;
    IF last_merchant IS DISTINCT FROM r.merchant_id THEN
      last_merchant := r.merchant_id;
      cur := CASE WHEN coalesce(r.secret, '') = '' THEN NULL
                  ELSE {s}.paydesk_webhook_key(r.secret) END;
      prev := NULL;
      IF coalesce(r.previous, '') <> '' AND r.rotated_at IS NOT NULL
         AND p_now - r.rotated_at < interval '24 hours' THEN
        prev := {s}.paydesk_webhook_key(r.previous);
        IF prev IS NULL THEN
          cur := NULL;  -- as in Python, a bad previous secret stops the signing
        END IF;
      END IF;
    END IF;
    IF coalesce(r.secret, '') = '' THEN
      problem := '{NO_SECRET}';
    ELSIF cur IS NULL THEN
      problem := '{BAD_SECRET}';
    ELSE
      payload := convert_to(r.payload, 'UTF8');
      message := convert_to(r.id || '.' || ts || '.', 'UTF8') || payload;
      signed_at := ts;
      signature := 'v1,' || encode({s}.paydesk_hmac_sha256(cur, message), 'base64');
      IF prev IS NOT NULL THEN
        signature := signature || ' v1,' || encode({s}.paydesk_hmac_sha256(prev, message), 'base64');
      END IF;
      legacy_signature := encode({s}.paydesk_hmac_sha256(cur, payload), 'hex');
    END IF;
    RETURN NEXT;
  END LOOP;
END
$$"""


SIGN = "paydesk_sign_deliveries(text[], text, timestamptz)"
HELPERS = ("paydesk_hmac_sha256(bytea, bytea)", "paydesk_webhook_key(text)")
OLD = "paydesk_delivery_secrets(text[])"


def _hardening() -> ModuleType:
    """Migration 0005's module (its file name is not an importable name)."""
    path = Path(__file__).with_name("0005_database_hardening.py")
    spec = importlib.util.spec_from_file_location("paydesk_migration_0005", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _schema(conn: sa.Connection) -> str:
    return conn.dialect.identifier_preparer.quote_identifier(pgroles.current_schema(conn))


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    s = _schema(conn)
    for sql in (_hmac(s), _key(s), _sign(s)):
        op.execute(sa.text(sql))
    # The helpers hold no secret, but nobody needs them but the signing function.
    for signature in HELPERS:
        op.execute(f"REVOKE ALL ON FUNCTION {s}.{signature} FROM PUBLIC")
    op.execute(f"REVOKE ALL ON FUNCTION {s}.{SIGN} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {s}.{SIGN} TO {pgroles.ALL_GROUPS}")
    op.execute(f"DROP FUNCTION IF EXISTS {s}.{OLD}")


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    s = _schema(conn)
    old = [sql for sql in _hardening().pg_secret_functions(s) if "paydesk_delivery_secrets" in sql]
    assert len(old) == 1
    op.execute(sa.text(old[0]))
    op.execute(f"REVOKE ALL ON FUNCTION {s}.{OLD} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {s}.{OLD} TO {pgroles.ALL_GROUPS}")
    op.execute(f"DROP FUNCTION IF EXISTS {s}.{SIGN}")
    for signature in HELPERS:
        op.execute(f"DROP FUNCTION IF EXISTS {s}.{signature}")
