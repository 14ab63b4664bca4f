"""Standard Webhooks signing, checked with the official ``standardwebhooks`` package."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from core.errors import InputError
from core.webhooks import signing

BODY = b'{"data":{"amount":1250},"event":"payment.captured","id":"msg_1"}'


def test_new_secret_is_whsec_and_32_random_bytes():
    a, b = signing.new_secret(), signing.new_secret()
    assert a.startswith("whsec_") and a != b
    assert len(base64.b64decode(a[len("whsec_") :])) == 32


def test_signature_verifies_with_the_official_package():
    secret = signing.new_secret()
    headers = signing.headers("msg_1", int(time.time()), BODY, [secret])
    assert Webhook(secret).verify(BODY, headers)["event"] == "payment.captured"


def test_signature_made_with_another_secret_is_rejected():
    headers = signing.headers("msg_1", int(time.time()), BODY, [signing.new_secret()])
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(BODY, headers)


def test_tampered_body_is_rejected():
    secret = signing.new_secret()
    headers = signing.headers("msg_1", int(time.time()), BODY, [secret])
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"1250", b"9999"), headers)


def test_during_rotation_both_secrets_verify_the_same_delivery():
    old, new = signing.new_secret(), signing.new_secret()
    headers = signing.headers("msg_1", int(time.time()), BODY, [new, old])
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(new).verify(BODY, headers)
    Webhook(old).verify(BODY, headers)


def test_legacy_header_is_hex_hmac_of_the_body_keyed_with_the_decoded_secret():
    secret = signing.new_secret()
    headers = signing.headers("msg_1", 1700000000, BODY, [secret])
    key = base64.b64decode(secret[len("whsec_") :])
    assert headers["X-Webhook-Signature"] == hmac.new(key, BODY, hashlib.sha256).hexdigest()


def test_headers_carry_id_and_timestamp():
    headers = signing.headers("msg_abc", 1700000000, BODY, [signing.new_secret()])
    assert headers["webhook-id"] == "msg_abc"
    assert headers["webhook-timestamp"] == "1700000000"
    assert headers["webhook-signature"].startswith("v1,")


def test_previous_secret_signs_only_within_24_hours_of_rotation():
    now = datetime(2026, 1, 15, 12, tzinfo=UTC)
    rotated = now - timedelta(hours=23, minutes=59)
    assert signing.active_secrets("whsec_new", "whsec_old", rotated, now) == [
        "whsec_new",
        "whsec_old",
    ]
    later = now + timedelta(minutes=2)
    assert signing.active_secrets("whsec_new", "whsec_old", rotated, later) == ["whsec_new"]


def test_a_secret_that_is_not_base64_is_refused_with_a_sentence():
    with pytest.raises(InputError, match="not a whsec_ secret"):
        signing.headers("msg_1", 1, BODY, ["whsec_not base64!"])


def test_no_secret_at_all_is_refused():
    with pytest.raises(InputError, match="no webhook secret"):
        signing.headers("msg_1", 1, BODY, [])


def test_mask_shows_prefix_and_last_four_only():
    secret = signing.new_secret()
    masked = signing.mask(secret)
    assert masked == f"whsec_…{secret[-4:]}"
    assert secret[6:-4] not in masked
