"""Change notices: "table X, row Y is now Z". Sent in the same transaction as the change.

In process, subscribers hear a notice right after the commit. On Postgres the notice also
goes out with ``pg_notify`` (delivered by the server on commit) so every other copy hears it
through a ``Listener``. Notices are hints for wake-ups and refreshes; the rows stay the truth,
so a lost notice only costs a poll interval.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

# One channel per schema: two Paydesk installations in schemas of one database (or a test
# beside another) do not wake each other. The schema's name is appended on the server, so
# the sender and the listener agree on it without knowing it.
CHANNEL = "paydesk"
CHANNEL_OF_SCHEMA = "left('paydesk:' || coalesce(current_schema(), ''), 63)"
# pg_notify payloads are limited to 8000 bytes; ids are batched under this.
_MAX_PAYLOAD = 7000


@dataclass(frozen=True)
class Notice:
    table: str
    ids: tuple[str, ...]
    status: str | None = None
    origin: str | None = None  # client id of the copy that made the change

    def encode(self) -> str:
        return json.dumps(
            {"t": self.table, "i": list(self.ids), "s": self.status, "o": self.origin}
        )

    @staticmethod
    def decode(raw: str) -> Notice | None:
        try:
            d = json.loads(raw)
            return Notice(d["t"], tuple(d.get("i") or ()), d.get("s"), d.get("o"))
        except (ValueError, KeyError, TypeError):
            return None


Subscriber = Callable[[Notice], None]

_subscribers: list[Subscriber] = []
_lock = threading.Lock()


def subscribe(callback: Subscriber) -> None:
    """Hear every notice committed in this process (and, with a Listener, by other copies)."""
    with _lock:
        _subscribers.append(callback)


def unsubscribe(callback: Subscriber) -> None:
    with _lock:
        if callback in _subscribers:
            _subscribers.remove(callback)


def dispatch(notice: Notice) -> None:
    with _lock:
        targets = list(_subscribers)
    for callback in targets:
        try:
            callback(notice)
        except Exception:  # one broken subscriber must not silence the others
            log.exception("A change subscriber failed")


def emit(
    session: Session,
    table: str,
    ids: list[str] | tuple[str, ...] = (),
    status: str | None = None,
    origin: str | None = None,
) -> None:
    """Announce a change made in ``session``; heard only if the transaction commits."""
    notice = Notice(table, tuple(ids), status, origin)
    pending: list[Notice] = session.info.setdefault("paydesk_notices", [])
    if not pending:
        event.listen(session, "after_commit", _after_commit, once=True)
        event.listen(session, "after_rollback", _after_rollback, once=True)
    pending.append(notice)
    if session.get_bind().dialect.name == "postgresql":
        for chunk in _chunks(notice):
            session.execute(
                text(f"SELECT pg_notify({CHANNEL_OF_SCHEMA}, :p)"), {"p": chunk.encode()}
            )


def _chunks(notice: Notice) -> list[Notice]:
    if len(notice.encode()) <= _MAX_PAYLOAD:
        return [notice]
    # Too many ids for one payload: say "something in this table changed" instead.
    return [Notice(notice.table, (), notice.status, notice.origin)]


def _after_commit(session: Session) -> None:
    for notice in session.info.pop("paydesk_notices", []):
        dispatch(notice)
    if event.contains(session, "after_rollback", _after_rollback):
        event.remove(session, "after_rollback", _after_rollback)


def _after_rollback(session: Session) -> None:
    session.info.pop("paydesk_notices", None)
    if event.contains(session, "after_commit", _after_commit):
        event.remove(session, "after_commit", _after_commit)


class Listener:
    """LISTENs on Postgres in a thread of its own and re-dispatches other copies' notices.

    Reconnects with backoff when the connection drops; ``connected`` says whether notices
    are flowing (callers fall back to polling while it is False).
    """

    def __init__(self, conninfo: str, own_origin: str | None = None) -> None:
        self._conninfo = conninfo
        self._own_origin = own_origin
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = False
        self.on_state: Callable[[bool], None] | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="paydesk-listen", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _set_connected(self, value: bool) -> None:
        if value != self.connected:
            self.connected = value
            if self.on_state:
                self.on_state(value)

    def _run(self) -> None:
        import psycopg
        from psycopg import sql

        delay = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5) as conn:
                    row = conn.execute(f"SELECT {CHANNEL_OF_SCHEMA}").fetchone()
                    channel = row[0] if row else CHANNEL
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    self._set_connected(True)
                    delay = 0.5
                    while not self._stop.is_set():
                        for n in conn.notifies(timeout=0.5, stop_after=64):
                            notice = Notice.decode(n.payload)
                            if notice is not None and notice.origin != self._own_origin:
                                dispatch(notice)
                        # A cheap query detects a dead connection that notifies() cannot.
                        conn.execute("SELECT 1")
            except Exception as exc:
                log.info("Listening for changes stopped (%s); retrying", type(exc).__name__)
            self._set_connected(False)
            self._stop.wait(delay)
            delay = min(delay * 2, 5.0)


def listener_conninfo(url: Any) -> str:
    """A libpq conninfo string for a SQLAlchemy postgres URL (password included, never logged)."""
    from sqlalchemy.engine import make_url

    u = make_url(url) if isinstance(url, str) else url
    return u.set(drivername="postgresql").render_as_string(hide_password=False)


_shared: dict[tuple[str, str | None], tuple[Listener, int]] = {}
_shared_lock = threading.Lock()


def acquire_listener(conninfo: str, own_origin: str | None = None) -> Listener:
    """The process's one started Listener for this database and origin, shared by every part
    that needs other copies' notices (two would hear each notice twice). Hand it back with
    ``release_listener``; the last release stops it."""
    key = (conninfo, own_origin)
    with _shared_lock:
        entry = _shared.get(key)
        if entry is None:
            listener = Listener(conninfo, own_origin)
            listener.start()
            _shared[key] = (listener, 1)
            return listener
        _shared[key] = (entry[0], entry[1] + 1)
        return entry[0]


def release_listener(listener: Listener) -> None:
    """Give back a listener from ``acquire_listener``."""
    with _shared_lock:
        for key, (held, count) in list(_shared.items()):
            if held is listener:
                if count > 1:
                    _shared[key] = (held, count - 1)
                    return
                del _shared[key]
                break
        else:
            return
    listener.stop()
