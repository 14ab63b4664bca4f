"""A gateway connection's API secret: in the OS keyring (service ``Paydesk``, account
``gateway:<name>``) through core.store.passwords, kept in memory where no keyring exists, and
read from ``PAYDESK_GATEWAY_SECRET_<NAME>`` by a headless worker. Never in the database,
settings, logs or output."""

from __future__ import annotations

import os
import re

from core.store import passwords


def account(name: str) -> str:
    return f"gateway:{name}"


def env_var(name: str) -> str:
    """``PAYDESK_GATEWAY_SECRET_<NAME>``: the name upper-cased, every non-alphanumeric ``_``."""
    return "PAYDESK_GATEWAY_SECRET_" + re.sub(r"[^A-Z0-9]", "_", name.upper())


def store(name: str, secret: str) -> str:
    """Keep the secret; returns where it went: ``keyring`` or ``memory`` (this process only)."""
    return "keyring" if passwords.set_password(account(name), secret) else "memory"


def read(name: str) -> str | None:
    """The secret from this session's memory or the keyring, else the environment."""
    found = passwords.get_password(account(name))
    if found:
        return found
    return os.environ.get(env_var(name)) or None


def where(name: str) -> str:
    """Where this copy finds the secret: keyring/memory, environment, or missing."""
    if passwords.get_password(account(name)):
        return "keyring" if passwords.keyring_available() else "memory"
    if os.environ.get(env_var(name)):
        return "environment"
    return "missing"


def forget(name: str) -> None:
    passwords.forget(account(name))
