"""The dispatcher end to end: a real receiver on 127.0.0.1 that verifies every delivery with
``standardwebhooks``, both databases, the injected clock for the schedule."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from core.access import policy
from core.context import Context
from core.jobs.scheduler import Scheduler
from core.store import notify
from core.store.models import AuditEvent, Merchant, WebhookAttempt, WebhookLog
from core.webhooks import deliveries as webhooks
from core.webhooks.dispatcher import Dispatcher, dispatch_task
from core.webhooks.events import build_payload
from tests.webhook_receiver import ADMIN, SUPPORT, Receiver, add_log, add_merchant, add_staff


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def staffed(ctx: Context) -> Context:
    add_staff(ctx)
    return ctx


@pytest.fixture
def make_dispatcher(staffed: Context) -> Iterator:
    made: list[Dispatcher] = []

    def make(ctx: Context = staffed, **kw) -> Dispatcher:
        d = Dispatcher(ctx, **kw)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()


def log_row(ctx: Context, log_id: str) -> WebhookLog:
    with ctx.db.read() as s:
        row = s.get(WebhookLog, log_id)
        s.expunge_all()  # keep the loaded values after the read session ends
        return row


def attempts_of(ctx: Context, log_id: str) -> list[WebhookAttempt]:
    with ctx.db.read() as s:
        rows = list(
            s.scalars(
                select(WebhookAttempt)
                .where(WebhookAttempt.webhook_log_id == log_id)
                .order_by(WebhookAttempt.number)
            )
        )
        s.expunge_all()
        return rows


def merchant(ctx: Context, merchant_id: str = "mer_A") -> Merchant:
    with ctx.db.read() as s:
        row = s.get(Merchant, merchant_id)
        s.expunge_all()
        return row


def audit_actions(ctx: Context) -> list[tuple[str, str, str | None]]:
    with ctx.db.read() as s:
        return [
            (a.actor, a.action, a.entity_id)
            for a in s.scalars(select(AuditEvent).order_by(AuditEvent.id))
        ]


def test_due_log_is_delivered_signed_and_recorded(staffed, receiver, make_dispatcher):
    secret = add_merchant(staffed, url=receiver.url("/ok"))
    receiver.secrets = [secret]
    log_id = add_log(staffed)
    stats = make_dispatcher().run_until_idle()
    assert stats.delivered == 1
    [got] = receiver.received
    assert got.webhook_id == log_id and got.verified_with == [secret]
    assert got.body.decode() == log_row(staffed, log_id).payload
    row = log_row(staffed, log_id)
    assert (row.status, row.attempts, row.response_code, row.next_retry_at) == (
        "success",
        1,
        200,
        None,
    )
    assert row.lease_owner is None
    [a] = attempts_of(staffed, log_id)
    assert (a.number, a.response_code, a.error, a.trigger, a.url) == (
        1,
        200,
        None,
        "scheduled",
        receiver.url("/ok"),
    )
    m = merchant(staffed)
    assert m.webhook_last_success_at == staffed.clock.now()
    assert m.webhook_consecutive_failures == 0


def test_failed_attempt_is_retried_on_the_schedule_and_fails_after_the_last(
    staffed, receiver, make_dispatcher
):
    add_merchant(staffed, url=receiver.url("/status/500"))
    log_id = add_log(staffed)
    dispatcher = make_dispatcher()
    delays = []
    for attempt in range(1, 6):
        assert dispatcher.run_until_idle().attempts == 1
        row = log_row(staffed, log_id)
        assert row.attempts == attempt
        assert row.last_error == "HTTP 500 Internal Server Error"
        if attempt < 5:
            assert row.status == "pending"
            delay = (row.next_retry_at - staffed.clock.now()).total_seconds()
            delays.append(delay)
            staffed.clock.advance(delay)
    for delay, planned in zip(delays, [60, 300, 1800, 7200], strict=True):
        assert planned * 0.9 <= delay <= planned * 1.1
    row = log_row(staffed, log_id)
    assert (row.status, row.next_retry_at) == ("failed", None)
    assert [a.number for a in attempts_of(staffed, log_id)] == [1, 2, 3, 4, 5]
    assert len(set(receiver.ids())) == 1 and len(receiver.ids()) == 5
    assert merchant(staffed).webhook_consecutive_failures == 5


def test_not_due_yet_is_not_attempted(staffed, receiver, make_dispatcher):
    add_merchant(staffed, url=receiver.url("/status/500"))
    log_id = add_log(staffed)
    dispatcher = make_dispatcher()
    dispatcher.run_until_idle()
    staffed.clock.advance(50)  # first retry is due after 54..66 s
    assert dispatcher.run_until_idle().attempts == 0
    assert log_row(staffed, log_id).attempts == 1


def test_a_shortened_schedule_from_policy_gives_up_sooner(staffed, receiver, make_dispatcher):
    policy.set_value(staffed, ADMIN, "webhook_retry_schedule", "0,10")
    add_merchant(staffed, url=receiver.url("/status/503"))
    log_id = add_log(staffed)
    dispatcher = make_dispatcher()
    dispatcher.run_until_idle()
    staffed.clock.advance(11)
    dispatcher.run_until_idle()
    assert log_row(staffed, log_id).status == "failed"
    assert len(attempts_of(staffed, log_id)) == 2


def test_flaky_endpoint_succeeds_on_a_later_attempt_and_health_recovers(
    staffed, receiver, make_dispatcher
):
    add_merchant(staffed, url=receiver.url("/flaky/2"))
    log_id = add_log(staffed)
    dispatcher = make_dispatcher()
    for _ in range(3):
        dispatcher.run_until_idle()
        staffed.clock.advance(400)
        if log_row(staffed, log_id).status == "success":
            break
    row = log_row(staffed, log_id)
    assert (row.status, row.attempts) == ("success", 3)
    m = merchant(staffed)
    assert m.webhook_consecutive_failures == 0 and m.webhook_failing_since is None


def test_timeout_from_policy_is_an_outcome_and_the_log_stays_pending(
    staffed, receiver, make_dispatcher
):
    policy.set_value(staffed, ADMIN, "webhook_timeout_seconds", "0.3")
    add_merchant(staffed, url=receiver.url("/sleep/2"))
    log_id = add_log(staffed)
    make_dispatcher().run_until_idle()
    row = log_row(staffed, log_id)
    assert row.status == "pending" and row.response_code is None
    assert row.last_error == "Timed out after 0.3 s"
    assert attempts_of(staffed, log_id)[0].error == "Timed out after 0.3 s"


def test_redirect_is_a_failure_and_not_followed(staffed, receiver, make_dispatcher):
    add_merchant(staffed, url=receiver.url("/redirect"))
    log_id = add_log(staffed)
    make_dispatcher().run_until_idle()
    row = log_row(staffed, log_id)
    assert row.status == "pending" and row.response_code == 302
    assert row.last_error.startswith("Redirect to ") and row.last_error.endswith(
        "not followed (HTTP 302)"
    )
    assert [r.path for r in receiver.received] == ["/redirect"]


def test_refused_connection_is_a_failure_with_a_sentence(staffed, make_dispatcher):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    add_merchant(staffed, url=f"http://127.0.0.1:{port}/hook")
    log_id = add_log(staffed)
    make_dispatcher().run_until_idle()
    row = log_row(staffed, log_id)
    assert row.last_error == f"Connection refused by 127.0.0.1:{port}"
    assert merchant(staffed).webhook_failing_since == staffed.clock.now()


def test_410_disables_the_endpoint_audited_and_later_logs_wait_until_enabled(
    staffed, receiver, make_dispatcher
):
    add_merchant(staffed, url=receiver.url("/status/410"))
    first = add_log(staffed)
    dispatcher = make_dispatcher()
    dispatcher.run_until_idle()
    m = merchant(staffed)
    assert not m.webhook_enabled and "410 Gone" in m.webhook_disabled_reason
    assert ("system", "endpoint.disable", "mer_A") in audit_actions(staffed)
    assert log_row(staffed, first).last_error == "HTTP 410 Gone; the endpoint was disabled"
    waiting = add_log(staffed, entity_id="pay_2")
    staffed.clock.advance(3600)
    assert dispatcher.run_until_idle().attempts == 0
    assert log_row(staffed, waiting).status == "pending"
    webhooks.set_endpoint(staffed, ADMIN, "mer_A", receiver.url("/ok"))
    webhooks.enable_endpoint(staffed, ADMIN, "mer_A")
    dispatcher.run_until_idle()
    assert log_row(staffed, waiting).status == "success"
    assert log_row(staffed, first).status == "success"


def test_429_retry_after_pushes_the_next_attempt_past_the_schedule(
    staffed, receiver, make_dispatcher
):
    add_merchant(staffed, url=receiver.url("/retry-after/429/900"))
    log_id = add_log(staffed)
    make_dispatcher().run_until_idle()
    row = log_row(staffed, log_id)
    assert row.status == "pending" and row.response_code == 429
    assert row.next_retry_at - staffed.clock.now() == timedelta(seconds=900)


def test_retry_after_longer_than_an_hour_is_cut_to_an_hour(staffed, receiver, make_dispatcher):
    add_merchant(staffed, url=receiver.url("/retry-after/503/100000"))
    log_id = add_log(staffed)
    make_dispatcher().run_until_idle()
    assert log_row(staffed, log_id).next_retry_at - staffed.clock.now() == timedelta(hours=1)


def test_payload_that_is_not_a_json_object_fails_without_being_sent(
    staffed, receiver, make_dispatcher
):
    add_merchant(staffed, url=receiver.url("/ok"))
    log_id = add_log(staffed)
    with staffed.db.write() as s:
        s.get(WebhookLog, log_id).payload = "[1, 2, 3]"
    make_dispatcher().run_until_idle()
    row = log_row(staffed, log_id)
    assert row.status == "failed"
    assert row.last_error == "The payload is not a JSON object; it was not sent."
    assert receiver.received == []


def test_50_mb_answer_is_kept_to_16_kib(staffed, receiver, make_dispatcher):
    add_merchant(staffed, url=receiver.url("/big"))
    log_id = add_log(staffed)
    make_dispatcher().run_until_idle()
    row = log_row(staffed, log_id)
    assert row.status == "success"
    assert row.response_body.count("x") == 16 * 1024


def test_endpoint_failing_for_the_policy_period_is_disabled_and_audited(
    staffed, receiver, make_dispatcher
):
    add_merchant(staffed, url=receiver.url("/status/500"))
    add_log(staffed)
    dispatcher = make_dispatcher()
    dispatcher.run_until_idle()
    staffed.clock.advance(timedelta(days=4, hours=23))
    add_log(staffed, entity_id="pay_2")
    dispatcher.run_until_idle()
    assert merchant(staffed).webhook_enabled
    staffed.clock.advance(timedelta(hours=2))
    add_log(staffed, entity_id="pay_3")
    dispatcher.run_until_idle()
    m = merchant(staffed)
    assert not m.webhook_enabled
    assert "failed" in m.webhook_disabled_reason and "5 days" in m.webhook_disabled_reason
    assert ("system", "endpoint.disable", "mer_A") in audit_actions(staffed)


def test_rotation_signs_with_both_secrets_for_24_hours_then_only_the_new(
    staffed, receiver, make_dispatcher
):
    old = add_merchant(staffed, url=receiver.url("/ok"))
    webhooks.set_endpoint(staffed, ADMIN, "mer_A", receiver.url("/ok"), rotate_secret=True)
    new = webhooks.reveal_secret(staffed, ADMIN, "mer_A")
    assert new != old
    receiver.secrets = [old, new]
    dispatcher = make_dispatcher()
    add_log(staffed)
    dispatcher.run_until_idle()
    assert receiver.received[0].verified_with == [old, new]
    staffed.clock.advance(timedelta(hours=24, seconds=1))
    add_log(staffed, entity_id="pay_2")
    dispatcher.run_until_idle()
    assert receiver.received[1].verified_with == [new]


def test_manual_retry_starts_a_new_round_and_keeps_the_history(staffed, receiver, make_dispatcher):
    policy.set_value(staffed, ADMIN, "webhook_retry_schedule", "0,10")
    add_merchant(staffed, url=receiver.url("/flaky/2"))
    log_id = add_log(staffed)
    dispatcher = make_dispatcher()
    dispatcher.run_until_idle()
    staffed.clock.advance(12)
    dispatcher.run_until_idle()
    assert log_row(staffed, log_id).status == "failed"
    webhooks.retry(staffed, SUPPORT, [log_id])
    row = log_row(staffed, log_id)
    assert (row.status, row.next_retry_at, row.round_start) == ("pending", staffed.clock.now(), 2)
    dispatcher.run_until_idle()
    row = log_row(staffed, log_id)
    assert (row.status, row.attempts) == ("success", 3)
    history = attempts_of(staffed, log_id)
    assert [(a.number, a.trigger, a.actor) for a in history] == [
        (1, "scheduled", None),
        (2, "scheduled", None),
        (3, "manual", SUPPORT),
    ]
    assert set(receiver.ids()) == {log_id}


def test_a_manual_round_gets_the_whole_schedule_again(staffed, receiver, make_dispatcher):
    policy.set_value(staffed, ADMIN, "webhook_retry_schedule", "0,10")
    add_merchant(staffed, url=receiver.url("/status/500"))
    log_id = add_log(staffed)
    dispatcher = make_dispatcher()
    for _ in range(2):
        dispatcher.run_until_idle()
        staffed.clock.advance(12)
    webhooks.retry(staffed, SUPPORT, [log_id])
    dispatcher.run_until_idle()
    assert log_row(staffed, log_id).status == "pending"
    staffed.clock.advance(12)
    dispatcher.run_until_idle()
    row = log_row(staffed, log_id)
    assert (row.status, row.attempts) == ("failed", 4)


def test_test_event_is_delivered_at_once_and_marked_as_test(staffed, receiver, make_dispatcher):
    secret = add_merchant(staffed, url=receiver.url("/ok"))
    receiver.secrets = [secret]
    log_id = webhooks.send_test_event(staffed, SUPPORT, "mer_A")
    outcomes = make_dispatcher(concurrency=1).deliver([log_id])
    assert outcomes[log_id].ok
    assert json.loads(receiver.received[0].body)["event"] == "test.ping"
    assert receiver.received[0].verified_with == [secret]
    [a] = attempts_of(staffed, log_id)
    assert (a.trigger, a.actor) == ("test", SUPPORT)


def test_two_dispatchers_on_one_database_never_send_the_same_attempt_twice(
    staffed, receiver, make_dispatcher
):
    for m in ("mer_A", "mer_B", "mer_C"):
        add_merchant(staffed, m, url=receiver.url("/ok"))
    ids = {
        add_log(staffed, m, entity_id=None) for m in ("mer_A", "mer_B", "mer_C") for _ in range(100)
    }
    a = make_dispatcher(concurrency=8, claim_batch=16)
    b = make_dispatcher(concurrency=8, claim_batch=16)
    stats = {}
    threads = [
        threading.Thread(target=lambda d=d, k=k: stats.__setitem__(k, d.run_until_idle()))
        for k, d in (("a", a), ("b", b))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts = Counter(receiver.ids())
    assert set(counts) == ids
    assert max(counts.values()) == 1
    assert stats["a"].delivered + stats["b"].delivered == 300
    with staffed.db.read() as s:
        assert len(list(s.scalars(select(WebhookAttempt.id)))) == 300
        assert set(s.scalars(select(WebhookLog.status))) == {"success"}


def test_lease_of_a_copy_that_died_mid_attempt_is_reclaimed_with_the_same_webhook_id(
    staffed, receiver, make_dispatcher, db_url
):
    secret = add_merchant(staffed, url=receiver.url("/hold"))
    receiver.secrets = [secret]
    log_id = add_log(staffed)
    # Another copy of Paydesk, in its own process, takes the log and hangs in the attempt...
    code = (
        "import sys\n"
        "from core.clock import FrozenClock\n"
        "from core.context import Context\n"
        "from core.store.db import open_database\n"
        "from core.webhooks.dispatcher import Dispatcher\n"
        "from datetime import datetime\n"
        "ctx = Context(open_database(sys.argv[1]), FrozenClock(datetime.fromisoformat(sys.argv[2])), 'doomed')\n"
        "Dispatcher(ctx, concurrency=1).run_until_idle()\n"
    )
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, db_url, staffed.clock.now().isoformat()], env=env
    )
    try:
        assert receiver.wait_for(1, timeout=30)
        # ...and dies there.
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    receiver.release()
    row = log_row(staffed, log_id)
    assert row.status == "pending" and row.lease_owner.startswith("doomed/")
    dispatcher = make_dispatcher()
    assert dispatcher.run_until_idle().attempts == 0  # the lease still holds
    staffed.clock.advance(row.lease_expires_at - staffed.clock.now() + timedelta(seconds=1))
    assert dispatcher.run_until_idle().delivered == 1
    assert receiver.ids() == [log_id, log_id]
    assert all(r.verified_with == [secret] for r in receiver.received)
    row = log_row(staffed, log_id)
    assert (row.status, row.attempts) == ("success", 1)


def test_outcome_of_a_lost_lease_is_not_recorded(staffed, receiver, make_dispatcher):
    add_merchant(staffed, url=receiver.url("/ok"))
    log_id = add_log(staffed)
    slow = make_dispatcher(lease_seconds=10)
    items, timeout = slow._claim(10, [], None)
    staffed.clock.advance(11)
    make_dispatcher().run_until_idle()  # took the log over and delivered it
    done_q: queue.SimpleQueue = queue.SimpleQueue()
    slow._attempt(items[0], timeout, done_q)
    stats = slow._record([done_q.get()])
    assert stats.lost_leases == 1
    assert len(attempts_of(staffed, log_id)) == 1


def test_disabled_endpoint_logs_wait_and_are_not_lost(staffed, receiver, make_dispatcher):
    add_merchant(staffed, url=receiver.url("/ok"))
    webhooks.disable_endpoint(staffed, ADMIN, "mer_A", "Maintenance")
    log_id = add_log(staffed)
    dispatcher = make_dispatcher()
    assert dispatcher.run_until_idle().attempts == 0
    webhooks.enable_endpoint(staffed, ADMIN, "mer_A")
    dispatcher.run_until_idle()
    assert log_row(staffed, log_id).status == "success"


def test_new_log_wakes_a_waiting_dispatcher_without_polling(staffed, receiver, make_dispatcher):
    add_merchant(staffed, url=receiver.url("/ok"))
    dispatcher = make_dispatcher(poll_interval=120)
    dispatcher.start()
    try:
        log_id = add_log(staffed)
        assert receiver.wait_for(1, timeout=10)
        assert receiver.ids() == [log_id]
    finally:
        dispatcher.stop()


def test_other_copy_notice_over_postgres_wakes_the_dispatcher(staffed, receiver, make_dispatcher):
    if not staffed.db.is_postgres:
        pytest.skip("LISTEN/NOTIFY is Postgres only")
    add_merchant(staffed, url=receiver.url("/ok"))
    dispatcher = make_dispatcher(poll_interval=120)
    dispatcher.start()
    try:
        listener = dispatcher._listener
        for _ in range(100):
            if listener.connected:
                break
            threading.Event().wait(0.05)
        assert listener.connected
        # Another copy adds a log and notifies; nothing is announced inside this process.
        now = staffed.clock.now()
        log_id = "msg_fromothercopy01"
        with staffed.db.write() as s:
            s.add(
                WebhookLog(
                    id=log_id,
                    merchant_id="mer_A",
                    event="payment.captured",
                    payload=build_payload(log_id, "payment.captured", now, {"n": 1}),
                    status="pending",
                    attempts=0,
                    next_retry_at=now,
                    created_at=now,
                    updated_at=now,
                )
            )
        notice = notify.Notice("webhook_logs", (log_id,), "pending", "other-copy")
        with staffed.db.engine.connect() as conn:
            conn.execute(
                text(f"SELECT pg_notify({notify.CHANNEL_OF_SCHEMA}, :p)"), {"p": notice.encode()}
            )
            conn.commit()
        assert receiver.wait_for(1, timeout=10)
        assert receiver.ids() == [log_id]
    finally:
        dispatcher.stop()


def test_scheduler_task_delivers_and_reports_the_count(staffed, receiver):
    add_merchant(staffed, url=receiver.url("/ok"))
    add_log(staffed)
    add_log(staffed, entity_id="pay_2")
    task = dispatch_task()
    assert (task.name, task.interval) == ("webhook_dispatch", 1.0)
    scheduler = Scheduler(staffed, [task])
    try:
        states = scheduler.run_once()
    finally:
        scheduler.stop()
    assert states["webhook_dispatch"].last_outcome == "ok"
    assert states["webhook_dispatch"].last_message == "2 delivered"
    assert len(receiver.received) == 2
