"""Person-facing webhook actions and the queries behind the Webhooks view, on both databases."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import undefer

from core.context import Context
from core.errors import Conflict, InputError, NotFound, Refused
from core.store.models import AuditEvent, Merchant, WebhookLog
from core.webhooks import as_json
from core.webhooks import deliveries as webhooks
from core.webhooks.deliveries import WebhookFilter
from tests.webhook_receiver import ADMIN, FINANCE, SUPPORT, add_log, add_merchant, add_staff

URL = "http://127.0.0.1:9/hooks"  # never contacted in these tests


@pytest.fixture
def staffed(ctx: Context) -> Context:
    add_staff(ctx)
    return ctx


def set_status(ctx: Context, log_id: str, status: str, attempts: int = 5, **extra) -> None:
    with ctx.db.write() as s:
        log = s.get(WebhookLog, log_id)
        log.status, log.attempts = status, attempts
        log.next_retry_at = None if status != "pending" else log.next_retry_at
        log.last_attempt_at = ctx.clock.now()
        for k, v in extra.items():
            setattr(log, k, v)


def audit(ctx: Context, action: str) -> list[AuditEvent]:
    with ctx.db.read() as s:
        rows = list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))
        s.expunge_all()
        return rows


def get_log(ctx: Context, log_id: str) -> WebhookLog:
    with ctx.db.read() as s:
        row = s.get(WebhookLog, log_id)
        s.expunge_all()
        return row


def get_merchant(ctx: Context, merchant_id: str = "mer_A") -> Merchant:
    with ctx.db.read() as s:
        row = s.get(Merchant, merchant_id, options=[undefer("*")])  # the secrets too
        s.expunge_all()
        return row


# -- retry -----------------------------------------------------------------------------------


def test_retry_of_a_failed_log_makes_it_due_now_audited_and_announced(staffed):
    from core.store import notify

    add_merchant(staffed, url=URL)
    log_id = add_log(staffed)
    set_status(staffed, log_id, "failed", attempts=5, response_code=500)
    heard = []
    notify.subscribe(heard.append)
    try:
        assert webhooks.retry(staffed, SUPPORT, [log_id]) == [log_id]
    finally:
        notify.unsubscribe(heard.append)
    log = get_log(staffed, log_id)
    assert (log.status, log.next_retry_at, log.round_start, log.attempts) == (
        "pending",
        staffed.clock.now(),
        5,
        5,
    )
    assert (log.next_trigger, log.next_actor) == ("manual", SUPPORT)
    [event] = audit(staffed, "webhook.retry")
    assert (event.actor, event.entity_id) == (SUPPORT, log_id)
    assert json.loads(event.details)["previous_status"] == "failed"
    assert any(n.table == "webhook_logs" and log_id in n.ids for n in heard)


def test_retry_of_an_unknown_id_says_which_and_writes_nothing(staffed):
    add_merchant(staffed, url=URL)
    log_id = add_log(staffed)
    set_status(staffed, log_id, "failed")
    with pytest.raises(NotFound, match="There is no webhook log msg_nope"):
        webhooks.retry(staffed, SUPPORT, [log_id, "msg_nope"])
    assert get_log(staffed, log_id).status == "failed"
    assert audit(staffed, "webhook.retry") == []


def test_retry_of_a_delivered_log_is_refused_with_when(staffed):
    add_merchant(staffed, url=URL)
    log_id = add_log(staffed)
    set_status(staffed, log_id, "success", attempts=1)
    with pytest.raises(Refused, match=f"{log_id} was delivered on 2026-01-15 12:00 UTC"):
        webhooks.retry(staffed, SUPPORT, [log_id])


def test_retry_of_a_log_being_delivered_is_a_conflict(staffed):
    add_merchant(staffed, url=URL)
    log_id = add_log(staffed)
    set_status(
        staffed,
        log_id,
        "pending",
        attempts=0,
        lease_owner="other",
        lease_expires_at=staffed.clock.now() + timedelta(seconds=30),
    )
    with pytest.raises(Conflict, match="being delivered right now"):
        webhooks.retry(staffed, SUPPORT, [log_id])


def test_retry_when_the_endpoint_is_disabled_says_to_enable_it(staffed):
    add_merchant(staffed, url=URL)
    log_id = add_log(staffed)
    set_status(staffed, log_id, "failed")
    webhooks.disable_endpoint(staffed, ADMIN, "mer_A")
    with pytest.raises(Refused, match="disabled; enable it first"):
        webhooks.retry(staffed, SUPPORT, [log_id])


def test_retry_with_no_ids_is_bad_input(staffed):
    with pytest.raises(InputError, match="at least one"):
        webhooks.retry(staffed, SUPPORT, ["  "])


@pytest.mark.parametrize("who", [FINANCE, "stranger"])
def test_retry_by_someone_without_the_role_is_refused(staffed, who):
    add_merchant(staffed, url=URL)
    log_id = add_log(staffed)
    set_status(staffed, log_id, "failed")
    with pytest.raises(Refused, match=r"retry webhook deliveries|not on the Paydesk staff list"):
        webhooks.retry(staffed, who, [log_id])
    assert get_log(staffed, log_id).status == "failed"


# -- bulk retry ------------------------------------------------------------------------------


def _failed_logs(ctx: Context) -> dict[str, list[str]]:
    add_merchant(ctx, "mer_A", url=URL)
    add_merchant(ctx, "mer_B", url=URL)
    made: dict[str, list[str]] = {"A": [], "B": [], "B_refund": [], "ok": []}
    for i in range(6):
        made["A"].append(add_log(ctx, "mer_A", entity_id=f"pay_a{i}"))
    for i in range(4):
        made["B"].append(add_log(ctx, "mer_B", entity_id=f"pay_b{i}"))
    ctx.clock.advance(3600)
    for i in range(3):
        made["B_refund"].append(add_log(ctx, "mer_B", "refund.processed", f"rfnd_{i}"))
    made["ok"].append(add_log(ctx, "mer_A", entity_id="pay_ok"))
    for key, ids in made.items():
        for log_id in ids:
            set_status(ctx, log_id, "success" if key == "ok" else "failed")
    return made


def test_bulk_retry_counts_then_retries_exactly_the_matching_logs_in_one_audited_action(staffed):
    made = _failed_logs(staffed)
    f = WebhookFilter(merchant_id="mer_B")
    with staffed.db.read() as s:
        assert webhooks.count_matching(s, f) == 7
    assert webhooks.bulk_retry(staffed, SUPPORT, f) == 7
    for log_id in made["B"] + made["B_refund"]:
        log = get_log(staffed, log_id)
        assert (log.status, log.next_trigger, log.next_actor, log.round_start) == (
            "pending",
            "manual",
            SUPPORT,
            5,
        )
    assert all(get_log(staffed, i).status == "failed" for i in made["A"])
    assert get_log(staffed, made["ok"][0]).status == "success"
    [event] = audit(staffed, "webhook.bulk_retry")
    details = json.loads(event.details)
    assert details["count"] == 7 and details["filter"]["merchant_id"] == "mer_B"


def test_bulk_retry_by_event_and_time_range(staffed):
    made = _failed_logs(staffed)
    start = staffed.clock.now() - timedelta(minutes=1)
    f = WebhookFilter(event="refund.processed", created_from=start)
    with staffed.db.read() as s:
        assert webhooks.count_matching(s, f) == 3
    assert webhooks.bulk_retry(staffed, SUPPORT, f) == 3
    assert {get_log(staffed, i).status for i in made["B_refund"]} == {"pending"}
    early = WebhookFilter(created_to=start)
    with staffed.db.read() as s:
        assert webhooks.count_matching(s, early) == 10


def test_bulk_retry_matching_nothing_returns_zero_and_writes_nothing(staffed):
    _failed_logs(staffed)
    f = WebhookFilter(merchant_id="mer_nobody")
    with staffed.db.read() as s:
        assert webhooks.count_matching(s, f) == 0
    assert webhooks.bulk_retry(staffed, SUPPORT, f) == 0
    assert audit(staffed, "webhook.bulk_retry") == []


def test_bulk_retry_never_picks_up_delivered_logs(staffed):
    with pytest.raises(InputError, match="Only failed or pending"):
        webhooks.bulk_retry(staffed, SUPPORT, WebhookFilter(status="success"))


def test_bulk_retry_with_a_backwards_time_range_is_bad_input(staffed):
    now = staffed.clock.now()
    with pytest.raises(InputError, match="start of the time range is after its end"):
        webhooks.bulk_retry(
            staffed, SUPPORT, WebhookFilter(created_from=now, created_to=now - timedelta(days=1))
        )


def test_bulk_retry_by_finance_is_refused(staffed):
    made = _failed_logs(staffed)
    with pytest.raises(Refused, match="Only support or admin staff can retry"):
        webhooks.bulk_retry(staffed, FINANCE, WebhookFilter())
    assert get_log(staffed, made["A"][0]).status == "failed"


# -- test event ------------------------------------------------------------------------------


def test_test_event_queues_a_test_ping_marked_with_who_sent_it(staffed):
    add_merchant(staffed, url=URL)
    log_id = webhooks.send_test_event(staffed, SUPPORT, "mer_A")
    log = get_log(staffed, log_id)
    assert (log.event, log.status, log.next_trigger, log.next_actor) == (
        "test.ping",
        "pending",
        "test",
        SUPPORT,
    )
    assert json.loads(log.payload)["event"] == "test.ping"
    [event] = audit(staffed, "webhook.test")
    assert (event.actor, event.entity_id) == (SUPPORT, "mer_A")


def test_test_event_for_a_merchant_without_endpoint_is_refused(staffed):
    add_merchant(staffed)
    with pytest.raises(Refused, match="has no webhook endpoint"):
        webhooks.send_test_event(staffed, SUPPORT, "mer_A")


def test_test_event_for_an_unknown_merchant_is_not_found(staffed):
    with pytest.raises(NotFound, match="There is no merchant mer_zzz"):
        webhooks.send_test_event(staffed, SUPPORT, "mer_zzz")


def test_test_event_by_finance_is_refused(staffed):
    add_merchant(staffed, url=URL)
    with pytest.raises(Refused, match="send test events"):
        webhooks.send_test_event(staffed, FINANCE, "mer_A")


def test_payload_that_is_not_a_json_object_is_refused_at_enqueue(staffed):
    from core.webhooks.events import enqueue

    add_merchant(staffed, url=URL)
    with pytest.raises(InputError, match="must be a JSON object"), staffed.db.write() as s:
        enqueue(
            s,
            merchant_id="mer_A",
            event="payment.captured",
            data=[1, 2, 3],  # type: ignore[arg-type]
            entity_id=None,
            now=staffed.clock.now(),
        )
    with staffed.db.read() as s:
        assert s.scalar(select(func.count()).select_from(WebhookLog)) == 0


# -- endpoints -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "sentence"),
    [
        ("ftp://example.com/hook", "must start with http:// or https://"),
        ("example.com/hook", "must start with http:// or https://"),
        ("https:///hook", "has no host name"),
        ("https://exa mple.com/hook", "contains spaces"),
        ("https://example.com:port/hook", "host or port cannot be read"),
        ("", "Give the webhook URL"),
    ],
)
def test_malformed_url_is_refused_with_one_sentence_and_nothing_changes(staffed, url, sentence):
    add_merchant(staffed, url=URL)
    with pytest.raises(InputError, match=sentence):
        webhooks.set_endpoint(staffed, ADMIN, "mer_A", url)
    assert get_merchant(staffed).webhook_url == URL


def test_set_endpoint_gives_a_merchant_its_first_secret_and_audits_without_it(staffed):
    add_merchant(staffed)
    ep = webhooks.set_endpoint(staffed, ADMIN, "mer_A", "https://shop.example/hooks")
    m = get_merchant(staffed)
    assert m.webhook_url == "https://shop.example/hooks"
    assert m.webhook_secret.startswith("whsec_")
    assert ep.secret_masked == f"whsec_…{m.webhook_secret[-4:]}"
    [event] = audit(staffed, "endpoint.set")
    assert m.webhook_secret not in event.details
    assert json.loads(event.details)["secret_rotated"] is False


def test_rotation_keeps_the_old_secret_as_previous(staffed):
    add_merchant(staffed, url=URL)
    old = get_merchant(staffed).webhook_secret
    webhooks.set_endpoint(staffed, ADMIN, "mer_A", URL, rotate_secret=True)
    m = get_merchant(staffed)
    assert m.webhook_secret != old and m.webhook_secret_previous == old
    assert m.webhook_secret_rotated_at == staffed.clock.now()


def test_set_endpoint_by_support_is_refused(staffed):
    add_merchant(staffed)
    with pytest.raises(Refused, match="Only admin staff can change webhook endpoints"):
        webhooks.set_endpoint(staffed, SUPPORT, "mer_A", "https://shop.example/hooks")
    assert get_merchant(staffed).webhook_url is None


def test_enable_resets_health_and_disable_keeps_a_reason(staffed):
    add_merchant(staffed, url=URL)
    ep = webhooks.disable_endpoint(staffed, ADMIN, "mer_A", "Merchant asked for a pause")
    assert not ep.webhook_enabled and ep.disabled_reason == "Merchant asked for a pause"
    with staffed.db.write() as s:
        m = s.get(Merchant, "mer_A")
        m.webhook_consecutive_failures, m.webhook_failing_since = 9, staffed.clock.now()
    ep = webhooks.enable_endpoint(staffed, ADMIN, "mer_A")
    assert ep.webhook_enabled and ep.disabled_reason is None
    assert (ep.consecutive_failures, ep.failing_since) == (0, None)
    assert [e.action for e in audit(staffed, "endpoint.enable")] == ["endpoint.enable"]


def test_reveal_secret_is_admin_only_and_audited(staffed):
    add_merchant(staffed, url=URL)
    before = len(audit(staffed, "endpoint.reveal_secret"))
    with pytest.raises(Refused):
        webhooks.reveal_secret(staffed, SUPPORT, "mer_A")
    assert len(audit(staffed, "endpoint.reveal_secret")) == before
    assert webhooks.reveal_secret(staffed, ADMIN, "mer_A").startswith("whsec_")
    events = audit(staffed, "endpoint.reveal_secret")
    assert len(events) == before + 1 and events[-1].actor == ADMIN


def test_endpoint_health_counts_the_last_24_hours(staffed):
    from core.store.models import WebhookAttempt

    add_merchant(staffed, url=URL)
    log_id = add_log(staffed)
    now = staffed.clock.now()
    with staffed.db.write() as s:
        for i, (code, age) in enumerate([(200, 1), (500, 2), (200, 3), (200, 30)]):
            s.add(
                WebhookAttempt(
                    webhook_log_id=log_id,
                    number=i + 1,
                    started_at=now - timedelta(hours=age),
                    url=URL,
                    response_code=code,
                    trigger="scheduled",
                )
            )
    with staffed.db.read() as s:
        health = webhooks.endpoint_health(s, "mer_A", now)
    assert (health.attempts, health.successes) == (3, 2)
    assert health.success_rate == pytest.approx(2 / 3)


# -- the view's queries ----------------------------------------------------------------------


def test_pages_are_keyed_on_created_and_id_newest_first_without_gaps(staffed):
    add_merchant(staffed, url=URL)
    ids = []
    for i in range(25):
        ids.append(add_log(staffed, entity_id=f"pay_{i}"))
        if i % 3 == 0:
            staffed.clock.advance(1)
    seen, after = [], None
    with staffed.db.read() as s:
        while True:
            rows = webhooks.page(s, WebhookFilter(), after=after, limit=7)
            if not rows:
                break
            seen += [r.id for r in rows]
            after = rows[-1].cursor()
    assert sorted(seen) == sorted(ids) and len(seen) == 25
    with staffed.db.read() as s:
        created = [r.created_at for r in webhooks.page(s, WebhookFilter(), limit=100)]
    assert created == sorted(created, reverse=True)


def test_search_finds_a_log_by_its_id_or_by_its_payment_id(staffed):
    add_merchant(staffed, url=URL)
    target = add_log(staffed, entity_id="pay_target")
    add_log(staffed, entity_id="pay_other")
    with staffed.db.read() as s:
        assert [r.id for r in webhooks.page(s, WebhookFilter(search=target))] == [target]
        assert [r.id for r in webhooks.page(s, WebhookFilter(search=" pay_target "))] == [target]
        assert webhooks.page(s, WebhookFilter(search="pay_none")) == []


def test_status_filter_and_unknown_status(staffed):
    add_merchant(staffed, url=URL)
    a, b = add_log(staffed), add_log(staffed)
    set_status(staffed, a, "failed")
    with staffed.db.read() as s:
        assert [r.id for r in webhooks.page(s, WebhookFilter(status="failed"))] == [a]
        assert [r.id for r in webhooks.page(s, WebhookFilter(status="pending"))] == [b]
        with pytest.raises(InputError, match="not a delivery status"):
            webhooks.page(s, WebhookFilter(status="lost"))


def test_detail_has_the_payload_the_attempts_and_why_retry_is_disabled(staffed):
    add_merchant(staffed, url=URL)
    log_id = add_log(staffed)
    set_status(staffed, log_id, "success", attempts=1)
    with staffed.db.read() as s:
        d = webhooks.detail(s, log_id, staffed.clock.now())
    assert d.row.id == log_id and d.merchant_name == "Shop A"
    assert json.loads(d.payload_pretty)["data"]["payment_id"] == "pay_1"
    assert d.payload_pretty.startswith("{\n")
    assert d.retry_refusal.endswith("there is nothing to retry.")
    shown = as_json.detail_as_json(d)
    for key in ("id", "merchant_id", "event", "status", "attempts", "response_code", "gateway"):
        assert key in shown
    with staffed.db.read() as s, pytest.raises(NotFound, match="There is no webhook log msg_x"):
        webhooks.detail(s, "msg_x")


def test_bulk_retry_of_many_logs_is_one_statement(staffed):
    add_merchant(staffed, url=URL)
    with staffed.db.write() as s:
        now = staffed.clock.now()
        s.add_all(
            WebhookLog(
                id=f"msg_bulk{i:010d}",
                merchant_id="mer_A",
                event="payment.captured",
                payload="{}",
                status="failed",
                attempts=5,
                created_at=now,
                updated_at=now,
            )
            for i in range(500)
        )
    statements = []
    from sqlalchemy import event

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("UPDATE WEBHOOK_LOGS"):
            statements.append(statement)

    event.listen(staffed.db.engine, "before_cursor_execute", count)
    try:
        assert webhooks.bulk_retry(staffed, SUPPORT, WebhookFilter()) == 500
    finally:
        event.remove(staffed.db.engine, "before_cursor_execute", count)
    assert len(statements) == 1
    with staffed.db.read() as s:
        assert s.scalar(select(func.count()).where(WebhookLog.status == "pending")) == 500
