"""Webhook signing secrets, read and written without any login seeing them in SQL.

On Postgres (migration 0005) no Paydesk group may SELECT ``merchants.webhook_secret`` or
``webhook_secret_previous``; everything that needs them goes through SECURITY DEFINER
functions owned by the login that migrates:

- ``paydesk_webhook_secret_masks()``: every merchant's masked secret (``whsec_…`` and the last
  4 characters), for any group;
- ``paydesk_reveal_webhook_secret(merchant, actor, client, at)``: the secret in full, for
  admins only, and it writes the ``endpoint.reveal_secret`` audit event itself;
- ``paydesk_set_webhook_secret(merchant, secret, rotate, at)``: give a merchant its first
  secret or rotate it (admins only);
- ``paydesk_sign_deliveries(log_ids, lease_owner, now)`` (migration 0008): not a secret but
  the signature headers of each given log that is pending, leased to ``lease_owner`` and
  carries a payload Paydesk's enqueue admits; the database signs the payload stored in the
  row, so a login that leases a log gets what the receiver gets and never the secret.

On SQLite (standalone: the OS user owns the file) the columns are read and written directly.
The ORM defers both columns (``core.store.models.Merchant``), so loading a merchant never selects them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from core.access import audit
from core.store.models import Merchant, WebhookLog
from core.webhooks import signing


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def masks(session: Session, merchant_ids: Iterable[str] | None = None) -> dict[str, str | None]:
    """Merchant id -> masked secret (None without a secret)."""
    wanted = None if merchant_ids is None else set(merchant_ids)
    if _postgres(session):
        rows: Sequence[tuple[str, str | None]] = session.execute(
            text("SELECT merchant_id, secret_mask FROM paydesk_webhook_secret_masks()")
        ).all()
        return {m: mask for m, mask in rows if wanted is None or m in wanted}
    stmt = select(Merchant.id, Merchant.webhook_secret)
    if wanted is not None:
        stmt = stmt.where(Merchant.id.in_(wanted))
    return {m: signing.mask(secret) for m, secret in session.execute(stmt).all()}


def reveal(
    session: Session, merchant_id: str, *, actor: str, client: str | None, at: datetime
) -> str | None:
    """The merchant's current secret in full, with its ``endpoint.reveal_secret`` audit event
    written in the same transaction (None, and nothing written, without a secret)."""
    if _postgres(session):
        value = session.execute(
            text("SELECT paydesk_reveal_webhook_secret(:m, :a, :c, :t)"),
            {"m": merchant_id, "a": actor, "c": client, "t": at},
        ).scalar()
        return None if value is None else str(value)
    secret = session.scalar(select(Merchant.webhook_secret).where(Merchant.id == merchant_id))
    if not secret:
        return None
    audit.record(
        session,
        at=at,
        actor=actor,
        action="endpoint.reveal_secret",
        entity_type="merchant",
        entity_id=merchant_id,
        client=client,
    )
    return secret


def ensure(session: Session, merchant_id: str, *, rotate: bool, at: datetime) -> bool:
    """Give the merchant a secret if it has none; with ``rotate`` replace it (the old one keeps
    signing for ``signing.ROTATION_GRACE``). Returns whether it was rotated."""
    new = signing.new_secret()
    if _postgres(session):
        rotated = session.execute(
            text("SELECT paydesk_set_webhook_secret(:m, :s, :r, :t)"),
            {"m": merchant_id, "s": new, "r": rotate, "t": at},
        ).scalar()
        session.expire_all()
        return bool(rotated)
    current = session.scalar(select(Merchant.webhook_secret).where(Merchant.id == merchant_id))
    values: dict[str, object]
    if not current:
        values = {"webhook_secret": new}
    elif rotate:
        values = {
            "webhook_secret_previous": current,
            "webhook_secret": new,
            "webhook_secret_rotated_at": at,
        }
    else:
        return False
    session.execute(
        update(Merchant)
        .where(Merchant.id == merchant_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.expire_all()
    return bool(current) and rotate


@dataclass(frozen=True)
class Signing:
    """What signs one claimed log: its merchant's current and previous secrets."""

    secret: str | None
    previous: str | None
    rotated_at: datetime | None


def for_deliveries(session: Session, log_ids: list[str]) -> dict[str, Signing]:
    """Log id -> its merchant's secrets, for the dispatcher to sign with (SQLite only: in
    shared mode no secret leaves the database, see ``sign_deliveries``)."""
    if _postgres(session):
        raise RuntimeError("In shared mode the database signs deliveries; no secret is read.")
    if not log_ids:
        return {}
    rows = session.execute(
        select(
            WebhookLog.id,
            Merchant.webhook_secret,
            Merchant.webhook_secret_previous,
            Merchant.webhook_secret_rotated_at,
        )
        .join(Merchant, Merchant.id == WebhookLog.merchant_id)
        .where(WebhookLog.id.in_(log_ids))
    ).all()
    return {log_id: Signing(secret, previous, at) for log_id, secret, previous, at in rows}


_SIGN = text(
    "SELECT log_id, signed_at, signature, legacy_signature, problem "
    "FROM paydesk_sign_deliveries(CAST(:ids AS text[]), :owner, :now)"
)
# What paydesk_sign_deliveries returns: log id, signed at (Unix seconds), the two signatures,
# and the sentence why it did not sign.
_SignedRow = tuple[str, int | None, str | None, str | None, str | None]


def sign_deliveries(
    session: Session, log_ids: list[str], *, lease_owner: str, now: datetime
) -> dict[str, signing.Signed | str]:
    """Postgres: log id -> the signatures the database made for it now (its clock gives the
    timestamp; ``now``, the dispatcher's clock, decides whether a previous secret still signs),
    or the sentence saying why it will not sign it. Only logs this transaction sees pending and
    leased to ``lease_owner`` come back: any other log is never signed."""
    if not log_ids:
        return {}
    rows: Sequence[_SignedRow] = session.execute(
        _SIGN, {"ids": list(log_ids), "owner": lease_owner, "now": now}
    ).all()
    result: dict[str, signing.Signed | str] = {}
    for log_id, signed_at, signature, legacy, problem in rows:
        if problem is not None or signature is None:
            result[log_id] = str(problem or "The database did not sign this delivery.")
        else:
            # The function sets signed_at whenever it sets a signature.
            result[log_id] = signing.Signed(int(cast(int, signed_at)), str(signature), str(legacy))
    return result
