"""The demo's sample settlement reports import cleanly and plant the discrepancies the
Reconciliation view is meant to show, on both databases."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from core.demo import settlements
from core.recon import importer
from core.store.models import Payment
from tests.test_recon import states
from tests.test_refunds import T0, add_merchant, add_payment, add_staff


def test_demo_reports_import_with_their_planted_discrepancies(ctx, tmp_path):
    add_staff(ctx)
    add_merchant(ctx)
    for day in range(3, 6):
        for n in range(10):
            pid = add_payment(ctx, amount=1_000 * (n + 1))
            with ctx.db.write() as s:
                s.execute(
                    update(Payment)
                    .where(Payment.id == pid)
                    .values(created_at=T0 - timedelta(days=day, hours=-n))
                )
    files = settlements.write_reports(ctx.db, tmp_path / "settlements", now=T0)
    assert [f.name for f in files] == [
        "demo-settlement-20260110.csv",
        "demo-settlement-20260111.csv",
        "demo-settlement-20260112.csv",
    ]
    for f in files:
        importer.import_report(ctx, "bob", f)
    found = list(states(ctx).values())
    for state in ("matched", "amount_mismatch", "duplicate", "not_in_paydesk", "adjustment"):
        assert state in found, state
    assert found.count("missing_from_settlement") == 1
