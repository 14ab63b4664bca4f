"""Who is acting in this copy and under which role, read in a session of its own (the
window's status bar shows it: "bob · finance")."""

from __future__ import annotations

from core.access import roles
from core.store.db import Database


def acting(db: Database, actor: str) -> roles.Identity:
    """``actor``'s identity in ``db``: their roles (highest first) and where they come from."""
    with db.read() as session:
        return roles.identity(session, actor)
