"""``paydesk recon …`` and ``paydesk export recon``: output, exit codes, one sentence for bad
input with nothing written, roles. On both databases."""

from __future__ import annotations

import csv
import functools
import json

import pytest

from core.cli import main
from core.context import Context
from tests.test_recon import counts, rz_row, write_csv
from tests.test_refunds import add_merchant, add_payment, add_staff


@pytest.fixture
def run(ctx, db_url, clock, monkeypatch, capsys):
    """``paydesk --database URL …`` as ``actor``; returns (exit code, stdout, stderr)."""
    add_staff(ctx)
    add_merchant(ctx)
    monkeypatch.setattr("core.cli.common.Context", functools.partial(Context, clock=clock))

    def go(*argv: str, actor: str = "bob") -> tuple[int, str, str]:
        monkeypatch.setenv("PAYDESK_ACTOR", actor)
        try:
            code = main(["--database", db_url, *argv])
        except SystemExit as exc:  # argparse refuses before main runs
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return go


def test_import_list_summary_resolve_and_export(run, ctx, tmp_path):
    p = add_payment(ctx, amount=20_000)
    path = write_csv(tmp_path / "s.csv", [rz_row(p, amount=19_000), rz_row("pay_unknown000001")])
    code, out, err = run("recon", "import", str(path), "--json")
    assert (code, err) == (0, "")
    assert json.loads(out)["added"] == 2
    code, out, _ = run("recon", "import", str(path))
    assert (code, out) == (0, "All 2 lines of s.csv were already imported; nothing was added.\n")
    code, out, _ = run("recon", "list", "--open", "--json", actor="alice")
    lines = json.loads(out)
    assert code == 0 and [x["state"] for x in lines] == ["amount_mismatch", "not_in_paydesk"]
    code, out, _ = run("recon", "summary", "--json", actor="alice")
    [batch] = json.loads(out)
    assert (batch["batch_id"], batch["difference"], batch["open_exceptions"]) == (
        "setl_A",
        -1_000 + 9_800,
        2,
    )
    first = str(lines[0]["id"])
    if not ctx.db.is_postgres:  # shared mode acts as the login (tests/test_recon.py: roles)
        code, out, err = run("recon", "resolve", first, "--accept", "fee", actor="alice")
        assert (code, out) == (2, "")
        assert err == (
            "paydesk: Only finance or admin staff can import settlement reports or resolve "
            "reconciliation exceptions; alice is support.\n"
        )
    code, out, _ = run("recon", "resolve", first, "--accept", "fee", "--note", "fee on fee")
    assert code == 0 and out.startswith(
        f"Line {first} (payment {p}, ₹190.00) is amount mismatch, accepted (fee) by "
    )
    code, out, _ = run("recon", "show", first, "--json")
    assert [e["action"] for e in json.loads(out)["history"]] == ["recon.accept"]
    target = tmp_path / "recon.csv"
    code, out, _ = run("export", "recon", "--out", str(target), "--open")
    assert (code, out) == (0, f"Wrote 1 settlement line to {target}.\n")
    [row] = list(csv.DictReader(target.open()))
    assert (row["state"], row["net"], row["difference_minor"]) == (
        "not_in_paydesk",
        "98.00",
        "9800",
    )


def test_an_unknown_header_exits_2_with_one_sentence_and_nothing_written(run, ctx, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    code, out, err = run("recon", "import", str(path))
    assert (code, out) == (2, "")
    assert err.startswith(
        f"paydesk: {path} is not a settlement report Paydesk knows: its header has a, b,"
    )
    assert err.count("\n") == 1
    assert counts(ctx) == (0, 0, 0)


@pytest.mark.parametrize(
    ("argv", "sentence"),
    [
        (
            ("recon", "resolve", "7"),
            "One of the arguments --link --accept --investigate is required",
        ),
        (("recon", "resolve", "x1", "--accept", "fee"), "'x1' is not a line number"),
        (("recon", "resolve", "999", "--accept", "fee"), "There is no reconciliation line 999."),
        (
            ("recon", "resolve", "999", "--accept", "tip"),
            "'tip' is not a reason; use one of fee, rounding, fx, chargeback, other.",
        ),
        (("recon", "import", "/nonexistent/s.csv"), "There is no file /nonexistent/s.csv."),
    ],
)
def test_bad_arguments_are_one_sentence(run, argv, sentence):
    code, out, err = run(*argv)
    assert (code, out) == (2, "")
    assert sentence in err and err.count("\n") == 1
