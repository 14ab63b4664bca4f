"""Settlement reconciliation: import (formats, header detection, every bad-file case, idempotent
re-import, cancel, mapping files), every matching state, the per-batch difference, resolving
and reopening with audit, and roles. On SQLite and Postgres."""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from core.access import policy
from core.context import Context
from core.errors import Conflict, InputError, NotFound, Refused
from core.recon import importer, matching
from core.recon import service as recon
from core.recon.formats import RAZORPAY_COLUMNS
from core.store.models import AuditEvent, Payment, Refund, SettlementBatch, SettlementLine
from tests.test_pg_roles import logins, owner, refused  # noqa: F401 — fixtures
from tests.test_refunds import T0, add_merchant, add_payment, add_staff

SETTLED_AT = T0 - timedelta(days=5)
FINANCE = "bob"


def rz_row(entity_id: str, kind: str = "payment", amount: int = 10_000, **kw: object) -> dict:
    """One line of a Razorpay settlement recon report: fee 2 % (of which tax 18 %)."""
    fee = kw.pop("fee", amount * 2 // 100 if kind == "payment" else 0)
    tax = kw.pop("tax", int(fee) * 18 // 118)
    credit = amount - int(fee) if kind in ("payment", "adjustment") else 0
    debit = amount + int(fee) if kind == "refund" else 0
    row = dict.fromkeys(RAZORPAY_COLUMNS, "")
    row.update(
        entity_id=entity_id,
        type=kind,
        amount=amount,
        currency="INR",
        fee=fee,
        tax=tax,
        credit=credit,
        debit=debit,
        settled=1,
        created_at=int((SETTLED_AT - timedelta(days=1)).timestamp()),
        settled_at=int(SETTLED_AT.timestamp()),
        settlement_id="setl_A",
        settlement_utr="UTR0001",
    )
    row.update({k: v for k, v in kw.items()})
    return row


def write_csv(path: Path, rows: list[dict], columns: list[str] = RAZORPAY_COLUMNS) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.DictWriter(fh, columns)
        out.writeheader()
        out.writerows(rows)
    return path


def add_refund(ctx: Context, payment_id: str, amount: int, status: str = "processed") -> str:
    refund_id = f"rfnd_{payment_id[4:]}"
    with ctx.db.write() as s:
        s.add(
            Refund(
                id=refund_id,
                payment_id=payment_id,
                merchant_id=s.get(Payment, payment_id).merchant_id,
                amount=amount,
                currency="INR",
                kind="partial",
                reason="requested_by_customer",
                status=status,
                requested_by="alice",
                processed_at=T0 - timedelta(days=8) if status == "processed" else None,
                created_at=T0 - timedelta(days=9),
                updated_at=T0 - timedelta(days=8),
            )
        )
    return refund_id


def counts(ctx: Context) -> tuple[int, int, int]:
    with ctx.db.read() as s:
        return (
            s.scalar(select(func.count()).select_from(SettlementLine)),
            s.scalar(select(func.count()).select_from(SettlementBatch)),
            s.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action.like("recon.%"))
            ),
        )


def states(ctx: Context) -> dict[str, str]:
    with ctx.db.read() as s:
        return dict(s.execute(select(SettlementLine.line_id, SettlementLine.state)).all())


@pytest.fixture
def staffed(ctx: Context) -> Context:
    add_staff(ctx)  # root admin, alice support, bob finance
    add_merchant(ctx)
    return ctx


def old_payment(ctx: Context, amount: int, **kw: object) -> str:
    """A payment created well inside the settled period (T0 − 20 days)."""
    return add_payment(ctx, amount=amount, **kw)  # type: ignore[arg-type]


# -- every state -------------------------------------------------------------------------------


def test_each_line_ends_in_exactly_one_state(staffed, tmp_path):
    ok = old_payment(staffed, 10_000)
    short = old_payment(staffed, 20_000)
    failed = old_payment(staffed, 5_000, status="failed", captured=False)
    usd = old_payment(staffed, 3_000, currency="USD")
    refunded = old_payment(staffed, 8_000)
    refund = add_refund(staffed, refunded, 2_000)
    pending = add_refund(staffed, short, 1_000, status="approved")
    missing = old_payment(staffed, 4_000)  # no settlement covers it
    by_order = old_payment(staffed, 6_000)
    with staffed.db.read() as s:
        order = s.get(Payment, by_order).order_id
    early = int((T0 - timedelta(days=30)).timestamp())
    path = write_csv(
        tmp_path / "settlement.csv",
        [
            rz_row(ok, created_at=early),
            rz_row(short, amount=19_000),
            rz_row(failed, amount=5_000),
            rz_row(usd, amount=3_000),
            rz_row("pay_notours0000001", amount=7_000),
            rz_row("pay_gatewayid00001", amount=6_000, order_id=order),
            rz_row(refund, "refund", 2_000, payment_id=refunded),
            rz_row(pending, "refund", 1_000, payment_id=short),
            rz_row("adj_fee000000001", "adjustment", 500),
            rz_row(ok, settlement_id="setl_B"),
        ],
    )
    result = importer.import_report(staffed, FINANCE, path)
    assert (result.lines, result.added, result.new_batches) == (10, 10, 2)
    with staffed.db.read() as s:
        rows = {(r.line_id, r.batch_id): r for r in s.scalars(select(SettlementLine))}
        s.expunge_all()
    got = {k: r.state for k, r in rows.items()}
    assert got == {
        (ok, "setl_A"): "matched",
        (short, "setl_A"): "amount_mismatch",
        (failed, "setl_A"): "not_captured",
        (usd, "setl_A"): "currency_mismatch",
        ("pay_notours0000001", "setl_A"): "not_in_paydesk",
        ("pay_gatewayid00001", "setl_A"): "matched",
        (refund, "setl_A"): "matched",
        (pending, "setl_A"): "not_captured",
        ("adj_fee000000001", "setl_A"): "adjustment",
        (ok, "setl_B"): "duplicate",
        (refunded, None): "missing_from_settlement",
        (missing, None): "missing_from_settlement",
    }
    mismatch = rows[(short, "setl_A")]
    assert (mismatch.amount, mismatch.expected, mismatch.difference) == (19_000, 20_000, -1_000)
    assert rows[("pay_gatewayid00001", "setl_A")].matched_id == by_order
    assert rows[(missing, None)].difference == -4_000


def test_the_batch_summary_gives_the_difference_between_reported_and_expected(staffed, tmp_path):
    a, b = old_payment(staffed, 10_000), old_payment(staffed, 20_000)
    path = write_csv(
        tmp_path / "s.csv",
        [rz_row(a), rz_row(b, amount=19_000), rz_row("pay_x0000000001", amount=1_000)],
    )
    importer.import_report(staffed, FINANCE, path)
    with staffed.db.read() as s:
        [batch] = recon.summary(s, "setl_A")
        with pytest.raises(NotFound):
            recon.summary(s, "setl_nope")
    assert (batch.lines, batch.gross, batch.fees, batch.utr) == (3, 30_000, 600, "UTR0001")
    assert batch.net_reported == 9_800 + 18_620 + 980
    # Paydesk expected b at 200.00 (less the fee reported) and nothing for the unknown payment.
    assert batch.net_expected == 9_800 + (20_000 - 380)
    assert batch.difference == -1_000 + 980 == batch.unexplained
    assert batch.open_exceptions == 2


# -- idempotent import -------------------------------------------------------------------------


def test_the_same_file_twice_adds_nothing_and_says_so(staffed, tmp_path):
    p = old_payment(staffed, 10_000)
    path = write_csv(tmp_path / "s.csv", [rz_row(p), rz_row(p)])  # a line twice is one line
    first = importer.import_report(staffed, FINANCE, path)
    assert (first.lines, first.added) == (2, 1)
    before = counts(staffed)
    again = importer.import_report(staffed, FINANCE, path)
    assert (again.added, again.already) == (0, 2)
    assert again.sentence() == "All 2 lines of s.csv were already imported; nothing was added."
    assert counts(staffed) == before


def test_a_line_in_two_files_is_one_line(staffed, tmp_path):
    p, q = old_payment(staffed, 10_000), old_payment(staffed, 3_000)
    importer.import_report(staffed, FINANCE, write_csv(tmp_path / "a.csv", [rz_row(p)]))
    second = importer.import_report(
        staffed, FINANCE, write_csv(tmp_path / "b.csv", [rz_row(p), rz_row(q, amount=3_000)])
    )
    assert (second.lines, second.added) == (2, 1)
    assert states(staffed) == {p: "matched", q: "matched"}


# -- bad files ---------------------------------------------------------------------------------


def _bad_amount(tmp_path: Path) -> Path:
    bad = rz_row("pay_b0000000001") | {"amount": "12.5x"}
    return write_csv(tmp_path / "bad.csv", [rz_row("pay_a0000000001"), bad])


BAD_FILES = {
    "binary": (
        lambda t: _bytes(t, b"PK\x03\x04\x00\x00binary"),
        "bad.csv is not a CSV file (it holds binary data).",
    ),
    "encoding": (
        lambda t: _bytes(
            t, (",".join(RAZORPAY_COLUMNS) + "\n").encode() + "caf\xe9".encode("latin-1") + b"\n"
        ),
        "bad.csv is not UTF-8 text (line 2); save it as UTF-8 and import it again.",
    ),
    "empty": (lambda t: _bytes(t, b""), "bad.csv is empty: it has no header line."),
    "unknown header": (
        lambda t: _bytes(t, b"when,what,how much\n1,2,3\n"),
        "bad.csv is not a settlement report Paydesk knows: its header has when, what, how much, "
        "and the formats are razorpay or stripe (name one with --format, or describe the "
        "columns with --mapping FILE.toml).",
    ),
    "missing column": (
        lambda t: (
            write_csv(
                t / "bad.csv",
                [rz_row("pay_a0000000001")],
                [c for c in RAZORPAY_COLUMNS if c != "fee"],
            )
            if False
            else _without(t, "currency")
        ),
        None,
    ),
    "amount": (
        _bad_amount,
        "Line 3 of bad.csv, column amount: '12.5x' is not a whole number of minor units.",
    ),
    "time": (
        lambda t: write_csv(t / "bad.csv", [rz_row("pay_a0000000001", created_at="yesterday")]),
        "Line 2 of bad.csv, column created_at: 'yesterday' is not a time (Unix seconds).",
    ),
    "currency": (
        lambda t: write_csv(
            t / "bad.csv", [rz_row("pay_a0000000001"), rz_row("pay_b0000000001", currency="XYZ")]
        ),
        "Line 3 of bad.csv, column currency: 'XYZ' is not a currency Paydesk knows.",
    ),
    "values": (
        lambda t: _bytes(t, (",".join(RAZORPAY_COLUMNS) + "\npay_a,payment,1\n").encode()),
        f"Line 2 of bad.csv has 3 values; its header has {len(RAZORPAY_COLUMNS)}.",
    ),
}


def _bytes(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "bad.csv"
    path.write_bytes(data)
    return path


def _without(tmp_path: Path, column: str) -> Path:
    cols = [c for c in RAZORPAY_COLUMNS if c != column]
    row = {k: v for k, v in rz_row("pay_a0000000001").items() if k != column}
    return write_csv(tmp_path / "bad.csv", [row], cols)


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_file_is_one_sentence_and_nothing_is_imported(staffed, tmp_path, case):
    make, sentence = BAD_FILES[case]
    old_payment(staffed, 10_000)
    path = make(tmp_path)
    with pytest.raises(InputError) as info:
        importer.import_report(
            staffed, FINANCE, path, fmt="razorpay" if case == "missing column" else None
        )
    if sentence is None:
        sentence = "bad.csv lacks the column currency, which the razorpay format needs."
    assert str(info.value) == sentence.replace("bad.csv", str(path))
    assert counts(staffed) == (0, 0, 0)


def test_a_missing_column_is_named_when_the_format_is_given(staffed, tmp_path):
    with pytest.raises(InputError, match="lacks the column fee, which the razorpay format needs"):
        importer.import_report(staffed, FINANCE, _without(tmp_path, "fee"), fmt="razorpay")


def test_cancel_leaves_nothing_imported(staffed, tmp_path):
    ids = [old_payment(staffed, 1_000) for _ in range(5)]
    path = write_csv(tmp_path / "s.csv", [rz_row(p, amount=1_000) for p in ids])
    seen: list[int] = []
    with pytest.raises(importer.ImportCancelled, match="nothing was imported"):
        importer.import_report(
            staffed,
            FINANCE,
            path,
            chunk_lines=2,
            progress=lambda lines, done, total: seen.append(lines),
            cancel=lambda: len(seen) >= 2,
        )
    assert seen == [2, 4]
    assert counts(staffed) == (0, 0, 0)


# -- other formats -----------------------------------------------------------------------------

STRIPE_COLUMNS = [
    "automatic_payout_id", "automatic_payout_effective_at_utc", "balance_transaction_id",
    "created_utc", "available_on_utc", "currency", "gross", "fee", "net", "reporting_category",
    "source_id", "description", "charge_id", "order_id",
]  # fmt: skip


def test_a_stripe_payout_reconciliation_report_is_detected_and_matched(staffed, tmp_path):
    p = old_payment(staffed, 2_500, currency="USD")
    refunded = old_payment(staffed, 4_000, currency="USD")
    with staffed.db.write() as s:
        s.execute(update(Payment).where(Payment.id == refunded).values(currency="INR"))
    common = {
        "automatic_payout_id": "po_1",
        "automatic_payout_effective_at_utc": "2026-01-12 00:00:00",
        "created_utc": "2026-01-09 10:00:00",
        "currency": "usd",
    }
    path = write_csv(
        tmp_path / "stripe.csv",
        [
            common
            | {
                "balance_transaction_id": "txn_1",
                "gross": "25.00",
                "fee": "1.03",
                "net": "23.97",
                "reporting_category": "charge",
                "source_id": p,
            },
            common
            | {
                "balance_transaction_id": "txn_2",
                "gross": "-0.50",
                "fee": "0.00",
                "net": "-0.50",
                "reporting_category": "fee",
                "source_id": "",
            },
            common
            | {
                "balance_transaction_id": "txn_3",
                "gross": "1O.00",
                "fee": "0",
                "net": "0",
                "reporting_category": "charge",
                "source_id": "ch_x",
            },
        ],
        STRIPE_COLUMNS,
    )
    with pytest.raises(
        InputError, match=r"Line 4 of .*stripe.csv, column gross: '1O.00' is not an amount"
    ):
        importer.import_report(staffed, FINANCE, path)
    assert counts(staffed) == (0, 0, 0)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:3]) + "\n")
    result = importer.import_report(staffed, FINANCE, path)
    assert (result.format, result.added) == ("stripe", 2)
    assert states(staffed) == {"txn_1": "matched", "txn_2": "adjustment"}
    with staffed.db.read() as s:
        [batch] = recon.summary(s, "po_1")
    assert (batch.currency, batch.net_reported, batch.difference) == ("USD", 2_347, 0)


MAPPING = """\
name = "acme"
[columns]
id = "Txn"
type = "Kind"
amount = "Amount"
currency = "Cur"
time = "When"
batch = "Payout"
fee = "Fee"
order_id = "Order"
[amount]
unit = "major"
[time]
format = "iso"
[types]
sale = "payment"
"""


def test_a_mapping_file_reads_any_csv(staffed, tmp_path):
    p = old_payment(staffed, 12_345)
    with staffed.db.read() as s:
        order = s.get(Payment, p).order_id
    mapping = tmp_path / "acme.toml"
    mapping.write_text(MAPPING)
    cols = ["Txn", "Kind", "Amount", "Cur", "When", "Payout", "Fee", "Order"]
    path = write_csv(
        tmp_path / "acme.csv",
        [
            {
                "Txn": "T1",
                "Kind": "Sale",
                "Amount": "123.45",
                "Cur": "INR",
                "When": "2026-01-09T10:00:00Z",
                "Payout": "P1",
                "Fee": "2.47",
                "Order": order,
            }
        ],
        cols,
    )
    result = importer.import_report(staffed, FINANCE, path, mapping=mapping)
    assert (result.format, result.added) == ("acme", 1)
    assert states(staffed) == {"T1": "matched"}


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("not toml [", "is not valid TOML"),
        (
            "[columns]\nid = 'x'\n",
            "does not say which column holds type, amount, currency, time, batch",
        ),
        (MAPPING.replace('fee = "Fee"', 'cost = "Fee"'), "names 'cost', which is not a field"),
        (
            MAPPING.replace('unit = "major"', 'unit = "cents"'),
            "[amount] unit must be 'minor' or 'major'",
        ),
        (MAPPING.replace('sale = "payment"', 'sale = "gift"'), "[types] must map report values"),
    ],
)
def test_a_bad_mapping_file_is_one_sentence(staffed, tmp_path, text, why):
    mapping = tmp_path / "m.toml"
    mapping.write_text(text)
    with pytest.raises(InputError) as info:
        importer.import_report(staffed, FINANCE, write_csv(tmp_path / "s.csv", []), mapping=mapping)
    assert why in str(info.value) and str(mapping) in str(info.value)


# -- a late change -----------------------------------------------------------------------------


def test_a_late_payment_turns_not_in_paydesk_into_matched(staffed, tmp_path):
    importer.import_report(
        staffed, FINANCE, write_csv(tmp_path / "s.csv", [rz_row("pay_late000000001")])
    )
    assert states(staffed) == {"pay_late000000001": "not_in_paydesk"}
    with staffed.db.write() as s:
        s.add(
            Payment(
                id="pay_late000000001", merchant_id="mer_test000000001", order_id="o1", amount=10_000,
                currency="INR", method="upi", status="success", captured=True, refunded_amount=0,
                created_at=T0 - timedelta(days=6), updated_at=T0,
            )
        )  # fmt: skip
    assert recon.match_again(staffed, FINANCE, ["pay_late000000001"]) == 1
    assert states(staffed) == {"pay_late000000001": "matched"}


def test_the_settlement_cycle_is_a_policy_setting(staffed, tmp_path):
    recent = old_payment(staffed, 1_000)
    with staffed.db.write() as s:
        s.execute(
            update(Payment).where(Payment.id == recent).values(created_at=T0 - timedelta(days=3))
        )
    importer.import_report(
        staffed,
        FINANCE,
        write_csv(
            tmp_path / "s.csv",
            [rz_row("pay_other00000001", created_at=int((T0 - timedelta(days=10)).timestamp()))],
        ),
    )
    assert recent in states(staffed)  # 3 days > T+2
    policy.set_value(staffed, "root", "recon_settlement_cycle_days", "5")
    recon.match_again(staffed, FINANCE)
    assert recent not in states(staffed)


# -- resolving ---------------------------------------------------------------------------------


def _imported_exception(ctx: Context, tmp_path: Path) -> tuple[int, str]:
    p = old_payment(ctx, 20_000)
    importer.import_report(
        ctx,
        FINANCE,
        write_csv(tmp_path / "s.csv", [rz_row(p, amount=19_000), rz_row("pay_unknown000001")]),
    )
    with ctx.db.read() as s:
        [mismatch] = recon.lines(s, recon.LineFilter(state="amount_mismatch"))
    return mismatch.id, p


def test_accept_investigate_and_reopen_are_audited(staffed, tmp_path):
    line_id, _ = _imported_exception(staffed, tmp_path)
    with pytest.raises(InputError, match="Say why with a note"):
        recon.resolve(staffed, FINANCE, line_id, investigate=True)
    with pytest.raises(InputError, match="'tip' is not a reason"):
        recon.resolve(staffed, FINANCE, line_id, accept="tip")
    view = recon.resolve(staffed, FINANCE, line_id, investigate=True, note="asked Razorpay")
    assert (view.resolution, view.open) == ("investigating", True)
    view = recon.resolve(staffed, FINANCE, line_id, accept="fee", note="fee on fee")
    assert (view.resolution, view.resolution_reason, view.open) == ("accepted", "fee", False)
    with staffed.db.read() as s:
        [batch] = recon.summary(s, "setl_A")
        assert batch.unexplained == batch.difference + 1_000  # the accepted −10.00 is explained
    with pytest.raises(Conflict, match=r"already resolved \(accepted\) by bob"):
        recon.resolve(staffed, "root", line_id, investigate=True, note="again")
    view = recon.reopen(staffed, "root", line_id, note="wrong reason")
    assert (view.resolution, view.open) == (None, True)
    with pytest.raises(Refused, match="not resolved"):
        recon.reopen(staffed, "root", line_id)
    with staffed.db.read() as s:
        trail = [(e.actor, e.action) for e in recon.history(s, line_id)]
        details = json.loads(recon.history(s, line_id)[-1].details or "{}")
    assert trail == [
        ("bob", "recon.investigate"),
        ("bob", "recon.accept"),
        ("root", "recon.reopen"),
    ]
    assert details["resolution"] == "accepted" and details["note"] == "wrong reason"


def test_link_by_hand_matches_the_line_against_what_it_was_linked_to(staffed, tmp_path):
    _imported_exception(staffed, tmp_path)
    target = old_payment(staffed, 10_000)
    with staffed.db.read() as s:
        [lost] = recon.lines(s, recon.LineFilter(state="not_in_paydesk"))
    with pytest.raises(NotFound, match="no payment or refund pay_nothing"):
        recon.resolve(staffed, FINANCE, lost.id, link="pay_nothing")
    view = recon.resolve(staffed, FINANCE, lost.id, link=target)
    assert (view.state, view.matched_id, view.resolution, view.open) == (
        "matched",
        target,
        "linked",
        False,
    )
    view = recon.reopen(staffed, FINANCE, lost.id)
    assert (view.state, view.linked_id) == ("not_in_paydesk", None)


def test_support_reads_but_cannot_import_or_resolve(staffed, tmp_path):
    line_id, p = _imported_exception(staffed, tmp_path)
    with pytest.raises(Refused, match="Only finance or admin staff can import"):
        importer.import_report(
            staffed, "alice", write_csv(tmp_path / "t.csv", [rz_row(p, settlement_id="setl_C")])
        )
    with pytest.raises(Refused, match="alice is support"):
        recon.resolve(staffed, "alice", line_id, accept="fee")
    with pytest.raises(Refused):
        recon.reopen(staffed, "alice", line_id)
    with staffed.db.read() as s:
        assert len(recon.lines(s, recon.LineFilter(open_only=True))) == 2
        assert recon.open_totals(s).open_exceptions == 2
    assert matching.STATES.index("matched") == 0


def test_a_matched_line_has_nothing_to_resolve(staffed, tmp_path):
    p = old_payment(staffed, 10_000)
    importer.import_report(staffed, FINANCE, write_csv(tmp_path / "s.csv", [rz_row(p)]))
    with staffed.db.read() as s:
        [line] = recon.lines(s, recon.LineFilter())
    with pytest.raises(Refused, match="is matched; there is nothing to resolve"):
        recon.resolve(staffed, FINANCE, line.id, accept="other")
    with pytest.raises(NotFound):
        recon.resolve(staffed, FINANCE, 999_999, accept="other")


# -- shared mode: the database enforces the roles ----------------------------------------------


def test_in_shared_mode_finance_imports_and_support_only_reads_even_in_sql(owner, logins, tmp_path):  # noqa: F811
    add_merchant(owner)
    p = add_payment(owner, amount=10_000)
    finance, support = logins.copy("finance"), logins.copy("support")
    path = write_csv(tmp_path / "s.csv", [rz_row(p), rz_row("pay_unknown000001")])
    with pytest.raises(Refused):
        importer.import_report(support, support.default_actor(), path)
    result = importer.import_report(finance, finance.default_actor(), path)
    assert result.added == 2
    with support.db.read() as s:
        assert len(recon.lines(s, recon.LineFilter(open_only=True))) == 1
    with logins.sql(support) as conn:
        refused(conn, "UPDATE settlement_lines SET resolution = 'accepted'")
        refused(conn, "DELETE FROM settlement_batches")
    with logins.sql(finance) as conn:
        conn.execute("UPDATE settlement_lines SET resolution_note = 'ok' WHERE false")
