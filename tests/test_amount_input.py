"""``refunds request --amount``: only ASCII digits, one decimal point and commas between
groups of three are an amount; anything else is one sentence, exit 2, and nothing written.
On both databases."""

from __future__ import annotations

import functools

import pytest

from core.access import roles
from core.cli import main
from core.context import Context
from core.store.models import AuditEvent, Refund
from tests.test_refunds import add_payment, add_staff, count, refunded_amount

COMMA = "a ',' only separates groups of three digits (1,500.00), and the decimal point is '.'."


@pytest.fixture
def run(ctx, db_url, clock, monkeypatch, capsys):
    """``paydesk --database URL …`` as a finance person; returns (exit code, stdout, stderr)."""
    add_staff(ctx)
    monkeypatch.setattr("core.cli.common.Context", functools.partial(Context, clock=clock))
    person = "postgres" if ctx.db.is_postgres else "bob"
    roles.set_staff_role(ctx, "root", person, "finance")
    monkeypatch.setenv("PAYDESK_ACTOR", person)

    def go(*argv: str) -> tuple[int, str, str]:
        code = main(["--database", db_url, *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return go


@pytest.mark.parametrize(
    ("amount_args", "sentence"),
    [
        (["--amount", "1,50"], f"'1,50' is not an amount: {COMMA}"),
        (["--amount", "1,5000"], f"'1,5000' is not an amount: {COMMA}"),
        (["--amount", "١٢"], "'١٢' is not an amount: type the digits 0-9."),
        (["--amount", "１２"], "'１２' is not an amount: type the digits 0-9."),
        (["--amount", "1e999999999"], "'1e999999999' is not an amount."),
        (["--amount", "nan"], "'nan' is not an amount."),
        (["--amount", "1 000"], "'1 000' is not an amount."),
        (["--amount=--"], "An amount is needed, like 12.50."),
        (["--amount", ""], "An amount is needed, like 12.50."),
    ],
)
def test_an_amount_that_is_not_ascii_digits_is_one_sentence_and_writes_nothing(
    ctx, run, amount_args, sentence
):
    pid = add_payment(ctx, amount=100_000, currency="USD")
    code, out, err = run("refunds", "request", pid, *amount_args, "--reason", "duplicate")
    assert (code, out, err) == (2, "", f"paydesk: {sentence}\n")
    assert count(ctx, Refund) == 0 and refunded_amount(ctx, pid) == 0
    assert count(ctx, AuditEvent, AuditEvent.action.like("refund.%")) == 0


def test_a_thousands_separator_in_its_place_is_read(ctx, run):
    pid = add_payment(ctx, amount=500_000, currency="USD")
    code, out, err = run(
        "refunds", "request", pid, "--amount", "1,500.00", "--reason", "duplicate", "--json"
    )
    assert (code, err) == (0, "")
    assert '"amount": 150000' in out
    assert refunded_amount(ctx, pid) == 150_000
