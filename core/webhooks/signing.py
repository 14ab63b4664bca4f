"""Signing webhook deliveries per the Standard Webhooks spec (standardwebhooks.com).

Headers on every delivery:

- ``webhook-id``: the log id, the same on every retry, so receivers can dedupe;
- ``webhook-timestamp``: Unix seconds at send time (wall clock: the receiver compares it
  with its own clock);
- ``webhook-signature``: ``v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>``. For
  24 h after a rotation a second, space-separated signature made with the previous secret
  follows, so receivers can switch secrets at their own pace;
- ``X-Webhook-Signature``: hex HMAC-SHA256 of the body alone, for receivers built for the
  older gateway.

A secret is ``whsec_`` followed by base64 of random bytes. The HMAC key, for both
signatures, is those decoded bytes (not the text of the secret).

Standalone (SQLite), the sender signs with the secrets themselves at send time. In shared
mode no login may read a secret, so the database signs (``paydesk_sign_deliveries``,
migration 0008, the same HMAC in PL/pgSQL) and the sender gets a ``Signed``: the headers
without the secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from core.errors import InputError

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
# How long the previous secret keeps signing after a rotation.
ROTATION_GRACE = timedelta(hours=24)


def new_secret() -> str:
    """A fresh ``whsec_`` secret: 32 random bytes, base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


@lru_cache(maxsize=1024)
def secret_key(secret: str) -> bytes:
    """The HMAC key of a secret: the base64-decoded part after ``whsec_``.

    Raises InputError for text that is not such a secret.
    """
    body = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
    try:
        # Tolerate missing padding, as the reference verifier does.
        key = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InputError(
            "The webhook secret is not a whsec_ secret (base64 after whsec_)."
        ) from None
    if not key:
        raise InputError("The webhook secret is empty.")
    return key


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One Standard Webhooks signature: ``v1,<base64>``."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def legacy_signature(secret: str, body: bytes) -> str:
    """The older gateway's ``X-Webhook-Signature``: hex HMAC-SHA256 of the body."""
    return hmac.new(secret_key(secret), body, hashlib.sha256).hexdigest()


def active_secrets(
    current: str | None,
    previous: str | None,
    rotated_at: datetime | None,
    now: datetime,
) -> list[str]:
    """The secrets that sign at ``now``: the current one, plus the previous one for
    ``ROTATION_GRACE`` after a rotation."""
    result = [current] if current else []
    if previous and rotated_at is not None and now - rotated_at < ROTATION_GRACE:
        result.append(previous)
    return result


@dataclass(frozen=True)
class Signed:
    """The signatures of one delivery, made where its secrets are (by the database in shared
    mode): ``signature`` is the ``webhook-signature`` value (space-separated ``v1,…``),
    ``legacy`` the ``X-Webhook-Signature`` one."""

    timestamp: int
    signature: str
    legacy: str

    def headers(self, msg_id: str) -> dict[str, str]:
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(self.timestamp),
            "webhook-signature": self.signature,
            "X-Webhook-Signature": self.legacy,
        }


def sign(msg_id: str, timestamp: int, body: bytes, secrets_: Sequence[str]) -> Signed:
    """Sign one delivery with its secrets, ``secrets_[0]`` the current one."""
    if not secrets_:
        raise InputError("The endpoint has no webhook secret; set the endpoint again to get one.")
    return Signed(
        timestamp,
        " ".join(signature(s, msg_id, timestamp, body) for s in secrets_),
        legacy_signature(secrets_[0], body),
    )


def headers(msg_id: str, timestamp: int, body: bytes, secrets_: Sequence[str]) -> dict[str, str]:
    """The signature headers for one delivery. ``secrets_[0]`` is the current secret."""
    return sign(msg_id, timestamp, body, secrets_).headers(msg_id)


def mask(secret: str | None) -> str | None:
    """A secret as people see it unless they reveal it: ``whsec_…`` and its last 4 characters."""
    if not secret:
        return None
    return f"{SECRET_PREFIX}…{secret[-4:]}"
