"""Demo data: deterministic, consistent, every state present, and all-or-nothing."""

from __future__ import annotations

import base64
import io
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from core.cli import main
from core.demo import generator as demo
from core.errors import InputError, PaydeskError, Refused
from core.money import format_money
from core.overview import rollups
from core.refunds.states import RefundStatus
from core.store.db import Database, open_database
from core.store.migrate import upgrade
from core.webhooks.events import build_payload
from tests.conftest import POSTGRES_URL

N = 2_000
COUNTED = ("merchants", "staff", "payments", "refunds", "webhook_logs", "webhook_attempts")


def rows(db: Database, sql: str, **params: object) -> list[tuple]:
    with db.read() as session:
        return [tuple(r) for r in session.execute(text(sql), params)]


def counts(db: Database) -> dict[str, int]:
    return {t: rows(db, f"SELECT count(*) FROM {t}")[0][0] for t in COUNTED}


@pytest.fixture
def seeded(db: Database, clock) -> Database:
    demo.seed(db, payments=N, seed=11, webhook_url="http://127.0.0.1:9/hooks", now=clock.now())
    return db


@pytest.fixture
def second_db(db_url: str, tmp_path) -> Iterator[Database]:
    """Another empty database of the same kind as ``db``."""
    if db_url.startswith("sqlite"):
        other = open_database(f"sqlite:///{tmp_path / 'second.sqlite3'}")
        upgrade(other)
        yield other
        other.dispose()
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    other = open_database(f"{POSTGRES_URL}?options=-csearch_path%3D{schema}")
    upgrade(other)
    yield other
    other.dispose()
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def fingerprint(db: Database) -> list[tuple]:
    return rows(
        db,
        "SELECT p.id, p.order_id, p.amount, p.currency, p.status, p.refunded_amount, "
        "(SELECT count(*) FROM refunds r WHERE r.payment_id = p.id) FROM payments p ORDER BY p.id",
    )


def schema_state(db: Database) -> list[tuple]:
    """Indexes, constraints and triggers of the loaded tables, as the database reports them."""
    if db.is_postgres:
        return rows(
            db,
            "SELECT 'index', indexname, indexdef FROM pg_indexes "
            "WHERE schemaname = current_schema() "
            "UNION ALL SELECT 'constraint', conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE connamespace = current_schema()::regnamespace "
            "UNION ALL SELECT 'trigger', t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t "
            "JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace "
            "ORDER BY 1, 2",
        )
    return rows(db, "SELECT type, name, sql FROM sqlite_master ORDER BY type, name")


# --- determinism --------------------------------------------------------------------------


def test_same_seed_gives_the_same_ids_and_amounts(db, second_db, clock):
    demo.seed(db, payments=N, seed=5, now=clock.now())
    demo.seed(second_db, payments=N, seed=5, now=clock.now() + timedelta(hours=3))
    assert fingerprint(db) == fingerprint(second_db)
    assert rows(db, "SELECT id, amount, status FROM refunds ORDER BY id") == rows(
        second_db, "SELECT id, amount, status FROM refunds ORDER BY id"
    )


def test_another_seed_gives_other_data(db, second_db, clock):
    demo.seed(db, payments=N, seed=5, now=clock.now())
    demo.seed(second_db, payments=N, seed=6, now=clock.now())
    ids = {r[0] for r in fingerprint(db)}
    assert not ids & {r[0] for r in fingerprint(second_db)}


def test_rows_from_the_child_process_are_the_rows_made_in_process(
    db, second_db, clock, monkeypatch
):
    demo.seed(db, payments=N, seed=8, now=clock.now())
    monkeypatch.setattr(demo, "CHILD_PROCESS_FROM", 1)
    demo.seed(second_db, payments=N, seed=8, now=clock.now())
    assert fingerprint(db) == fingerprint(second_db)
    webhooks = "SELECT id, status, attempts, payload FROM webhook_logs ORDER BY id"
    assert rows(db, webhooks) == rows(second_db, webhooks)


# --- what the data looks like -------------------------------------------------------------


def test_summary_counts_what_was_written(db, clock):
    summary = demo.seed(db, payments=N, seed=2, now=clock.now())
    assert summary.payments == N
    for table, n in counts(db).items():
        assert getattr(summary, table) == n, table
    assert 5 <= summary.merchants <= 8
    assert summary.webhook_logs == pytest.approx(N / 4, rel=0.25)  # about one per 5 payments


def test_every_refund_and_webhook_state_is_present(seeded):
    refund_states = {r[0] for r in rows(seeded, "SELECT DISTINCT status FROM refunds")}
    assert refund_states == set(RefundStatus)
    kinds = {r[0] for r in rows(seeded, "SELECT DISTINCT kind FROM refunds")}
    assert kinds == {"full", "partial", "pro_rata"}
    log_states = {r[0] for r in rows(seeded, "SELECT DISTINCT status FROM webhook_logs")}
    assert log_states == {"pending", "success", "failed"}
    events = {r[0] for r in rows(seeded, "SELECT DISTINCT event FROM webhook_logs")}
    assert events == {"payment.captured", "payment.failed", "refund.processed"}


def test_payment_states_methods_and_currencies_are_mixed_like_real_traffic(seeded):
    status = Counter(dict(rows(seeded, "SELECT status, count(*) FROM payments GROUP BY status")))
    assert status["success"] / N == pytest.approx(0.85, abs=0.03)
    assert status["failed"] / N == pytest.approx(0.10, abs=0.03)
    assert status["pending"] / N == pytest.approx(0.05, abs=0.02)
    currencies = dict(rows(seeded, "SELECT currency, count(*) FROM payments GROUP BY currency"))
    assert set(currencies) == {"INR", "USD", "EUR", "JPY", "KWD"}
    assert currencies["INR"] > N / 2
    methods = {r[0] for r in rows(seeded, "SELECT DISTINCT method FROM payments")}
    assert methods == {"upi", "card", "netbanking", "wallet"}
    bad = rows(
        seeded,
        "SELECT id FROM payments WHERE "
        "(method = 'upi' AND (customer_vpa IS NULL OR customer_vpa NOT LIKE '%@%' "
        "  OR customer_email IS NOT NULL)) "
        "OR (method <> 'upi' AND (customer_email IS NULL OR customer_vpa IS NOT NULL)) "
        "OR ((method = 'card') <> (card_last4 IS NOT NULL)) "
        "OR ((status = 'success') <> captured) "
        "OR ((status = 'failed') <> (error_code IS NOT NULL AND error_description IS NOT NULL)) "
        "OR order_id NOT LIKE 'order\\_%' ESCAPE '\\'",
    )
    assert bad == []


def test_amounts_are_realistic_in_each_currencys_own_units(seeded):
    # Major-unit ranges: a JPY amount stored as if it had cents would be 100 times too big.
    ranges = {"INR": (49, 50_000), "USD": (5, 2_000), "EUR": (5, 1_500), "JPY": (100, 200_000)}
    ranges["KWD"] = (1, 401)
    exponent = {"INR": 2, "USD": 2, "EUR": 2, "JPY": 0, "KWD": 3}
    for currency, amount in rows(seeded, "SELECT currency, amount FROM payments"):
        low, high = ranges[currency]
        assert low <= amount / 10 ** exponent[currency] <= high, (currency, amount)
    jpy = rows(seeded, "SELECT amount FROM payments WHERE currency = 'JPY'")
    assert jpy and all("." not in format_money(a, "JPY") for (a,) in jpy)
    kwd = rows(seeded, "SELECT amount FROM payments WHERE currency = 'KWD' LIMIT 1")
    assert len(format_money(kwd[0][0], "KWD").split(".")[1]) == 3


def test_refunded_amount_is_exactly_the_sum_of_refunds_that_count(seeded):
    mismatches = rows(
        seeded,
        "SELECT p.id, p.amount, p.refunded_amount, COALESCE(SUM(r.amount), 0) FROM payments p "
        "LEFT JOIN refunds r ON r.payment_id = p.id "
        "AND r.status NOT IN ('rejected', 'failed', 'cancelled') "
        "GROUP BY p.id, p.amount, p.refunded_amount "
        "HAVING p.refunded_amount <> COALESCE(SUM(r.amount), 0) OR p.refunded_amount > p.amount",
    )
    assert mismatches == []
    assert rows(seeded, "SELECT count(*) FROM payments WHERE refunded_amount > 0")[0][0] > 0


def test_refunds_are_only_on_captured_payments_and_follow_the_workflow(seeded):
    assert (
        rows(
            seeded,
            "SELECT r.id FROM refunds r JOIN payments p ON p.id = r.payment_id "
            "WHERE p.status <> 'success' OR NOT p.captured OR r.currency <> p.currency "
            "OR r.merchant_id <> p.merchant_id OR r.amount <= 0 OR r.created_at < p.created_at",
        )
        == []
    )
    refunds = rows(
        seeded,
        "SELECT status, requested_by, decided_by, decided_at, decision_note, processed_at, "
        "failure_reason, reason, kind, subscription_id FROM refunds",
    )
    staff = dict(rows(seeded, "SELECT username, role FROM staff"))
    for (
        status,
        requester,
        decider,
        decided_at,
        note,
        processed,
        failure,
        reason,
        kind,
        sub,
    ) in refunds:
        assert staff[requester] in ("support", "finance")
        # Four eyes; a cancel is the requester's own, recorded as theirs.
        assert (decider == requester) == (status == "cancelled")
        assert reason in ("requested_by_customer", "duplicate", "fraudulent", "pro_rata", "other")
        assert (kind == "pro_rata") == (reason == "pro_rata") == (sub is not None)
        decided = status not in ("pending_approval",)
        assert (decider is not None) == decided == (decided_at is not None)
        if decider and status != "cancelled":
            assert staff[decider] in ("finance", "admin")
        assert (processed is not None) == (status == "processed")
        assert (failure is not None) == (status == "failed")
        assert (note is not None) == (status == "rejected")
    actions = {r[0] for r in rows(seeded, "SELECT DISTINCT action FROM audit_events")}
    assert actions == {"refund.request", "refund.approve", "refund.reject", "refund.cancel"}


def test_subscriptions_cover_thirty_days_of_successful_payments(seeded):
    subs = rows(
        seeded,
        "SELECT s.period_start, s.period_end, s.refund_window_days, p.created_at, p.status "
        "FROM subscriptions s JOIN payments p ON p.id = s.payment_id",
    )
    assert subs
    for start, end, window, paid, status in subs:
        assert status == "success" and window == 30
        assert str(start) == str(paid)
        if isinstance(start, str):  # SQLite text
            start, end = datetime.fromisoformat(start), datetime.fromisoformat(end)
        assert end - start == timedelta(days=30)


def test_times_lie_in_the_last_ninety_days_and_never_run_backwards(seeded, clock):
    with seeded.read() as session:
        from core.store.models import Payment, Refund, WebhookLog

        now = clock.now()
        for p in session.query(Payment):
            assert now - timedelta(days=90) <= p.created_at < now
            assert p.created_at <= p.updated_at <= now
        for r in session.query(Refund):
            assert r.created_at <= r.updated_at <= now
        for log in session.query(WebhookLog):
            assert log.created_at <= log.updated_at
            assert log.last_attempt_at is None or log.last_attempt_at <= now


def test_attempt_rows_match_each_logs_attempts(seeded):
    logs = rows(
        seeded,
        "SELECT id, status, attempts, response_code, next_retry_at, last_attempt_at "
        "FROM webhook_logs",
    )
    attempts: dict[str, list[tuple]] = {}
    for log_id, number, code, error, url in rows(
        seeded,
        "SELECT webhook_log_id, number, response_code, error, url FROM webhook_attempts "
        "ORDER BY webhook_log_id, number",
    ):
        attempts.setdefault(log_id, []).append((number, code, error, url))
    for log_id, status, n, code, next_retry, last_at in logs:
        history = attempts.pop(log_id, [])
        assert [a[0] for a in history] == list(range(1, n + 1)), log_id
        assert all(a[3] == "http://127.0.0.1:9/hooks" for a in history)
        assert all((a[1] == 200) == (a[2] is None) for a in history)
        if history:
            assert history[-1][1] == code
        assert (last_at is None) == (n == 0)
        if status == "success":
            assert code == 200 and next_retry is None
        elif status == "failed":
            assert n == 5 and code != 200 and next_retry is None
        else:
            assert next_retry is not None and n < 5
    assert attempts == {}
    codes = {r[0] for r in rows(seeded, "SELECT DISTINCT response_code FROM webhook_attempts")}
    assert {200, 500, 503, None} <= codes


def test_payloads_are_the_exact_event_json_for_their_entity(seeded):
    for log_id, event, payload, entity_id, created_at in rows(
        seeded, "SELECT id, event, payload, entity_id, created_at FROM webhook_logs"
    ):
        body = json.loads(payload)
        assert body["id"] == log_id and body["event"] == event
        assert body["data"]["id"] == entity_id
        assert entity_id.startswith("rfnd_" if event == "refund.processed" else "pay_")
        at = datetime.fromtimestamp(body["created_at"], UTC)
        assert payload == build_payload(log_id, event, at, body["data"])
        if isinstance(created_at, str):
            created_at = datetime.fromisoformat(created_at).replace(tzinfo=UTC)
        assert int(created_at.timestamp()) == body["created_at"]


def test_merchants_get_the_endpoint_and_a_signing_secret(seeded):
    for url, secret, enabled in rows(
        seeded, "SELECT webhook_url, webhook_secret, webhook_enabled FROM merchants"
    ):
        assert url == "http://127.0.0.1:9/hooks" and enabled
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 24


def test_without_an_endpoint_merchants_still_have_a_secret(db, clock):
    demo.seed(db, payments=300, now=clock.now())
    for url, secret, enabled in rows(
        db, "SELECT webhook_url, webhook_secret, webhook_enabled FROM merchants"
    ):
        assert url is None and not enabled and secret.startswith("whsec_")
    hosts = {r[0] for r in rows(db, "SELECT DISTINCT url FROM webhook_attempts")}
    assert hosts and all(".example/" in h for h in hosts)  # reserved names only


def test_references_and_rollups_are_consistent(seeded):
    if seeded.is_postgres:
        orphans = rows(
            seeded,
            "SELECT count(*) FROM webhook_attempts a "
            "LEFT JOIN webhook_logs l ON l.id = a.webhook_log_id WHERE l.id IS NULL",
        )
        assert orphans == [(0,)]
    else:
        assert rows(seeded, "PRAGMA foreign_key_check") == []
    with seeded.read() as session:
        assert rollups.drift(session) == {"payment_rollup": 0, "refund_rollup": 0}


# --- all or nothing -----------------------------------------------------------------------


def test_database_keeps_its_indexes_constraints_triggers_and_settings(db, clock):
    before = schema_state(db)
    demo.seed(db, payments=N, now=clock.now())
    assert schema_state(db) == before
    if not db.is_postgres:
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def sqlite_database(tmp_path: Path) -> tuple[Database, Path]:
    path = tmp_path / "load.sqlite3"
    database = open_database(f"sqlite:///{path}")
    upgrade(database)
    database.dispose()  # the load's connection is then the only one on the file
    return database, path


def test_a_sqlite_load_alone_on_the_file_writes_its_pages_once(tmp_path, clock):
    database, path = sqlite_database(tmp_path)
    demo.seed(database, payments=N, now=clock.now())
    wal = path.with_name(path.name + "-wal")
    # Through WAL the load would leave a write-ahead log about the size of the data.
    assert path.stat().st_size > 1_000_000
    assert not wal.exists() or wal.stat().st_size < path.stat().st_size / 10
    with database.read() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert session.execute(text("SELECT count(*) FROM payments")).scalar() == N
    database.dispose()


def test_a_sqlite_load_beside_a_reader_stays_in_wal_and_the_reader_keeps_reading(tmp_path, clock):
    database, path = sqlite_database(tmp_path)
    reader = open_database(f"sqlite:///{path}")
    seen: list[int] = []

    def read_while_loading(stage: str, _done: int, _total: int) -> None:
        if stage == "payments" and not seen:
            # The reader sees the database as it was before the load began.
            with reader.read() as session:
                seen.append(session.execute(text("SELECT count(*) FROM payments")).scalar())

    with reader.read() as session:
        session.execute(text("SELECT count(*) FROM merchants")).scalar()  # opens its connection
        demo.seed(database, payments=N, now=clock.now(), progress=read_while_loading)
    assert seen == [0]
    with reader.read() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert session.execute(text("SELECT count(*) FROM payments")).scalar() == N
    reader.dispose()
    database.dispose()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"payments": -5}, "greater than zero"),
        ({"payments": 0}, "greater than zero"),
        ({"payments": "abc"}, "not a whole number"),
        ({"payments": 20_000_000}, "limited to"),
        ({"payments": 10, "webhook_url": "ftp://127.0.0.1/x"}, "not a webhook URL"),
        ({"payments": 10, "webhook_url": "http://"}, "not a webhook URL"),
        ({"payments": 10, "seed": "x"}, "whole-number seed"),
    ],
)
def test_bad_arguments_are_refused_with_nothing_written(db, clock, arguments, message):
    with pytest.raises(InputError, match=message):
        demo.seed(db, now=clock.now(), **arguments)
    assert set(counts(db).values()) == {0}


def test_a_second_run_is_refused_and_changes_nothing(seeded, clock):
    before = counts(seeded)
    with pytest.raises(Refused, match=f"already holds {N:,} payments"):
        demo.seed(seeded, payments=10, now=clock.now())
    assert counts(seeded) == before


@pytest.mark.parametrize("child", [False, True])
def test_an_interrupted_seed_leaves_nothing_behind(db, clock, monkeypatch, child):
    if child:
        monkeypatch.setattr(demo, "CHILD_PROCESS_FROM", 1)
    monkeypatch.setattr(demo, "BATCH", 500)
    before = schema_state(db)

    def interrupt(stage: str, done: int, total: int) -> None:
        if stage == "payments" and done >= 1_000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        demo.seed(db, payments=N, now=clock.now(), progress=interrupt)
    assert set(counts(db).values()) == {0}
    assert schema_state(db) == before
    if not db.is_postgres:
        with db.read() as session:
            assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    demo.seed(db, payments=300, now=clock.now())  # and the database is usable afterwards
    assert counts(db)["payments"] == 300


def test_progress_reports_batches_then_indexes(db, clock, monkeypatch):
    monkeypatch.setattr(demo, "BATCH", 700)
    seen: list[tuple[str, int, int]] = []
    demo.seed(db, payments=N, now=clock.now(), progress=lambda *a: seen.append(a))
    payments = [done for stage, done, _ in seen if stage == "payments"]
    assert payments == [0, 700, 1400, 2000]
    assert seen[-1] == ("indexes", 1, 1)


# --- command line -------------------------------------------------------------------------


def test_cli_seeds_and_prints_one_summary_line(db_url, capsys):
    assert main(["--database", db_url, "demo", "--payments", "1500", "--seed", "3"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("Seeded 1,500 payments, ")
    database = open_database(db_url)
    try:
        assert counts(database)["payments"] == 1500
    finally:
        database.dispose()


def test_cli_shows_one_updating_progress_line_on_a_terminal(db_url, capsys, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    monkeypatch.setattr(demo, "BATCH", 500)
    assert main(["--database", db_url, "demo", "--payments", "1000"]) == 0
    written = terminal.getvalue()
    assert "\rSeeding payments 500/1,000" in written and "\rSeeding payments 1,000/1,000" in written
    assert "\n" not in written
    assert capsys.readouterr().out.startswith("Seeded 1,000 payments")


def test_cli_refuses_a_database_that_holds_payments(db_url, capsys):
    assert main(["--database", db_url, "demo", "--payments", "100"]) == 0
    assert main(["--database", db_url, "demo", "--payments", "100"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "paydesk: The database already holds 100 payments; demo data goes into a database "
        "without payments (use --demo or --database to name another)."
    )


@pytest.mark.parametrize(
    "arguments",
    [
        ["--payments", "-5"],
        ["--payments", "abc"],
        ["--payments", "0"],
        ["--payments", "10", "--webhook-url", "not a url"],
        ["--payments", "10", "--seed", "1.5"],
    ],
)
def test_cli_bad_arguments_exit_2_with_one_sentence_and_touch_nothing(db_url, capsys, arguments):
    assert main(["--database", db_url, "demo", *arguments]) == 2
    err = capsys.readouterr().err
    assert err.startswith("paydesk: ") and err.count("\n") == 1
    if db_url.startswith("sqlite"):
        assert not Path(db_url.removeprefix("sqlite:///")).exists()
    else:
        with psycopg.connect(db_url) as conn:
            tables = conn.execute(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            ).fetchone()
        assert tables == (0,)


def test_a_postgres_login_that_does_not_own_the_tables_is_refused(pg_schema_url, clock):
    owner = open_database(pg_schema_url)
    upgrade(owner)
    before = schema_state(owner)
    schema = pg_schema_url.rsplit("%3D", 1)[1]
    role = f"demo_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO {role}')
        conn.execute(f'GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA "{schema}" TO {role}')
        conn.execute(f'GRANT USAGE ON ALL SEQUENCES IN SCHEMA "{schema}" TO {role}')
    login = open_database(pg_schema_url.replace("postgres@", f"{role}@", 1))
    try:
        with pytest.raises(Refused, match=f"owns the Paydesk tables.*{role} does not"):
            demo.seed(login, payments=600, now=clock.now())
        assert set(counts(owner).values()) == {0}
        assert schema_state(owner) == before
    finally:
        login.dispose()
        owner.dispose()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'REVOKE ALL ON ALL TABLES IN SCHEMA "{schema}" FROM {role}')
            conn.execute(f'REVOKE ALL ON ALL SEQUENCES IN SCHEMA "{schema}" FROM {role}')
            conn.execute(f'REVOKE ALL ON SCHEMA "{schema}" FROM {role}')
            conn.execute(f"DROP ROLE {role}")


def test_a_generator_process_that_dies_leaves_nothing_behind(db, clock, monkeypatch):
    monkeypatch.setattr(demo, "CHILD_PROCESS_FROM", 1)
    monkeypatch.setattr("sys.executable", "/bin/false")
    with pytest.raises(PaydeskError, match="generator stopped unexpectedly"):
        demo.seed(db, payments=N, now=clock.now())
    assert set(counts(db).values()) == {0}
