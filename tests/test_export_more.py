"""CSV export of webhook deliveries and refunds (``export_webhooks``, ``export_refunds`` and
their ``paydesk export`` subcommands), on both databases, over demo data."""

from __future__ import annotations

import csv
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from core.cli import main
from core.demo import generator as demo
from core.errors import InputError
from core.payments import export
from core.payments import queries as payments
from core.refunds import queries as rq
from core.refunds.records import RefundFilter, RefundView
from core.store.db import Database, open_database
from core.store.migrate import upgrade
from core.webhooks import deliveries as webhooks
from core.webhooks.deliveries import WebhookFilter

WEBHOOK_HEADER = [
    "id",
    "created_at",
    "merchant_id",
    "merchant_name",
    "event",
    "entity_id",
    "status",
    "attempts",
    "response_code",
    "last_error",
    "last_attempt_at",
    "next_retry_at",
]
REFUND_HEADER = [
    "id",
    "created_at",
    "payment_id",
    "merchant_id",
    "merchant_name",
    "amount",
    "amount_minor",
    "currency",
    "kind",
    "reason",
    "note",
    "status",
    "requested_by",
    "decided_by",
    "decided_at",
    "decision_note",
    "processed_at",
    "failure_reason",
]


@pytest.fixture
def seeded(db: Database, clock) -> Database:
    demo.seed(db, payments=1_200, seed=5, now=clock.now())
    return db


@pytest.fixture
def folder(tmp_path) -> Path:
    out = tmp_path / "exports"
    out.mkdir()
    return out


def read_csv(path: Path, header: list[str]) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == header
        return list(reader)


def logs(db: Database, f: WebhookFilter) -> list[webhooks.WebhookRow]:
    with db.read() as session:
        return webhooks.page(session, f, limit=1_000_000)


def refund_rows(db: Database, f: RefundFilter) -> list[RefundView]:
    with db.read() as session:
        return rq.page(session, f, limit=1_000_000)


def cli(argv: list[str]) -> int:
    """``paydesk`` with ``argv``; argparse's own refusals exit instead of returning."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


# -- webhooks --------------------------------------------------------------------------------


def test_webhook_export_writes_exactly_the_filtered_logs_newest_first(seeded, folder, monkeypatch):
    monkeypatch.setattr(export, "PAGE_ROWS", 7)  # many pages, so paging is exercised
    f = WebhookFilter(status="failed")
    want = logs(seeded, f)
    assert want, "the demo data has failed deliveries"
    out = folder / "failed.csv"
    assert export.export_webhooks(seeded, f, out) == len(want)
    got = read_csv(out, WEBHOOK_HEADER)
    assert [r["id"] for r in got] == [r.id for r in want]
    assert {r["status"] for r in got} == {"failed"}
    with seeded.read() as session:
        names = payments.merchant_names(session)
    for line, row in zip(got, want, strict=True):
        assert line["merchant_name"] == names[row.merchant_id]
        assert line["attempts"] == str(row.attempts)
        assert line["response_code"] == (
            "" if row.response_code is None else str(row.response_code)
        )
        assert line["created_at"] == payments.iso(row.created_at)
        assert line["created_at"].endswith("Z")
    assert [p.name for p in folder.iterdir()] == ["failed.csv"]


def test_webhook_export_by_merchant_event_and_time(seeded, folder, clock):
    everything = logs(seeded, WebhookFilter())
    first = everything[0]
    f = WebhookFilter(
        merchant_id=first.merchant_id,
        event=first.event,
        created_from=clock.now() - timedelta(days=30),
    )
    want = logs(seeded, f)
    out = folder / "m.csv"
    assert export.export_webhooks(seeded, f, out) == len(want) > 0
    got = read_csv(out, WEBHOOK_HEADER)
    assert {(r["merchant_id"], r["event"]) for r in got} == {(first.merchant_id, first.event)}


def test_webhook_export_searches_by_the_payment_id_in_the_payload(seeded, folder):
    some = next(r for r in logs(seeded, WebhookFilter()) if r.entity_id)
    out = folder / "one.csv"
    want = logs(seeded, WebhookFilter(search=some.entity_id))
    assert export.export_webhooks(seeded, WebhookFilter(search=some.entity_id), out) == len(want)
    assert {r["entity_id"] for r in read_csv(out, WEBHOOK_HEADER)} == {some.entity_id}


def test_webhook_export_matching_nothing_writes_the_header(seeded, folder):
    out = folder / "none.csv"
    assert export.export_webhooks(seeded, WebhookFilter(search="msg_nothing"), out) == 0
    assert read_csv(out, WEBHOOK_HEADER) == []


def test_webhook_export_with_a_bad_filter_writes_nothing(seeded, folder, clock):
    with pytest.raises(InputError, match="not a delivery status"):
        export.export_webhooks(seeded, WebhookFilter(status="lost"), folder / "x.csv")
    later = WebhookFilter(created_from=clock.now(), created_to=clock.now() - timedelta(days=1))
    with pytest.raises(InputError, match="start of the time range is after its end"):
        export.export_webhooks(seeded, later, folder / "x.csv")
    assert list(folder.iterdir()) == []


def test_webhook_export_cancelled_keeps_an_earlier_file(seeded, folder, monkeypatch):
    monkeypatch.setattr(export, "PAGE_ROWS", 10)
    out = folder / "hooks.csv"
    out.write_text("earlier export\n", encoding="utf-8")
    pages: list[int] = []
    with pytest.raises(export.ExportCancelled):
        export.export_webhooks(
            seeded, WebhookFilter(), out, progress=pages.append, cancelled=lambda: len(pages) >= 2
        )
    assert pages == [10, 20]
    assert out.read_text(encoding="utf-8") == "earlier export\n"
    assert [p.name for p in folder.iterdir()] == ["hooks.csv"]


# -- refunds ---------------------------------------------------------------------------------


def test_refund_export_writes_the_filtered_refunds_with_exact_amounts(seeded, folder, monkeypatch):
    monkeypatch.setattr(export, "PAGE_ROWS", 5)
    f = RefundFilter(status="processed")
    want = refund_rows(seeded, f)
    assert want, "the demo data has processed refunds"
    out = folder / "processed.csv"
    assert export.export_refunds(seeded, f, out) == len(want)
    got = read_csv(out, REFUND_HEADER)
    assert [r["id"] for r in got] == [r.id for r in want]
    places = {"INR": 2, "USD": 2, "EUR": 2, "JPY": 0, "KWD": 3}
    for line, row in zip(got, want, strict=True):
        assert line["status"] == "processed" and line["payment_id"] == row.payment_id
        assert int(line["amount_minor"]) == row.amount
        assert Decimal(line["amount"]).scaleb(places[row.currency]) == row.amount
        assert line["processed_at"] == payments.iso(row.processed_at)


def test_refund_export_by_payment_and_oldest_first(seeded, folder):
    some = refund_rows(seeded, RefundFilter())[10]
    f = RefundFilter(payment_id=some.payment_id, descending=False)
    out = folder / "p.csv"
    want = refund_rows(seeded, f)
    assert export.export_refunds(seeded, f, out) == len(want) >= 1
    got = read_csv(out, REFUND_HEADER)
    assert [r["id"] for r in got] == [r.id for r in want]
    assert [r["created_at"] for r in got] == sorted(r["created_at"] for r in got)


def test_refund_export_with_a_bad_filter_writes_nothing(seeded, folder):
    with pytest.raises(InputError, match="not a refund kind"):
        export.export_refunds(seeded, RefundFilter(kind="half"), folder / "x.csv")
    assert list(folder.iterdir()) == []


# -- command line ----------------------------------------------------------------------------


@pytest.fixture
def seeded_url(db_url, clock) -> str:
    database = open_database(db_url)
    try:
        upgrade(database)
        demo.seed(database, payments=600, seed=11, now=clock.now())
    finally:
        database.dispose()
    return db_url


def test_cli_exports_failed_webhooks(seeded_url, folder, capsys):
    database = open_database(seeded_url)
    try:
        want = logs(database, WebhookFilter(status="failed"))
    finally:
        database.dispose()
    out = folder / "failed.csv"
    argv = ["--database", seeded_url, "export", "webhooks", "--out", str(out)]
    assert main([*argv, "--status", "failed"]) == 0
    assert capsys.readouterr().out.strip() == f"Wrote {len(want):,} webhook logs to {out}."
    assert [r["id"] for r in read_csv(out, WEBHOOK_HEADER)] == [r.id for r in want]


def test_cli_exports_refunds_of_a_status(seeded_url, folder, capsys):
    database = open_database(seeded_url)
    try:
        want = refund_rows(database, RefundFilter(status="pending_approval"))
    finally:
        database.dispose()
    out = folder / "waiting.csv"
    argv = ["--database", seeded_url, "export", "refunds", "--out", str(out)]
    assert main([*argv, "--status", "pending_approval"]) == 0
    noun = "refund" if len(want) == 1 else "refunds"
    assert capsys.readouterr().out.strip() == f"Wrote {len(want):,} {noun} to {out}."
    assert [r["id"] for r in read_csv(out, REFUND_HEADER)] == [r.id for r in want]


@pytest.mark.parametrize(
    ("what", "arguments", "message"),
    [
        ("webhooks", ["--since", "yesterday"], "'yesterday' is not a time for --since"),
        ("webhooks", ["--status", "lost"], "invalid choice"),
        (
            "webhooks",
            ["--since", "2026-02-01", "--until", "2026-01-01"],
            "The start of the time range is after its end.",
        ),
        ("refunds", ["--kind", "half"], "invalid choice"),
        ("refunds", ["--out", "{tmp}/missing/x.csv"], "does not exist"),
    ],
)
def test_cli_refuses_bad_arguments_with_one_sentence_and_writes_nothing(
    db_url, folder, capsys, what, arguments, message
):
    argv = [a.replace("{tmp}", str(folder)) for a in arguments]
    if "--out" not in argv:
        argv = ["--out", str(folder / "x.csv"), *argv]
    assert cli(["--database", db_url, "export", what, *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("paydesk: ") and message in err and err.count("\n") == 1
    assert list(folder.iterdir()) == []
