"""Database passwords in the OS keyring. Where no keyring backend exists the password is kept
in this process's memory only, for as long as it runs."""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)

SERVICE = "Paydesk"

_memory: dict[str, str] = {}
_lock = threading.Lock()


def account(user: str, host: str, port: int | None, database: str) -> str:
    """The keyring account name for one login on one server and database."""
    return f"{user}@{host}:{port or 5432}/{database}"


def keyring_available() -> bool:
    """True when a real (persistent) keyring backend is configured on this machine. keyring's
    null backend (which drops what it is given) and fail backend (which refuses), and a chainer
    with nothing usable to chain, count as none: a password is then kept in memory."""
    try:
        import keyring

        return _usable(keyring.get_keyring())
    except Exception:  # a broken backend is the same as none for the person
        return False


def _usable(backend: object) -> bool:
    from keyring.backends import chainer, fail, null

    if isinstance(backend, null.Keyring | fail.Keyring):
        return False
    if isinstance(backend, chainer.ChainerBackend):
        # It chains the viable backends of priority above 0; none means it stores nothing.
        return any(_usable(b) for b in backend.backends)
    return True


def get_password(acct: str) -> str | None:
    """The stored password, from memory first (a prompt this session), then the keyring."""
    with _lock:
        if acct in _memory:
            return _memory[acct]
    if not keyring_available():
        return None
    try:
        import keyring

        return keyring.get_password(SERVICE, acct)
    except Exception as exc:
        log.warning("Reading the keyring failed: %s", type(exc).__name__)
        return None


def set_password(acct: str, password: str, *, persist: bool = True) -> bool:
    """Keep ``password``; returns True when it went to the keyring, False when memory only."""
    with _lock:
        _memory[acct] = password
    if not persist or not keyring_available():
        return False
    try:
        import keyring

        keyring.set_password(SERVICE, acct, password)
        return True
    except Exception as exc:
        log.warning("Writing the keyring failed: %s", type(exc).__name__)
        return False


def forget(acct: str) -> None:
    with _lock:
        _memory.pop(acct, None)
    if keyring_available():
        try:
            import keyring

            keyring.delete_password(SERVICE, acct)
        except Exception:
            pass
