"""The JSON shapes of webhook logs, attempts and endpoints, as ``paydesk webhooks`` and
``paydesk merchants`` print them with ``--json``: times in ISO 8601 UTC, secrets masked."""

from __future__ import annotations

import json
from typing import Any

from core.payments.queries import iso
from core.webhooks.deliveries import AttemptRow, Endpoint, WebhookDetail, WebhookRow


def row_as_json(row: WebhookRow) -> dict[str, Any]:
    """A log as ``webhooks list --json`` prints it."""
    return {
        "id": row.id,
        "merchant_id": row.merchant_id,
        "event": row.event,
        "status": row.status,
        "attempts": row.attempts,
        "response_code": row.response_code,
        "next_retry_at": iso(row.next_retry_at),
        "last_attempt_at": iso(row.last_attempt_at),
        "last_error": row.last_error,
        "entity_id": row.entity_id,
        "created_at": iso(row.created_at),
        "gateway": row.gateway,
    }


def attempt_as_json(a: AttemptRow) -> dict[str, Any]:
    return {
        "number": a.number,
        "started_at": iso(a.started_at),
        "duration_ms": a.duration_ms,
        "url": a.url,
        "response_code": a.response_code,
        "error": a.error,
        "response_body": a.response_body,
        "trigger": a.trigger,
        "actor": a.actor,
        "client": a.client,
    }


def detail_as_json(d: WebhookDetail) -> dict[str, Any]:
    """A log with payload and attempts, as ``webhooks show --json`` prints it."""
    try:
        payload: Any = json.loads(d.payload)
    except ValueError:
        payload = d.payload
    return {
        **row_as_json(d.row),
        "merchant_name": d.merchant_name,
        "url": d.webhook_url,
        "payload": payload,
        "response_body": d.response_body,
        "retry_refusal": d.retry_refusal,
        "attempt_history": [attempt_as_json(a) for a in d.attempts],
    }


def endpoint_as_json(e: Endpoint) -> dict[str, Any]:
    """A merchant's endpoint as ``merchants list --json`` prints it (secret masked)."""
    return {
        "id": e.merchant_id,
        "name": e.name,
        "webhook_url": e.webhook_url,
        "webhook_enabled": e.webhook_enabled,
        "disabled_reason": e.disabled_reason,
        "webhook_secret_masked": e.secret_masked,
        "secret_rotated_at": iso(e.secret_rotated_at),
        "consecutive_failures": e.consecutive_failures,
        "failing_since": iso(e.failing_since),
        "last_success_at": iso(e.last_success_at),
    }
