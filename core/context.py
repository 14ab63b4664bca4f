"""What every service call needs besides its arguments: the database, the clock, and which
running copy (client) is acting. The person acting is always an explicit argument."""

from __future__ import annotations

import getpass
import os
import socket
import uuid
from dataclasses import dataclass, field

from core.clock import Clock, system_clock
from core.store.db import Database


def os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (some containers)
        return "unknown"


def standalone_actor() -> str:
    """The person acting in standalone mode: ``PAYDESK_ACTOR`` or the OS user."""
    return os.environ.get("PAYDESK_ACTOR") or os_user()


@dataclass
class Context:
    db: Database
    clock: Clock = system_clock
    client_id: str = field(default_factory=lambda: f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}")
    # What this running copy is, for presence: "app" (a window) or "worker" (`paydesk worker`).
    kind: str = "app"

    @property
    def mode(self) -> str:
        return "shared" if self.db.is_postgres else "standalone"

    def default_actor(self) -> str:
        """Who is acting when nobody says: the OS user (standalone) or the database login."""
        if self.db.is_postgres:
            return self.db.target.url.username or os_user()
        return standalone_actor()
