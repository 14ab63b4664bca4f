"""Each policy setting has a type and a range: ``policy set`` refuses a wrong type, NaN,
infinity and out-of-range values with one sentence and writes nothing; a bad value already
stored (an older Paydesk, or SQL) is read as the default, so tasks keep working, and
``paydesk health`` names it (a problem: exit 1). On both databases."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select, text

from core.access import policy, policy_rules
from core.cli import main
from core.context import Context
from core.health import check as health
from core.health.quick import light_check
from core.store.models import AuditEvent, PolicySetting, WebhookLog
from tests.test_refunds import T0
from tests.webhook_receiver import ADMIN, Receiver, add_log, add_merchant, add_staff


@pytest.fixture
def staffed(ctx: Context) -> Context:
    add_staff(ctx)
    return ctx


@pytest.fixture
def run(staffed, db_url, clock, monkeypatch, capsys):
    """``paydesk --database URL …`` as the admin; returns (exit code, stdout, stderr)."""
    monkeypatch.setattr("core.cli.common.Context", functools.partial(Context, clock=clock))
    monkeypatch.setenv("PAYDESK_ACTOR", ADMIN)

    def go(*argv: str) -> tuple[int, str, str]:
        code = main(["--database", db_url, *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return go


def store_raw(ctx: Context, key: str, raw: str) -> None:
    """Write ``raw`` as the stored JSON text of ``key`` with SQL, past every check."""
    with ctx.db.write() as s:
        s.execute(
            text(
                "INSERT INTO policy (key, value, updated_at, updated_by) VALUES (:k, :v, :t, 'sql')"
            ),
            {"k": key, "v": raw, "t": T0},
        )


def written(ctx: Context) -> tuple[int, int]:
    with ctx.db.read() as s:
        return (
            s.scalar(select(func.count()).select_from(PolicySetting)),
            s.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "policy.set")
            ),
        )


TIMEOUT_RANGE = "webhook_timeout_seconds must be a number above 0 and at most 120 seconds"


@pytest.mark.parametrize(
    ("key", "value", "sentence"),
    [
        ("webhook_timeout_seconds", "nan", "'nan' is not a number."),
        ("webhook_timeout_seconds", "NaN", "'NaN' is not a number."),
        ("webhook_timeout_seconds", "inf", "'inf' is not a number."),
        ("webhook_timeout_seconds", "Infinity", "'Infinity' is not a number."),
        ("webhook_timeout_seconds", "1e3", "'1e3' is not a number."),
        ("webhook_timeout_seconds", "５", "'５' is not a number."),
        ("webhook_timeout_seconds", "0", "The value must be greater than zero."),
        ("webhook_timeout_seconds", "-1", "The value must be greater than zero."),
        ("webhook_timeout_seconds", "121", f"{TIMEOUT_RANGE}; 121 is not."),
        ("webhook_timeout_seconds", "1e999999999", "'1e999999999' is not a number."),
        ("webhook_lease_seconds", "-5", "The value cannot be negative."),
        ("webhook_lease_seconds", "1.5", "'1.5' is not a whole number."),
        ("webhook_lease_seconds", "١٢", "'١٢' is not a whole number."),
        (
            "webhook_lease_seconds",
            "86401",
            "webhook_lease_seconds must be a whole number from 0 to 86,400 seconds; 86,401 is not.",
        ),
        (
            "health_round_trip_ms",
            "9" * 30,
            f"health_round_trip_ms must be a whole number from 0 to 600,000 ms; '{'9' * 30}' is not.",
        ),
        (
            "pro_rata_auto_approve_days",
            "3651",
            "pro_rata_auto_approve_days must be a whole number from 0 to 3,650 days; 3,651 is not.",
        ),
        ("webhook_retry_schedule", "0,nan", "'0,nan' is not a list of seconds like 0,60,300,1800,7200."),
        ("webhook_retry_schedule", "0,-60", "The retry schedule needs at least one delay, none negative."),
        ("webhook_retry_schedule", ",".join(["1"] * 21), "The retry schedule allows at most 20 attempts."),
        (
            "webhook_retry_schedule",
            "0,604801",
            "A delay of the retry schedule is at most 604,800 seconds (7 days); '604801' is more.",
        ),
        ("refund_approval_threshold", "USD:nan", "'nan' is not an amount."),
        ("refund_approval_threshold", "USD:-5", "The amount must be greater than zero."),
        ("refund_approval_threshold", "XYZ:5", "'XYZ' is not a currency Paydesk knows."),
        ("refund_approval_threshold", "USD:5,USD:6", "The threshold of USD is given twice."),
        ("refund_approval_threshold", "USD:1e9", "'1e9' is not an amount."),
        ("refund_approval_threshold", "JPY:1.5", "JPY has no minor unit; enter a whole amount."),
    ],
)  # fmt: skip
def test_policy_set_refuses_a_bad_value_with_one_sentence_and_writes_nothing(
    staffed, run, key, value, sentence
):
    code, out, err = run("policy", "set", key, value)
    assert (code, out, err) == (2, "", f"paydesk: {sentence}\n")
    assert written(staffed) == (0, 0)
    with staffed.db.read() as s:
        assert policy.get(s, key) == policy.KEYS[key].default


@pytest.mark.parametrize(
    ("key", "value", "stored"),
    [
        ("webhook_timeout_seconds", "0.3", 0.3),
        ("webhook_timeout_seconds", "120", 120.0),
        ("webhook_lease_seconds", "0", 0),
        ("webhook_retry_schedule", "0, 60, 300", [0, 60, 300]),
        ("refund_approval_threshold", "USD:1,500.00,JPY:10,000,INR:0", {"USD": 150_000, "JPY": 10_000, "INR": 0}),
    ],
)  # fmt: skip
def test_policy_set_stores_a_value_in_range(staffed, run, key, value, stored):
    code, out, err = run("policy", "set", key, value)
    assert (code, err) == (0, "")
    assert out == f"{key} = {json.dumps(stored)}\n"
    with staffed.db.read() as s:
        assert policy.get(s, key) == stored


def test_every_key_has_a_rule_and_its_default_keeps_it():
    assert set(policy_rules.RULES) == set(policy.KEYS)
    for key, spec in policy.KEYS.items():
        assert policy_rules.problem(key, spec.default) is None, key


# -- bad values already stored -----------------------------------------------------------------

BAD_STORED = [
    ("webhook_timeout_seconds", "NaN", "not a finite number"),
    ("webhook_timeout_seconds", "Infinity", "not a finite number"),
    ("webhook_timeout_seconds", "0", "out of range"),
    ("webhook_timeout_seconds", '"5"', "not a number"),
    ("webhook_lease_seconds", "-5", "out of range"),
    ("webhook_lease_seconds", "true", "not a whole number"),
    ("health_task_late_seconds", "1.5", "not a whole number"),
    ("health_webhook_backlog_max", "not json", "not readable"),
    ("webhook_retry_schedule", "[]", "not a list of 1 to 20 delays"),
    ("webhook_retry_schedule", "[0, -1]", "a delay is not a whole number"),
    ("refund_approval_threshold", '{"USD": "lots"}', "the USD threshold is not a whole"),
    ("refund_approval_threshold", '{"XYZ": 5}', "'XYZ' is not a currency Paydesk knows"),
    ("refund_approval_threshold", "[1000]", "not amounts per currency"),
]


@pytest.mark.parametrize(("key", "raw", "why"), BAD_STORED)
def test_a_bad_stored_value_is_read_as_the_default_and_named_as_a_problem(staffed, key, raw, why):
    store_raw(staffed, key, raw)
    default = policy.KEYS[key].default
    with staffed.db.read() as s:
        assert policy.get(s, key) == default
        assert policy.get_all(s)[key] == default
        [problem] = policy.problems(s)
    assert (problem.key, problem.stored, problem.default) == (key, raw, default)
    assert why in problem.why
    assert problem.sentence().startswith(f"The policy setting {key} holds ")
    assert problem.sentence().endswith(f"; the default {json.dumps(default)} is used instead.")


def test_health_reports_a_bad_stored_value_and_exits_1(staffed, db_url, capsys):
    store_raw(staffed, "webhook_timeout_seconds", "NaN")
    sentence = (
        "The policy setting webhook_timeout_seconds holds 'NaN', which is not a finite number; "
        "the default 5.0 is used instead."
    )
    report = health.check(staffed.db, T0)
    assert sentence in report.problems and report.exit_code == 1
    # The quick path cannot judge a bad value: it steps aside for the full check.
    assert light_check(db_url, T0) is None
    assert main(["--database", db_url, "health"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("Paydesk health: UNHEALTHY")
    assert f"  problem    {sentence}\n" in out
    assert main(["--database", db_url, "health", "--json"]) == 1
    assert sentence in json.loads(capsys.readouterr().out)["problems"]


def test_a_bad_health_threshold_stored_is_reported_and_the_default_applies(staffed, db_url):
    store_raw(staffed, "health_round_trip_ms", '"fast"')
    report = health.check(staffed.db, T0)
    assert report.thresholds["health_round_trip_ms"] == 1000
    assert any(
        p.startswith("The policy setting health_round_trip_ms holds") for p in report.problems
    )


def test_policy_set_replaces_a_bad_stored_value_and_audits_the_default_as_previous(staffed, run):
    store_raw(staffed, "webhook_timeout_seconds", "NaN")
    assert run("policy", "set", "webhook_timeout_seconds", "7")[0] == 0
    with staffed.db.read() as s:
        assert policy.problems(s) == []
        assert policy.get(s, "webhook_timeout_seconds") == 7.0
        details = s.scalar(select(AuditEvent.details).where(AuditEvent.action == "policy.set"))
    assert json.loads(details) == {"value": 7.0, "previous": 5.0}


# -- tasks keep working ------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-1", "0"])
def test_the_dispatcher_delivers_with_the_default_timeout_when_a_bad_one_is_stored(
    staffed, receiver, raw
):
    from core.webhooks.dispatcher import Dispatcher

    store_raw(staffed, "webhook_timeout_seconds", raw)
    store_raw(staffed, "webhook_retry_schedule", '"soon"')
    add_merchant(staffed, url=receiver.url("/ok"))
    log_id = add_log(staffed)
    dispatcher = Dispatcher(staffed)
    try:
        dispatcher.run_until_idle()
    finally:
        dispatcher.close()
    with staffed.db.read() as s:
        row = s.get(WebhookLog, log_id)
        assert (row.status, row.attempts, row.last_error) == ("success", 1, None)
    assert [r.path for r in receiver.received] == ["/ok"]
