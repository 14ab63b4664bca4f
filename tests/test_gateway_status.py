"""Each gateway connection's reachability, last sync and queue status (core.gateway.status),
against the fake gateway over real HTTP on 127.0.0.1, on SQLite and Postgres."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.gateway import connections, status, sync
from tests.fake_gateway import API_KEY, API_SECRET, FakeGateway, Variation
from tests.webhook_receiver import ADMIN, add_staff


@pytest.fixture
def gw() -> Iterator[FakeGateway]:
    gateway = FakeGateway()
    yield gateway
    gateway.close()


def _connect(ctx, gw: FakeGateway, name: str) -> None:
    add_staff(ctx)
    connections.add_connection(ctx, ADMIN, name, gw.api, API_KEY, API_SECRET)


def _by_name(ctx, **kw) -> dict[str, status.GatewayStatus]:
    return {s.name: s for s in status.gateway_statuses(ctx.db, now=ctx.clock.now(), **kw)}


def test_no_connections_no_rows(ctx) -> None:
    assert status.gateway_statuses(ctx.db, now=ctx.clock.now()) == []


def test_a_reachable_gateway_shows_its_queue_now_and_its_last_sync(ctx, gw) -> None:
    gw.seed(payments=3, refunds=2)
    _connect(ctx, gw, "acme")
    before = _by_name(ctx)["acme"]
    assert before.last_sync_at is None and before.last_sync_outcome is None
    assert before.reachability == status.REACHABLE and before.checked == "now"
    sync.sync_connection(ctx, "acme")
    s = _by_name(ctx)["acme"]
    assert s.reachability == status.REACHABLE
    assert s.last_sync_outcome == "ok" and s.last_sync_at is not None and not s.stale
    assert s.queue_live and s.queue is not None
    assert (s.queue["pending"], s.queue["completed"], s.queue["failed"]) == (2, 7, 1)
    assert s.queue_text() == "2 pending · 0 processing · 7 completed · 1 failed · worker running"
    # The call needs no credentials, and none are sent.
    probe = [r for r in gw.requests if r.path.endswith("/test/jobs/status")][-1]
    assert "x-api-secret" not in probe.headers and "x-api-key" not in probe.headers


def test_a_gateway_that_went_away_is_unreachable_and_the_other_still_answers(ctx, gw) -> None:
    other = FakeGateway()
    _connect(ctx, gw, "acme")
    _connect(ctx, other, "beta")
    sync.sync_connection(ctx, "acme")
    sync.sync_connection(ctx, "beta")
    other.close()  # nothing listens on its port any more
    rows = _by_name(ctx)
    assert rows["acme"].reachability == status.REACHABLE
    beta = rows["beta"]
    assert beta.reachability == status.UNREACHABLE and beta.checked == "now"
    assert "cannot be reached" in beta.detail and other.api in beta.detail
    # What the last sync saw stays, marked as not read now.
    assert not beta.queue_live and beta.queue is not None and beta.queue["completed"] == 7
    assert beta.last_sync_outcome == "ok"


def test_a_gateway_slower_than_the_timeout_counts_as_not_answering(ctx, gw) -> None:
    _connect(ctx, gw, "acme")
    gw.vary(delay=1.5)
    s = _by_name(ctx, timeout=0.3)["acme"]
    assert s.reachability == status.UNREACHABLE
    assert "did not answer in time" in s.detail


def test_a_gateway_without_the_queue_route_says_not_offered(ctx) -> None:
    plain = FakeGateway(Variation(queue_status=False))
    try:
        _connect(ctx, plain, "plain")
        s = _by_name(ctx)["plain"]
    finally:
        plain.close()
    assert not s.queue_offered and s.queue is None
    assert s.queue_text() == "Queue status not offered"
    assert s.as_json()["queue_status"] == "not offered"
    # Reachability from its health route, asked now.
    assert s.reachability == status.REACHABLE and "health check" in s.detail


def test_without_probing_the_last_sync_decides(ctx, gw) -> None:
    _connect(ctx, gw, "acme")
    assert _by_name(ctx, probe=False)["acme"].reachability == status.UNKNOWN
    sync.sync_connection(ctx, "acme")
    assert _by_name(ctx, probe=False)["acme"].reachability == status.REACHABLE
    gw.vary(fail_status=503)
    failed = sync.sync_connection(ctx, "acme")
    assert failed.error
    s = _by_name(ctx, probe=False)["acme"]
    assert s.reachability == status.UNREACHABLE and s.checked == "last sync"
    assert s.detail == failed.error and s.last_sync_outcome == "error"


def test_a_removed_connection_is_not_listed(ctx, gw) -> None:
    _connect(ctx, gw, "acme")
    connections.remove_connection(ctx, ADMIN, "acme")
    assert _by_name(ctx) == {}
