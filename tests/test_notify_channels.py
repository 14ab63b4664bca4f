"""Change notices on Postgres travel on one channel per schema: two Paydesk installations in
schemas of one database do not wake each other, and a notice from this schema is heard."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from core.store import notify

pytestmark = pytest.mark.postgres


@pytest.fixture
def heard() -> Iterator[queue.Queue[notify.Notice]]:
    got: queue.Queue[notify.Notice] = queue.Queue()
    notify.subscribe(got.put)
    yield got
    notify.unsubscribe(got.put)


def _send(url: str, ids: tuple[str, ...]) -> None:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(f"SELECT pg_notify({notify.CHANNEL_OF_SCHEMA}, :p)"),
                {"p": notify.Notice("payments", ids, origin="elsewhere").encode()},
            )
    finally:
        engine.dispose()


def _wait_connected(listener: notify.Listener) -> None:
    deadline = time.monotonic() + 10
    while not listener.connected and time.monotonic() < deadline:
        time.sleep(0.02)
    assert listener.connected, "the listener never connected"


def test_a_notice_in_another_schema_is_not_heard(pg_schema_url, heard) -> None:
    from tests.conftest import POSTGRES_URL

    other = f"{POSTGRES_URL}?options=-csearch_path%3Dpublic"
    listener = notify.Listener(notify.listener_conninfo(pg_schema_url), own_origin="me")
    listener.start()
    try:
        _wait_connected(listener)
        _send(other, ("pay_other_schema",))
        _send(pg_schema_url, ("pay_this_schema",))
        first = heard.get(timeout=10)
        assert first.ids == ("pay_this_schema",)
        with pytest.raises(queue.Empty):
            heard.get(timeout=0.5)
    finally:
        listener.stop()
