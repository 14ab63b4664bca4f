"""``paydesk health``: what it checks, its thresholds, its exit codes and its JSON."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from core.cli import main
from core.health import check as health
from core.health.quick import DEFAULT_THRESHOLDS, ONLINE_WITHIN, light_check
from core.jobs import runs
from core.store.models import (
    Client,
    GatewayConnection,
    Merchant,
    Payment,
    PolicySetting,
    Refund,
    TaskRun,
    WebhookLog,
)
from tests.conftest import modules_loaded_by

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def run(db, now=NOW) -> health.HealthReport:
    """The full check; the command's quick path must give the same report (or step aside)."""
    full = health.check(db, now)
    light = light_check(db.target.url.render_as_string(hide_password=False), now)
    if full.reachable and full.schema_revision == full.app_revision:
        assert light is not None
        assert replace(light, round_trip_ms=None) == replace(full, round_trip_ms=None)
    else:
        assert light is None
    return full


def add_merchant(session, mid="mer_a", **kw):
    values = dict(id=mid, name=mid.upper(), email=f"{mid}@x.test", created_at=NOW)
    values.update(kw)
    session.add(Merchant(**values))
    session.flush()


def due_delivery(session, n, due_at):
    session.add(
        WebhookLog(
            id=f"msg_{n:06d}",
            merchant_id="mer_a",
            event="payment.captured",
            payload="{}",
            status="pending",
            attempts=0,
            next_retry_at=due_at,
            created_at=due_at,
            updated_at=due_at,
        )
    )


def set_policy(db, key, value):
    with db.write() as s:
        s.merge(PolicySetting(key=key, value=json.dumps(value), updated_at=NOW))


# -- task runs ----------------------------------------------------------------------------------------


def test_record_task_run_keeps_one_row_per_task_and_copy(db):
    with db.write() as s:
        for i in range(3):
            runs.record_task_run(
                s,
                task="heartbeat",
                client_id="copy-1",
                at=NOW + timedelta(seconds=15 * i),
                outcome="ok",
                message=f"{i + 1} copies online",
                next_run_at=NOW + timedelta(seconds=15 * (i + 1)),
                title="Presence heartbeat",
                interval=15.0,
                duration=0.0123,
            )
    with db.read() as s:
        rows = [
            (r.last_run_at, r.message, r.duration_ms, r.next_run_at, r.interval_seconds)
            for r in s.query(TaskRun)
        ]
    assert rows == [
        (NOW + timedelta(seconds=30), "3 copies online", 12, NOW + timedelta(seconds=45), 15.0)
    ]


def test_a_task_is_late_only_when_no_copy_still_plans_to_run_it(db):
    grace = timedelta(seconds=300)
    with db.write() as s:
        # Copy 1 stopped an hour ago; copy 2 runs the task now.
        runs.record_task_run(
            s,
            task="webhook_dispatch",
            client_id="copy-1",
            at=NOW - timedelta(hours=1),
            outcome="ok",
            next_run_at=NOW - timedelta(hours=1) + timedelta(seconds=5),
        )
        runs.record_task_run(
            s,
            task="webhook_dispatch",
            client_id="copy-2",
            at=NOW - timedelta(seconds=2),
            outcome="ok",
            next_run_at=NOW + timedelta(seconds=3),
        )
    with db.read() as s:
        (task,) = health.task_health(s, NOW, grace)
    assert not task.late and task.client_id == "copy-2" and task.sentence() is None
    with db.read() as s:
        (task,) = health.task_health(s, NOW + timedelta(seconds=303), grace)
    assert not task.late  # within the grace period
    with db.read() as s:
        (task,) = health.task_health(s, NOW + timedelta(minutes=10), grace)
    assert task.late and task.late_by == timedelta(minutes=10) - timedelta(seconds=3)
    assert task.sentence() == "The task 'webhook_dispatch' is 9 min late; no running copy ran it."


def test_a_failed_last_run_is_erroring_with_its_sentence(db):
    with db.write() as s:
        runs.record_task_run(
            s,
            task="refund_processing",
            client_id="copy-1",
            at=NOW,
            outcome="error",
            message="The database is locked.",
            next_run_at=NOW + timedelta(seconds=30),
            title="Process refunds",
        )
    with db.read() as s:
        (task,) = health.task_health(s, NOW, timedelta(seconds=300))
    assert task.erroring
    assert task.sentence() == (
        "The task 'Process refunds' failed on its last run: The database is locked."
    )


def test_an_unknown_outcome_is_refused(db):
    with pytest.raises(ValueError), db.write() as s:
        runs.record_task_run(s, task="x", client_id="c", at=NOW, outcome="fine")


# -- the checks ----------------------------------------------------------------------------------------


def test_a_fresh_database_is_healthy(db):
    report = run(db)
    assert report.healthy and report.exit_code == 0 and report.status == "healthy"
    assert report.problems == ()
    assert report.schema_revision == report.app_revision == health.head_revision()
    assert report.round_trip_ms is not None and report.round_trip_ms >= 0
    assert report.mode == ("shared" if db.is_postgres else "standalone")


def test_a_webhook_backlog_over_the_limit_or_too_old_is_a_problem(db):
    with db.write() as s:
        add_merchant(s)
        for n in range(3):
            due_delivery(s, n, NOW - timedelta(minutes=20 - n))
        due_delivery(s, 9, NOW + timedelta(minutes=5))  # not due yet
    report = run(db)
    assert report.webhook_backlog == 3
    assert report.webhook_backlog_oldest_due == NOW - timedelta(minutes=20)
    assert report.problems == (
        "The oldest due webhook delivery has waited 20 min, more than 15 min.",
    )
    set_policy(db, "health_webhook_backlog_max", 2)
    set_policy(db, "health_webhook_backlog_minutes", 0)  # off
    assert run(db).problems == ("3 webhook deliveries are due, more than 2.",)


def test_a_refund_waiting_too_long_for_approval_is_a_problem(db):
    with db.write() as s:
        add_merchant(s)
        s.add(
            Payment(
                id="pay_1",
                merchant_id="mer_a",
                order_id="o1",
                amount=1000,
                currency="INR",
                method="upi",
                status="success",
                captured=True,
                created_at=NOW - timedelta(days=9),
                updated_at=NOW,
            )
        )
        s.flush()
        s.add(
            Refund(
                id="rfnd_1",
                payment_id="pay_1",
                merchant_id="mer_a",
                amount=100,
                currency="INR",
                kind="partial",
                reason="other",
                status="pending_approval",
                requested_by="asha",
                created_at=NOW - timedelta(hours=80),
                updated_at=NOW,
            )
        )
    report = run(db)
    assert report.refunds_awaiting == 1 and report.refund_oldest_age == timedelta(hours=80)
    assert report.problems == (
        "The oldest refund awaiting approval was requested 3 d 8 h ago, more than 72 h.",
    )
    set_policy(db, "health_refund_wait_hours", 96)
    assert run(db).healthy


def test_a_disabled_endpoint_is_a_problem_but_a_merchant_without_one_is_not(db):
    with db.write() as s:
        add_merchant(s, "mer_none", webhook_enabled=False)
        add_merchant(
            s,
            "mer_gone",
            webhook_url="https://gone.example/h",
            webhook_enabled=False,
            webhook_disabled_reason="The endpoint answered 410 Gone.",
        )
    report = run(db)
    assert [e.merchant_id for e in report.disabled_endpoints] == ["mer_gone"]
    assert report.problems == ("1 webhook endpoint is disabled (MER_GONE), more than 0.",)
    set_policy(db, "health_disabled_endpoints_max", 1)
    assert run(db).healthy


def test_late_and_failing_tasks_are_problems(db):
    with db.write() as s:
        runs.record_task_run(
            s,
            task="heartbeat",
            client_id="c",
            at=NOW - timedelta(hours=1),
            outcome="ok",
            next_run_at=NOW - timedelta(hours=1),
        )
        runs.record_task_run(
            s, task="backup", client_id="c", at=NOW, outcome="error", message="Disk full."
        )
    report = run(db)
    assert report.exit_code == 1
    assert report.problems == (
        "The task 'backup' failed on its last run: Disk full.",
        "The task 'heartbeat' is 1 h 0 min late; no running copy ran it.",
    )


def test_copies_online_are_listed_and_a_minimum_applies_in_shared_mode(db):
    with db.write() as s:
        for cid, seen in (("a", NOW - timedelta(seconds=10)), ("b", NOW - timedelta(hours=2))):
            s.add(
                Client(
                    id=cid,
                    host="desk-1",
                    user="asha",
                    version="0.1.0",
                    kind="app",
                    started_at=NOW - timedelta(days=1),
                    last_seen=seen,
                )
            )
    set_policy(db, "health_min_copies_online", 2)
    report = run(db)
    assert [c.client_id for c in report.copies_online] == ["a"]
    if db.is_postgres:
        assert report.problems == ("1 copy of Paydesk is online, fewer than 2.",)
    else:
        assert report.healthy  # standalone: the minimum does not apply


def add_connection(session, name, *, added_at, last_sync_at=None, outcome=None, error=None):
    session.add(
        GatewayConnection(
            name=name,
            url="http://127.0.0.1:9/api/v1",
            api_key="key_test",
            merchant_id="mer_a",
            capabilities="{}",
            added_at=added_at,
            added_by="root",
            updated_at=added_at,
            last_sync_at=last_sync_at,
            last_sync_outcome=outcome,
            last_error=error,
        )
    )


def test_a_gateway_connection_not_synced_for_five_intervals_is_a_problem(db):
    with db.write() as s:
        add_merchant(s)
        # Default interval 30 s: stale from 2 min 30 s without a sync.
        add_connection(
            s,
            "fresh",
            added_at=NOW - timedelta(days=1),
            last_sync_at=NOW - timedelta(seconds=149),
            outcome="ok",
        )
        add_connection(
            s,
            "stuck",
            added_at=NOW - timedelta(days=1),
            last_sync_at=NOW - timedelta(minutes=10),
            outcome="error",
            error="The gateway did not answer within 10 seconds.",
        )
        add_connection(s, "never", added_at=NOW - timedelta(minutes=3))
    report = run(db)
    assert [g.name for g in report.gateways] == ["fresh", "never", "stuck"]
    assert report.exit_code == 1
    assert report.problems == (
        "The gateway connection never has never synced for 3 min, 5 or more sync intervals.",
        "The gateway connection stuck has not synced for 10 min, 5 or more sync intervals; "
        "the last sync failed: The gateway did not answer within 10 seconds.",
    )
    set_policy(db, "gateway_sync_interval_seconds", 300)  # 25 min before it is stale
    assert run(db).healthy


def test_a_schema_behind_or_ahead_of_the_app_is_a_problem(db):
    with db.write() as s:
        s.execute(text("UPDATE alembic_version SET version_num = '0002'"))
    report = run(db)
    assert report.schema_revision == "0002" and report.exit_code == 1
    assert report.problems[0] == (
        f"The database schema is 0002 but this Paydesk expects {health.head_revision()}; "
        "run `paydesk db upgrade`."
    )
    with db.write() as s:
        s.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    assert run(db).problems[0] == (
        f"The database schema is 9999 but this Paydesk expects {health.head_revision()}; "
        "it was set up by a newer Paydesk; update this one."
    )


# -- the command ----------------------------------------------------------------------------------------


def now_rows(db):
    """Data relative to the real clock, which the command uses."""
    now = datetime.now(UTC)
    with db.write() as s:
        add_merchant(s)
        due_delivery(s, 1, now - timedelta(hours=2))


def test_command_exits_0_when_healthy_and_prints_the_report(db_url, db, capsys):
    assert main(["--database", db_url, "health"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Paydesk health: healthy (")
    assert "  webhooks   0 deliveries due" in out


def test_command_exits_1_when_a_threshold_is_crossed(db_url, db, capsys):
    now_rows(db)
    assert main(["--database", db_url, "health"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("Paydesk health: UNHEALTHY")
    assert "  problem    The oldest due webhook delivery has waited 2 h 0 min" in out


def test_command_json_has_every_section(db_url, db, capsys):
    now_rows(db)
    assert main(["--database", db_url, "health", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {
        "status",
        "healthy",
        "checked_at",
        "problems",
        "database",
        "schema",
        "tasks",
        "webhooks",
        "refunds",
        "disabled_endpoints",
        "copies_online",
        "gateways",
        "thresholds",
    }
    assert data["status"] == "unhealthy" and data["healthy"] is False
    assert data["webhooks"]["due"] == 1
    assert 7190 < data["webhooks"]["oldest_age_seconds"] < 7300
    assert data["database"]["reachable"] is True
    assert data["database"]["mode"] == ("shared" if db.is_postgres else "standalone")
    assert data["schema"]["current"] is True
    assert data["thresholds"]["health_webhook_backlog_minutes"] == 15
    assert data["checked_at"].endswith("Z")


def test_command_exits_2_when_postgres_cannot_be_reached(capsys):
    url = "postgresql://paydesk:secret@127.0.0.1:1/paydesk"
    assert main(["--database", url, "health", "--json"]) == 2
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "unreachable" and data["database"]["reachable"] is False
    assert data["problems"] == [
        "Nothing is accepting connections at 127.0.0.1:1; is the database server running?"
    ]
    assert "secret" not in json.dumps(data)


def test_command_exits_2_for_a_missing_sqlite_file_and_does_not_create_it(tmp_path, capsys):
    path = tmp_path / "nowhere.sqlite3"
    assert main(["--database", str(path), "health"]) == 2
    out = capsys.readouterr().out
    assert out.startswith("Paydesk health: UNREACHABLE")
    assert f"The database file {path} does not exist." in out
    assert not path.exists()


def test_command_exits_1_for_a_database_not_set_up(tmp_path, capsys):
    path = tmp_path / "empty.sqlite3"
    path.touch()
    assert main(["--database", str(path), "health"]) == 1
    assert "not set up for Paydesk yet; run `paydesk db upgrade`" in capsys.readouterr().out


def test_command_loads_only_its_own_module():
    code = (
        "from core.cli import build_parser, FAST_COMMANDS, command_name\n"
        "build_parser(FAST_COMMANDS[command_name(['--database', 'x', 'health'])])"
    )
    unwanted = (
        "alembic",
        "keyring",
        "core.refunds.service",
        "core.store.dbcopy",
        "apscheduler",
        "httpx",
    )
    assert modules_loaded_by(code, unwanted) == []


def test_command_exits_1_for_an_empty_postgres_schema(pg_schema_url, capsys):
    assert main(["--database", pg_schema_url, "health", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["problems"] == [
        "The database is not set up for Paydesk yet; run `paydesk db upgrade`."
    ]
    assert data["schema"]["database"] is None


def test_the_quick_path_knows_the_policy_defaults_and_the_online_window():
    from core.access import policy
    from core.jobs import presence

    assert health._default_thresholds() == DEFAULT_THRESHOLDS
    assert set(DEFAULT_THRESHOLDS) <= set(policy.KEYS)
    assert ONLINE_WITHIN == presence.ONLINE_WITHIN


def test_command_on_a_current_database_loads_no_sqlalchemy(db_url, db):
    code = f"from core.cli import main\nmain(['--database', {db_url!r}, 'health', '--json'])"
    assert (
        modules_loaded_by(code, ("sqlalchemy", "alembic", "core.store.db", "core.store.models"))
        == []
    )


def test_the_quick_path_steps_aside_for_what_it_does_not_read(tmp_path):
    assert light_check(str(tmp_path / "bare-path.sqlite3"), NOW) is None
    assert light_check(f"sqlite:///{tmp_path / 'missing.sqlite3'}", NOW) is None
    assert not (tmp_path / "missing.sqlite3").exists()
    assert light_check("mysql://root@127.0.0.1/x", NOW) is None
    assert light_check("postgresql://u@127.0.0.1:notaport/db", NOW) is None
