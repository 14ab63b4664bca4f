"""Retrying a gateway's webhook logs: forwarded to the gateway (``POST /webhooks/{id}/retry``)
over real HTTP to the fake gateway, on SQLite and Postgres."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from core.errors import Refused
from core.gateway import connections, secrets, sync
from core.gateway.client import PROBE_LOG
from core.gateway.errors import GatewayError, GatewayServerError
from core.store.models import AuditEvent, WebhookLog
from core.webhooks import deliveries as webhooks
from core.webhooks.deliveries import WebhookFilter
from tests.fake_gateway import API_KEY, API_SECRET, FakeGateway, Variation
from tests.webhook_receiver import ADMIN, FINANCE, SUPPORT, add_merchant, add_staff

URL = "http://127.0.0.1:9/hooks"  # Paydesk's own endpoint: never contacted here


@pytest.fixture
def gw() -> Iterator[FakeGateway]:
    gateway = FakeGateway(Variation())
    yield gateway
    gateway.close()


def _synced(ctx, gw: FakeGateway, failed: int = 1) -> dict[str, str]:
    """Connect ``acme``, give the gateway ``failed`` failed logs and sync them; returns
    Paydesk's log id -> the gateway's log id."""
    for _ in range(failed):
        gw.add_log("payment.success", gw.add_payment(), status="failed")
    add_staff(ctx)
    connections.add_connection(ctx, ADMIN, "acme", gw.api, API_KEY, API_SECRET)
    assert sync.sync_connection(ctx, "acme").error is None
    with ctx.db.read() as s:
        rows = s.execute(
            select(WebhookLog.id, WebhookLog.gateway_log_id).where(WebhookLog.gateway == "acme")
        ).all()
    assert len(rows) == failed
    return {r[0]: r[1] for r in rows}


def _retry_posts(gw: FakeGateway) -> list[str]:
    """The gateway log ids the gateway was asked to retry (the route probe left out)."""
    with gw.lock:
        paths = [r.path for r in gw.requests if r.method == "POST" and r.path.endswith("/retry")]
    return [p.split("/")[-2] for p in paths if PROBE_LOG not in p]


def _audit(ctx, action: str) -> list[tuple[str, str | None, dict]]:
    """(actor, entity id, details) of each audit event of ``action``."""
    with ctx.db.read() as s:
        rows = s.execute(
            select(AuditEvent.actor, AuditEvent.entity_id, AuditEvent.details).where(
                AuditEvent.action == action
            )
        ).all()
    return [(r[0], r[1], json.loads(r[2]) if isinstance(r[2], str) else r[2]) for r in rows]


def _own_failed(ctx, n: int) -> list[str]:
    add_merchant(ctx, url=URL)
    now = ctx.clock.now()
    ids = [f"msg_own{i:010d}" for i in range(n)]
    with ctx.db.write() as s:
        s.add_all(
            WebhookLog(
                id=i,
                merchant_id="mer_A",
                event="payment.captured",
                payload="{}",
                status="failed",
                attempts=5,
                created_at=now,
                updated_at=now,
            )
            for i in ids
        )
    return ids


def test_retry_of_a_gateway_log_asks_the_gateway_and_is_audited(ctx, gw) -> None:
    [(log_id, gateway_id)] = _synced(ctx, gw).items()
    with ctx.db.read() as s:
        assert webhooks.detail(s, log_id).retry_refusal is None
    assert webhooks.retry(ctx, SUPPORT, [log_id]) == [log_id]
    assert _retry_posts(gw) == [gateway_id]
    [(actor, entity, details)] = _audit(ctx, "webhook.retry")
    assert (actor, entity) == (SUPPORT, log_id)
    assert details["gateway_log_id"] == gateway_id
    assert details["request"] == f"POST /webhooks/{gateway_id}/retry"
    assert details["gateway_status"] == "pending"
    with ctx.db.read() as s:
        log = s.get(WebhookLog, log_id)
        # Nothing changes here: Paydesk's dispatcher never picks it up.
        assert (log.status, log.next_trigger) == ("failed", None)
    sync.sync_connection(ctx, "acme")
    with ctx.db.read() as s:
        assert s.get(WebhookLog, log_id).status == "pending"


def test_a_gateway_without_the_retry_route_refuses_and_sends_nothing(ctx) -> None:
    gw = FakeGateway(Variation(retry_route=False))
    try:
        [log_id] = _synced(ctx, gw)
        with ctx.db.read() as s:
            why = webhooks.detail(s, log_id).retry_refusal
        assert why == (
            "The gateway of acme has no retry route (POST /webhooks/{id}/retry); "
            "it retries its deliveries on its own schedule."
        )
        with pytest.raises(Refused) as refused:
            webhooks.retry(ctx, SUPPORT, [log_id])
        assert str(refused.value) == why
        assert _retry_posts(gw) == []
        assert _audit(ctx, "webhook.retry") == []
    finally:
        gw.close()


def test_a_copy_without_the_secret_refuses_and_says_where_to_put_it(ctx, gw) -> None:
    [log_id] = _synced(ctx, gw)
    secrets.forget("acme")
    with ctx.db.read() as s:
        why = webhooks.detail(s, log_id).retry_refusal
    assert why and "does not hold the secret of acme" in why
    assert "PAYDESK_GATEWAY_SECRET_ACME" in why and API_SECRET not in why
    with pytest.raises(Refused, match="does not hold the secret of acme"):
        webhooks.retry(ctx, SUPPORT, [log_id])
    assert _retry_posts(gw) == []


def test_a_delivered_gateway_log_has_nothing_to_retry(ctx, gw) -> None:
    gw.seed(payments=1, logs=1)
    add_staff(ctx)
    connections.add_connection(ctx, ADMIN, "acme", gw.api, API_KEY, API_SECRET)
    sync.sync_connection(ctx, "acme")
    with ctx.db.read() as s:
        log_id = s.scalar(select(WebhookLog.id).where(WebhookLog.gateway == "acme"))
        assert webhooks.detail(s, log_id).retry_refusal.endswith("there is nothing to retry.")


def test_a_gateway_error_is_one_sentence_and_nothing_is_recorded(ctx, gw) -> None:
    [log_id] = _synced(ctx, gw)
    gw.vary(fail_status=500)
    with pytest.raises(GatewayServerError) as failed:
        webhooks.retry(ctx, SUPPORT, [log_id])
    said = str(failed.value)
    assert said == f"The gateway at {gw.api} failed with 500; {log_id} was not retried."
    assert _audit(ctx, "webhook.retry") == []


def test_finance_may_not_retry_gateway_logs_and_admin_may(ctx, gw) -> None:
    logs = _synced(ctx, gw, failed=2)
    first, second = sorted(logs)
    with pytest.raises(Refused):
        webhooks.retry(ctx, FINANCE, [first])
    with pytest.raises(Refused):
        webhooks.bulk_retry(ctx, FINANCE, WebhookFilter())
    assert _retry_posts(gw) == []
    webhooks.retry(ctx, ADMIN, [second])
    assert _retry_posts(gw) == [logs[second]]


def test_bulk_retry_forwards_gateway_logs_and_requeues_paydesks_own(ctx, gw) -> None:
    logs = _synced(ctx, gw, failed=10)
    own = _own_failed(ctx, 3)
    gw.vary(delay=0.05)
    with ctx.db.read() as s:
        assert webhooks.count_matching(s, WebhookFilter()) == 13
    assert webhooks.bulk_retry(ctx, SUPPORT, WebhookFilter()) == 13
    assert sorted(_retry_posts(gw)) == sorted(logs.values())
    assert 1 < gw.most_in_flight <= 4
    with ctx.db.read() as s:
        for log_id in own:
            log = s.get(WebhookLog, log_id)
            assert (log.status, log.next_trigger, log.next_actor) == ("pending", "manual", SUPPORT)
        for log_id in logs:
            assert s.get(WebhookLog, log_id).status == "failed"  # until the next sync
    [(_actor, _entity, details)] = _audit(ctx, "webhook.bulk_retry")
    assert (details["count"], details["own"], details["gateway"]) == (13, 3, 10)
    # Each call the gateway accepted is audited as it was asked and answered.
    forwarded = _audit(ctx, "webhook.retry")
    assert sorted(e for _a, e, _d in forwarded) == sorted(logs)
    assert all(d["bulk"] and d["gateway_status"] == "pending" for _a, _e, d in forwarded)


def test_bulk_retry_without_the_retry_route_leaves_them_out_and_says_why_first(ctx) -> None:
    gw = FakeGateway(Variation(retry_route=False))
    try:
        _synced(ctx, gw, failed=2)
        own = _own_failed(ctx, 3)
        with ctx.db.read() as s:
            plan = webhooks.bulk_plan(s, WebhookFilter(), ctx.clock.now())
        assert (plan.count, plan.left_out_count) == (3, 2)
        assert plan.lines() == [
            "5 failed deliveries match; 3 will be retried, 2 left out:",
            "2 deliveries left out: The gateway of acme has no retry route "
            "(POST /webhooks/{id}/retry); it retries its deliveries on its own schedule.",
        ]
        assert webhooks.bulk_retry(ctx, SUPPORT, WebhookFilter()) == 3
        assert _retry_posts(gw) == []
        with ctx.db.read() as s:
            assert all(s.get(WebhookLog, i).status == "pending" for i in own)
        [(_actor, _entity, details)] = _audit(ctx, "webhook.bulk_retry")
        assert (details["count"], details["left_out"]) == (3, 2)
    finally:
        gw.close()


def test_a_retry_naming_own_and_gateway_logs_is_refused_whole_when_one_cannot_go(ctx) -> None:
    gw = FakeGateway(Variation(retry_route=False))
    try:
        [gateway_log] = _synced(ctx, gw)
        [own] = _own_failed(ctx, 1)
        with pytest.raises(Refused, match="has no retry route"):
            webhooks.retry(ctx, SUPPORT, [own, gateway_log])
        with ctx.db.read() as s:
            assert s.get(WebhookLog, own).status == "failed"  # nothing committed
        assert _retry_posts(gw) == [] and _audit(ctx, "webhook.retry") == []
    finally:
        gw.close()


def test_without_the_secret_a_mixed_retry_sends_nothing_and_commits_nothing(ctx, gw) -> None:
    [gateway_log] = _synced(ctx, gw)
    [own] = _own_failed(ctx, 1)
    secrets.forget("acme")
    with pytest.raises(Refused, match="does not hold the secret of acme"):
        webhooks.retry(ctx, SUPPORT, [own, gateway_log])
    with ctx.db.read() as s:
        assert s.get(WebhookLog, own).status == "failed"
    assert _retry_posts(gw) == [] and _audit(ctx, "webhook.retry") == []


def test_a_gateway_that_fails_the_call_leaves_paydesks_own_logs_as_they_were(ctx, gw) -> None:
    [gateway_log] = _synced(ctx, gw)
    [own] = _own_failed(ctx, 1)
    gw.vary(fail_status=500)
    with pytest.raises(GatewayError) as failed:
        webhooks.retry(ctx, SUPPORT, [own, gateway_log])
    assert str(failed.value) == (
        f"The gateway at {gw.api} failed with 500; {gateway_log} was not retried. "
        "Nothing else was retried."
    )
    with ctx.db.read() as s:
        assert s.get(WebhookLog, own).status == "failed"
    assert _audit(ctx, "webhook.retry") == []
    gw.vary(fail_status=0)
    assert webhooks.retry(ctx, SUPPORT, [own, gateway_log]) == [own, gateway_log]
    with ctx.db.read() as s:
        assert s.get(WebhookLog, own).status == "pending"
    assert sorted(e for _a, e, _d in _audit(ctx, "webhook.retry")) == sorted([own, gateway_log])


def test_bulk_retry_of_gateway_logs_reports_progress_and_stops_on_cancel(ctx, gw) -> None:
    import threading

    logs = _synced(ctx, gw, failed=40)
    gw.vary(delay=0.1)
    cancel = threading.Event()
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        if done == 2:
            cancel.set()  # as the person presses Cancel

    outcome = webhooks.run_bulk_retry(
        ctx, SUPPORT, WebhookFilter(), progress=progress, cancel=cancel
    )
    posted = _retry_posts(gw)
    assert outcome.cancelled and 2 <= outcome.sent == len(posted) < 40
    assert len(outcome.forwarded.not_sent) == 40 - outcome.sent
    assert seen[0] == (1, 40) and all(total == 40 for _d, total in seen)
    assert 1 < gw.most_in_flight <= 4
    assert outcome.sentence() == (
        f"Stopped: {outcome.sent} of 40 gateway retries were sent before Cancel; "
        f"{40 - outcome.sent} were not sent."
    )
    # What was sent is audited, log by log; what was not sent is not.
    assert sorted(e for _a, e, _d in _audit(ctx, "webhook.retry")) == sorted(
        i for i in logs if logs[i] in posted
    )
