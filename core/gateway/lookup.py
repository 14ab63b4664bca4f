"""One payment by its exact id, on demand: an id typed in the Payments search that Paydesk
does not hold yet is asked for at each gateway connection this copy holds the secret of
(``GET /payments/{id}``), and kept (upserted as a sync would) when a gateway has it.

Every failure is one sentence of the existing gateway error types; a gateway that cannot be
asked does not stop the others from being asked, and is reported only when no gateway had the
payment (it might have been the one holding it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select

from core.access import roles
from core.context import Context
from core.errors import InputError, PaydeskError
from core.gateway import secrets
from core.gateway.client import GatewayClient
from core.gateway.errors import GatewayBadAnswer
from core.gateway.sync import MAX_PAYMENT_ID, ClientFactory, SyncResult, apply_payments
from core.store import notify
from core.store.models import GatewayConnection, Payment

# What a payment id may be (``pay_`` and letters and digits in every gateway seen). It goes into
# the URL's path, so nothing that could reach another route (``/``, ``?``, ``..``) is sent.
_PAYMENT_ID = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_PAYMENT_ID}}}")


def _default_client(url: str, key: str, secret: str) -> GatewayClient:
    return GatewayClient(url, key, secret)


@dataclass(frozen=True)
class Found:
    """A payment Paydesk holds now, and where it came from."""

    payment_id: str
    gateway: str | None  # the connection it came from; None: Paydesk's own data
    status: str
    added: bool  # fetched from the gateway now (False: Paydesk held it already)


def check_payment_id(text: str) -> str:
    """The id in ``text`` (spaces around it dropped); raises ``InputError`` for anything that
    cannot be a payment id."""
    pid = (text or "").strip()
    if not _PAYMENT_ID.fullmatch(pid):
        shown = pid[:80] + ("…" if len(pid) > 80 else "")
        raise InputError(
            f"{shown!r} is not a payment id; give one like pay_a1B2c3D4e5 (letters, digits, "
            f"_ and -, at most {MAX_PAYMENT_ID} characters)."
        )
    return pid


def look_up_payment(
    ctx: Context,
    payment_id: str,
    *,
    actor: str | None = None,
    client_factory: ClientFactory = _default_client,
) -> Found | None:
    """The payment with exactly this id: Paydesk's own copy when it holds one, else the first
    gateway connection (by name) that has it, which is then kept. None when no connection
    this copy holds the secret of has it. ``actor``, when given, must be allowed to view."""
    pid = check_payment_id(payment_id)
    with ctx.db.read() as session:
        if actor is not None:
            roles.require(session, actor, "view")
        held = session.execute(
            select(Payment.gateway, Payment.status).where(Payment.id == pid)
        ).first()
        if held is not None:
            return Found(pid, held.gateway, held.status, added=False)
        conns = list(
            session.execute(
                select(
                    GatewayConnection.name,
                    GatewayConnection.url,
                    GatewayConnection.api_key,
                    GatewayConnection.merchant_id,
                )
                .where(GatewayConnection.removed.is_(False))
                .order_by(GatewayConnection.name)
            )
        )
    failures: list[PaydeskError] = []
    for name, url, key, merchant_id in conns:
        secret = secrets.read(name)
        if not secret:
            continue  # copies without the secret do no gateway work
        client = client_factory(url, key, secret)
        try:
            found = client.find_payment(pid)
        except PaydeskError as exc:  # unreachable, 5xx, 401, a web page, a broken row
            failures.append(exc)
            continue
        finally:
            client.close()
        if found is None:
            continue
        if found.id != pid:
            failures.append(
                GatewayBadAnswer(
                    f"The gateway {name} answered the look-up of payment {pid} with payment "
                    f"{found.id[:80]}."
                )
            )
            continue
        result = SyncResult(name)
        with ctx.db.write() as session:
            changed = apply_payments(session, name, merchant_id, [found], result)
            if changed:
                notify.emit(session, "payments", changed, None, ctx.client_id)
            kept = session.execute(
                select(Payment.gateway, Payment.status).where(Payment.id == pid)
            ).one()
        return Found(pid, kept.gateway, kept.status, added=bool(result.added))
    if failures:
        raise failures[0]
    return None
