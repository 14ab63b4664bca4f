"""Refunds: the request/decide/process services, their processing and idempotency."""
