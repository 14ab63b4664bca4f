"""Sample settlement reports for the demo data: the last few days' successful payments and
processed refunds in the ``razorpay`` format, one settlement per day, fees of about 2 % (18 %
of it tax), with a handful of realistic discrepancies planted (a short payment, a payment
settled twice, one Paydesk never saw, a failed payment settled, a chargeback adjustment, and
a payment left out), so the Reconciliation view has something to work through."""

from __future__ import annotations

import csv
import random
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from core import paths
from core.recon.formats import RAZORPAY_COLUMNS
from core.store.db import Database
from core.store.models import Payment, Refund

DAYS = 3
REPORT_NAME = "demo-settlement-{day}.csv"


def _row(**values: object) -> list[object]:
    row: dict[str, object] = dict.fromkeys(RAZORPAY_COLUMNS, "")
    row.update(values)
    return [row[c] for c in RAZORPAY_COLUMNS]


def write_reports(db: Database, folder: Path, *, now: datetime, seed: int = 1) -> list[Path]:
    """Write one report per settled day (T+2) of the ``DAYS`` days before ``now − 2 days``
    into ``folder``; returns the files written."""
    rng = random.Random(seed)
    written: list[Path] = []
    carried: dict[str, object] | None = None
    paths.private_dir(folder)
    for back in range(DAYS, 0, -1):
        start = (now - timedelta(days=2 + back)).replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + timedelta(days=1)
        day = start.strftime("%Y%m%d")
        with db.read() as s:
            pays = s.execute(
                select(
                    Payment.id,
                    Payment.amount,
                    Payment.currency,
                    Payment.status,
                    Payment.created_at,
                    Payment.order_id,
                )
                .where(Payment.created_at >= start, Payment.created_at < end)
                .order_by(Payment.created_at, Payment.id)
            ).all()
            refunds = s.execute(
                select(
                    Refund.id,
                    Refund.payment_id,
                    Refund.amount,
                    Refund.currency,
                    Refund.processed_at,
                )
                .where(
                    Refund.status == "processed",
                    Refund.processed_at >= start,
                    Refund.processed_at < end,
                )
                .order_by(Refund.processed_at, Refund.id)
            ).all()
        settlement = f"setl_demo{day}"
        base = {
            "settlement_id": settlement,
            "settlement_utr": f"UTRDEMO{day}",
            "settled": 1,
            "settled_at": int((end + timedelta(days=2)).timestamp()),
        }
        rows: list[list[object]] = []
        planted = 0
        for i, (pid, amount, currency, status, created, order) in enumerate(pays):
            if status != "success":
                if planted == 0 and back == 1:
                    planted += 1  # a failed payment the processor settled anyway
                else:
                    continue
            if i == 7 and back == DAYS:
                continue  # left out: missing from settlement
            settled_amount = amount - 100 if i == 3 and back == 2 else amount  # short
            fee = settled_amount * 2 // 100
            fields: dict[str, object] = {
                "entity_id": pid,
                "type": "payment",
                "amount": settled_amount,
                "currency": currency,
                "fee": fee,
                "tax": fee * 18 // 118,
                "credit": settled_amount - fee,
                "debit": 0,
                "created_at": int(created.timestamp()),
                "order_id": order,
                "method": "upi",
            }
            rows.append(_row(**fields, **base))
            if i == 5 and back == 2:
                carried = fields  # settled again the next day: a duplicate
        for rid, pid, amount, currency, processed in refunds:
            rows.append(
                _row(
                    entity_id=rid,
                    type="refund",
                    amount=amount,
                    currency=currency,
                    fee=0,
                    tax=0,
                    credit=0,
                    debit=amount,
                    created_at=int((processed or start).timestamp()),
                    payment_id=pid,
                    **base,
                )
            )
        if back == 1 and carried is not None:
            rows.append(_row(**carried, **base))
        if back == 1:
            stranger = rng.randrange(50_000, 500_000)
            rows.append(
                _row(
                    entity_id=f"pay_demoStranger{day[-4:]}",
                    type="payment",
                    amount=stranger,
                    currency="INR",
                    fee=stranger * 2 // 100,
                    tax=stranger * 2 // 100 * 18 // 118,
                    credit=stranger - stranger * 2 // 100,
                    debit=0,
                    created_at=int(start.timestamp()) + 3600,
                    **base,
                )
            )
            rows.append(
                _row(
                    entity_id=f"adj_demoChargeback{day[-4:]}",
                    type="adjustment",
                    amount=150_000,
                    currency="INR",
                    fee=0,
                    tax=0,
                    credit=0,
                    debit=150_000,
                    created_at=int(start.timestamp()) + 7200,
                    description="Chargeback",
                    **base,
                )
            )
        if not rows:
            continue
        path = folder / REPORT_NAME.format(day=day)
        with path.open("w", newline="", encoding="utf-8") as fh:
            out = csv.writer(fh)
            out.writerow(RAZORPAY_COLUMNS)
            out.writerows(rows)
        written.append(path)
    return written
