"""Text people wrote reaches the terminal with its control characters escaped, in every
human-readable output of the command line; ``--json`` stays exact."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import update

from core.cli.text import printable
from core.refunds import service as rf
from core.store.models import Merchant
from tests.test_refunds import MERCHANT, add_payment
from tests.test_refunds_cli import cli  # noqa: F401 — the fixture ``run`` wraps

HOSTILE = "\x1b[31mred\x07\rok"  # stripped at the ends, so the CR is inside


@pytest.fixture
def run(cli):  # noqa: F811
    """``paydesk --database URL …`` in process: (exit code, stdout, stderr)."""
    return cli


RAW = ("\x1b", "\x07", "\r", "\x9b", "\u202e", "\x7f")


def test_printable_escapes_every_control_character_and_nothing_else():
    assert printable(HOSTILE) == "\\x1b[31mred\\x07\\rok"
    assert printable("a\nb\tc") == "a\\nb\\tc"
    assert printable("\x00\x7f\x9b\x85") == "\\x00\\x7f\\x9b\\x85"
    assert printable("abc\u202edef\u2066\u2069\u200f") == "abc\\u202edef\\u2066\\u2069\\u200f"
    assert printable("₹1,500.00 · Zoë — 日本 C:\\path") == "₹1,500.00 · Zoë — 日本 C:\\path"


def test_refunds_show_prints_a_hostile_note_escaped_and_json_exact(ctx, run):
    pid = add_payment(ctx, amount=10_000)
    r = rf.request_refund(ctx, "alice", pid, amount=1_000, reason="other", note=HOSTILE)
    rf.reject(ctx, "carol", r.id, "no \u202eevil\x9b")
    code, out, err = run("refunds", "show", r.id)
    assert (code, err) == (0, "")
    assert "note: \\x1b[31mred\\x07\\rok" in out
    assert "decision note: no \\u202eevil\\x9b" in out
    assert not any(c in out for c in RAW)
    code, out, err = run("refunds", "show", r.id, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["refund"]["note"] == HOSTILE
    assert data["refund"]["decision_note"] == "no \u202eevil\x9b"


def test_table_cells_stay_on_one_line(ctx, run):
    pid = add_payment(ctx, amount=10_000)
    with ctx.db.write() as s:
        s.execute(
            update(Merchant).where(Merchant.id == MERCHANT).values(name="Evil\nShop\t\x1b]0;x\x07")
        )
    code, out, err = run("payments", "list")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert len(lines) == 2 and pid in lines[1]
    assert "Evil\\nShop\\t\\x1b]0;x\\x07" in lines[1]
    assert not any(c in out for c in RAW)
    code, out, err = run("merchants", "list")
    assert code == 0 and len(out.splitlines()) == 2 and "\x1b" not in out
    code, out, err = run("merchants", "show", MERCHANT)
    assert code == 0 and out.splitlines()[0].startswith("Evil\\nShop") and "\x1b" not in out


def test_an_error_sentence_is_escaped_too(ctx, run):
    code, out, err = run("refunds", "show", "rfnd_\x1b[2J\r")
    assert code == 2 and out == ""
    assert err == "paydesk: There is no refund rfnd_\\x1b[2J\\r.\n"
