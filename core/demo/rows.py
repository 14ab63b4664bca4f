"""Generating the demo rows: a deterministic generator that turns a seed into batches of
payments, refunds, webhook logs, attempts and audit events, all drawn from precomputed pools."""

from __future__ import annotations

import base64
import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from core import ids
from core.clock import utc
from core.demo.pools import (
    ATTEMPT_FAILURES,
    ATTEMPT_OFFSETS,
    ATTEMPT_OK_BODY,
    BULK_TABLES,
    CURRENCY_WEIGHTS,
    DAY_US,
    DECIDERS,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    FOREIGN_METHOD_WEIGHTS,
    HISTORY_DAYS,
    IN_FLIGHT_REFUNDS,
    INACTIVE_REFUNDS,
    INR_METHOD_WEIGHTS,
    MERCHANT_EMAIL_USERS,
    MERCHANTS,
    MINUTE_US,
    PAYMENT_ERRORS,
    REFUND_FAILURES,
    REFUND_NOTES,
    REFUND_REASONS,
    REFUND_STATUS_WEIGHTS,
    REFUND_STATUSES,
    REJECTION_NOTES,
    REQUESTERS,
    RETRY_DELAYS,
    SECOND_US,
    SURNAMES,
    UPI_HANDLES,
    WORKER_CLIENTS,
)
from core.money import format_money
from core.webhooks.events import build_payload


class Times:
    """Times are integer microseconds after ``base`` (a UTC midnight shortly before the
    demo's history starts). ``text`` renders the exact form SQLAlchemy's DateTime stores on
    SQLite ("YYYY-MM-DD HH:MM:SS.ffffff", naive UTC), which Postgres reads as timestamptz in
    a UTC session. Over the busy span it joins a prebuilt minute prefix with the seconds,
    several times faster than formatting a datetime per value."""

    def __init__(
        self, now: datetime, days_back: int = HISTORY_DAYS + 1, days_ahead: int = 40
    ) -> None:
        self.base = datetime(now.year, now.month, now.day, tzinfo=UTC) - timedelta(days=days_back)
        self.now = (now - self.base) // timedelta(microseconds=1)
        clock = [f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60)]
        minutes = [
            day + hm
            for day in (
                (self.base + timedelta(days=d)).strftime("%Y-%m-%d ")
                for d in range(days_back + days_ahead + 1)
            )
            for hm in clock
        ]
        count = len(minutes)
        base = self.base

        def text(t: int) -> str:
            m, rest = divmod(t, MINUTE_US)
            if 0 <= m < count:
                x = str(100_000_000 + rest)  # "1SSffffff"
                return f"{minutes[m]}{x[1:3]}.{x[3:]}"
            return (base + timedelta(microseconds=t)).strftime("%Y-%m-%d %H:%M:%S.%f")

        self.text = text

    def datetime(self, t: int) -> datetime:
        return self.base + timedelta(microseconds=t)

    def iso(self, t: int) -> str:
        """ISO 8601 UTC for JSON payloads (always with microseconds)."""
        return self.text(t).replace(" ", "T", 1) + "Z"


def db_text(dt: datetime) -> str:
    """One time in the stored text form (see ``Times``)."""
    return utc(dt).strftime("%Y-%m-%d %H:%M:%S.%f")


def weighted_table(pairs: Sequence[tuple[str, int]], size: int = 1024) -> list[str]:
    table: list[str] = []
    for value, weight in pairs:
        table.extend([value] * weight)
    assert len(table) == size
    return table


@dataclass
class DemoMerchant:
    id: str
    url: str  # where attempts were sent (the demo receiver, or a reserved .example host)
    weight: int
    last_success: int = -1


class Sale(NamedTuple):
    """A captured payment that a subscription or refunds may follow."""

    pay_id: str
    merchant: DemoMerchant
    amount: int
    currency: str


class Generator:
    """Produces rows table by table; every random choice comes from one ``random.Random``."""

    def __init__(
        self, rng: random.Random, times: Times, payments: int, webhook_url: str | None
    ) -> None:
        self.rng = rng
        self.times = times
        self.webhook_url = webhook_url
        self.start = times.now - HISTORY_DAYS * DAY_US
        self.slot = HISTORY_DAYS * DAY_US / payments
        self.merchants: list[DemoMerchant] = []
        self._refund_cover = list(REFUND_STATUSES)
        self._log_cover = ["success", "failed", "pending"]
        self._ids: dict[str, list[str]] = {}
        self._build_pools()

    def _id(self, kind: str) -> str:
        """The next id of ``kind``, drawn in blocks (``ids.new_ids``) for speed."""
        pool = self._ids.get(kind)
        if not pool:
            pool = self._ids[kind] = ids.new_ids(kind, 1024, self.rng)
            pool.reverse()
        return pool.pop()

    # pools ----------------------------------------------------------------------------

    def _build_pools(self) -> None:
        rng = self.rng
        self.currency_table = weighted_table(CURRENCY_WEIGHTS)
        self.inr_methods = weighted_table(INR_METHOD_WEIGHTS)
        self.foreign_methods = weighted_table(FOREIGN_METHOD_WEIGHTS)
        self.amounts = {
            cur: [self._amount(cur) for _ in range(4096)] for cur, _ in CURRENCY_WEIGHTS
        }
        self.vpas = [self._vpa() for _ in range(16384)]
        self.emails = [self._email() for _ in range(16384)]
        self.last4 = [f"{rng.randrange(10000):04d}" for _ in range(4096)]

    def _amount(self, currency: str) -> int:
        """A price-like amount in minor units, log-uniform over what people pay in it."""
        rng = self.rng
        lo, hi = {
            "INR": (49, 50_000),
            "USD": (5, 2_000),
            "EUR": (5, 1_500),
            "JPY": (300, 200_000),
            "KWD": (1, 400),
        }[currency]
        major = int(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        if currency == "JPY":
            return max(100, major // 10 * 10)
        if currency == "KWD":
            return major * 1000 + rng.choice((0, 250, 500, 750, rng.randrange(0, 1000, 5)))
        style = rng.random()
        if style < 0.55 and major >= 20:
            return (major // 10 * 10 + 9) * 100  # ₹1,299 / $49
        if style < 0.75:
            return major * 100 + 99 if currency != "INR" else major * 100
        return major * 100 + rng.randrange(100)

    def _vpa(self) -> str:
        rng = self.rng
        first, last = rng.choice(FIRST_NAMES), rng.choice(SURNAMES)
        handle = rng.choice(UPI_HANDLES)
        style = rng.random()
        if style < 0.6:
            return f"{first}.{last}@{handle}"
        if style < 0.8:
            return f"{first}{last}{rng.randrange(1, 99)}@{handle}"
        return f"{rng.randrange(6_000_000_000, 9_999_999_999)}@{handle}"

    def _email(self) -> str:
        rng = self.rng
        first, last = rng.choice(FIRST_NAMES), rng.choice(SURNAMES)
        domain = rng.choice(EMAIL_DOMAINS)
        if rng.random() < 0.6:
            return f"{first}.{last}@{domain}"
        return f"{first}{rng.randrange(1, 999)}@{domain}"

    # small tables ---------------------------------------------------------------------

    def merchant_rows(self) -> list[tuple[Any, ...]]:
        rng, times = self.rng, self.times
        chosen = rng.sample(MERCHANTS, rng.randint(5, 8))
        rows = []
        for rank, (name, domain) in enumerate(chosen):
            merchant_id = ids.new_id("merchant", rng)
            secret = "whsec_" + base64.b64encode(rng.randbytes(24)).decode("ascii")
            created = times.now - (120 + rng.randrange(300)) * DAY_US - rng.randrange(DAY_US)
            url = self.webhook_url or f"https://hooks.{domain.split('.')[0]}.example/paydesk"
            # A few big merchants and a long tail, as on a real gateway.
            self.merchants.append(DemoMerchant(merchant_id, url, weight=max(1, 40 // (rank + 1))))
            rows.append(
                (
                    merchant_id,
                    name,
                    f"{rng.choice(MERCHANT_EMAIL_USERS)}@{domain}",
                    self.webhook_url,
                    secret,
                    None,
                    None,
                    self.webhook_url is not None,
                    None if self.webhook_url else "No webhook endpoint is set up.",
                    0,
                    None,
                    None,
                    times.text(created),
                )
            )
        self.merchant_table = [m for m in self.merchants for _ in range(m.weight)]
        return rows

    def merchant_updates(self) -> list[tuple[Any, ...]]:
        return [
            (self.times.text(m.last_success) if m.last_success >= 0 else None, m.id)
            for m in self.merchants
        ]

    # payments -------------------------------------------------------------------------

    def batch(self, first: int, stop: int) -> dict[str, list[tuple[Any, ...]]]:
        """Payments ``first``..``stop - 1`` (chronological) and everything hanging off them."""
        out: dict[str, list[tuple[Any, ...]]] = {name: [] for name in BULK_TABLES}
        payments = out["payments"]
        rng = self.rng
        rnd, bits = rng.random, rng.getrandbits
        pay_ids = ids.new_ids("payment", stop - first, rng)
        order_ids = ids.new_ids("order", stop - first, rng)
        text = self.times.text
        now = self.times.now
        start, slot = self.start, self.slot
        merchant_table = self.merchant_table
        n_merchants = len(merchant_table)
        currency_table, amounts = self.currency_table, self.amounts
        inr_methods, foreign_methods = self.inr_methods, self.foreign_methods
        vpas, emails, last4 = self.vpas, self.emails, self.last4
        errors = PAYMENT_ERRORS

        for i in range(first, stop):
            t = start + int((i + rnd()) * slot)
            merchant = merchant_table[int(rnd() * n_merchants)]
            currency = currency_table[bits(10)]
            amount = amounts[currency][bits(12)]
            method = inr_methods[bits(10)] if currency == "INR" else foreign_methods[bits(10)]
            email = vpa = card = None
            if method == "upi":
                vpa = vpas[bits(14)]
            else:
                email = emails[bits(14)]
                if method == "card":
                    card = last4[bits(12)]
            pay_id = pay_ids[i - first]
            order_id = order_ids[i - first]
            r = rnd()
            code = description = None
            if r < 0.85:
                status, captured = "success", True
                updated = min(t + 2 * SECOND_US + bits(25), now)
            elif r < 0.95:
                status, captured = "failed", False
                code, description = errors[method][bits(8) % len(errors[method])]
                updated = min(t + 5 * SECOND_US + bits(27), now)
            else:
                status, captured, updated = "pending", False, t
            created_text = text(t)
            event_text = text(updated) if updated != t else created_text
            if status != "pending" and rnd() < 0.2:
                data = {
                    "id": pay_id,
                    "order_id": order_id,
                    "merchant_id": merchant.id,
                    "amount": amount,
                    "currency": currency,
                    "method": method,
                    "status": status,
                    "captured": captured,
                    "customer_email": email,
                    "customer_vpa": vpa,
                    "card_last4": card,
                    "error_code": code,
                    "error_description": description,
                    "created_at": created_text.replace(" ", "T") + "Z",
                }
                event = "payment.captured" if captured else "payment.failed"
                self._webhook(out, merchant, event, pay_id, updated, data, event_text)
            refunded = 0
            if captured and r < 0.09:  # about one successful payment in ten has more to it
                sale = Sale(pay_id, merchant, amount, currency)
                refunded, last_change = self._after_sale(out, sale, t, r)
                if last_change > updated:
                    updated, event_text = last_change, text(last_change)
            payments.append(
                (
                    pay_id,
                    merchant.id,
                    order_id,
                    amount,
                    currency,
                    method,
                    status,
                    captured,
                    email,
                    vpa,
                    card,
                    code,
                    description,
                    refunded,
                    created_text,
                    event_text,
                )
            )
        return out

    def _after_sale(
        self, out: dict[str, list[tuple[Any, ...]]], sale: Sale, t: int, r: float
    ) -> tuple[int, int]:
        """A subscription and/or refunds for a successful payment; returns
        (refunded_amount, time of the last change to it)."""
        pay_id, merchant, amount = sale.pay_id, sale.merchant, sale.amount
        rng, times, now = self.rng, self.times, self.times.now
        if r < 0.04:
            sub_id = self._id("subscription")
            period_end = t + 30 * DAY_US
            cancelled = None
            refunded, last_change = 0, t
            if rng.random() < 0.35:
                # Cancelled inside the period: a pro-rata refund of the unused days.
                cancelled = t + int(min(now - t, 30 * DAY_US) * rng.uniform(0.05, 0.95))
                unused = amount * (period_end - cancelled) // (30 * DAY_US)
                if unused > 0:
                    refunded, last_change = self._refunds(out, sale, cancelled, "pro_rata", sub_id)
            out["subscriptions"].append(
                (
                    sub_id,
                    pay_id,
                    merchant.id,
                    times.text(t),
                    times.text(period_end),
                    None if cancelled is None else times.text(cancelled),
                    30,
                )
            )
            return refunded, last_change
        kind = "full" if rng.random() < 0.45 else "partial"
        return self._refunds(out, sale, t, kind, None)

    def _refund_status(self) -> str:
        # The first refunds cover every state, so even a small demo shows all of them.
        if self._refund_cover:
            return self._refund_cover.pop(0)
        x = self.rng.randrange(100)
        for status, weight in zip(REFUND_STATUSES, REFUND_STATUS_WEIGHTS, strict=True):
            if status == "processed":
                continue
            if x < weight:
                return status
            x -= weight
        return "processed"

    def _refunds(
        self,
        out: dict[str, list[tuple[Any, ...]]],
        sale: Sale,
        after: int,
        kind: str,
        sub_id: str | None,
    ) -> tuple[int, int]:
        pay_id, merchant, amount, currency = sale
        rng, times, now = self.rng, self.times, self.times.now
        text = times.text
        unit = 10 ** {"JPY": 0, "KWD": 3}.get(currency, 2)
        active = 0  # the sum that counts against the payment amount
        last_change = after
        created = after
        requests = 1 if kind != "partial" else rng.choice((1, 1, 2, 3))
        for _ in range(requests):
            remaining = amount - active
            if remaining <= 0:
                break
            if kind == "full":
                value, reason = remaining, pick(rng, REFUND_REASONS)
            elif kind == "pro_rata":
                value = amount * (after + 30 * DAY_US - created) // (30 * DAY_US)
                value, reason = min(value, remaining), "pro_rata"
            else:
                value = int(remaining * rng.uniform(0.1, 0.6))
                if value >= 10 * unit:
                    value -= value % unit  # partial refunds are usually whole rupees/dollars
                value, reason = max(1, min(value, remaining)), pick(rng, REFUND_REASONS)
            status = self._refund_status()
            if kind != "pro_rata":
                created = created + 60 * SECOND_US + int((now - created) * rng.random() * 0.4)
                if status in IN_FLIGHT_REFUNDS:
                    # Work still in progress was asked for recently, not months ago.
                    created = max(created, now - int(5 * DAY_US * rng.random()))
            created = min(created, now - 10 * SECOND_US)
            refund_id = self._id("refund")
            requester = rng.choice(REQUESTERS)
            decider = rng.choice([d for d in DECIDERS if d != requester])
            decided = processed = lease_expires = None
            decided_by = decision_note = failure = lease_owner = None
            version, updated = 1, created
            audit = out["audit_events"]
            # Audit actions and details as core.refunds.service writes them.
            details = {
                "amount": value,
                "amount_text": format_money(value, currency),
                "currency": currency,
                "kind": kind,
                "payment_id": pay_id,
                "reason": reason,
            }
            audit.append(
                (
                    text(created),
                    requester,
                    "refund.request",
                    "refund",
                    refund_id,
                    json.dumps({**details, "status": "pending_approval"}, sort_keys=True),
                    None,
                )
            )
            if status == "cancelled":
                # Only the requester cancels, and is recorded as the one who decided so.
                decided = updated = created + int((now - created) * rng.random() * 0.2)
                decided_by, version = requester, 2
                audit.append(
                    (text(updated), requester, "refund.cancel", "refund", refund_id,
                     json.dumps(details, sort_keys=True), None)
                )  # fmt: skip
            elif status != "pending_approval":
                decided = created + int((now - created) * rng.random() * 0.3)
                decided_by, updated, version = decider, decided, 2
                action = "refund.approve"
                if status == "rejected":
                    decision_note, action = rng.choice(REJECTION_NOTES), "refund.reject"
                decision = {**details, "note": decision_note, "previous_status": "pending_approval"}
                audit.append(
                    (text(decided), decider, action, "refund", refund_id,
                     json.dumps(decision, sort_keys=True), None)
                )  # fmt: skip
                if status in ("processing", "processed", "failed"):
                    claimed = decided + int(min(now - decided, 120 * SECOND_US) * rng.random())
                    updated, version = claimed, 3
                    if status == "processing":
                        lease_owner = rng.choice(WORKER_CLIENTS)
                        lease_expires = claimed + 60 * SECOND_US
                    else:
                        done = claimed + int(min(now - claimed, 30 * SECOND_US) * rng.random())
                        updated, version = done, 4
                        if status == "processed":
                            processed = done
                        else:
                            failure = rng.choice(REFUND_FAILURES)
            if status not in INACTIVE_REFUNDS:
                active += value
                last_change = max(last_change, created)
            else:
                last_change = max(last_change, updated)
            out["refunds"].append(
                (
                    refund_id,
                    pay_id,
                    merchant.id,
                    value,
                    currency,
                    kind,
                    reason,
                    rng.choice(REFUND_NOTES),
                    status,
                    f"demo-{refund_id[5:]}" if rng.random() < 0.5 else None,
                    sub_id,
                    requester,
                    decided_by,
                    None if decided is None else text(decided),
                    decision_note,
                    None if processed is None else text(processed),
                    failure,
                    lease_owner,
                    None if lease_expires is None else text(lease_expires),
                    version,
                    text(created),
                    text(updated),
                )
            )
            if processed is not None:
                data = {
                    "id": refund_id,
                    "payment_id": pay_id,
                    "merchant_id": merchant.id,
                    "amount": value,
                    "currency": currency,
                    "kind": kind,
                    "reason": reason,
                    "status": "processed",
                    "processed_at": times.iso(processed),
                    "created_at": times.iso(created),
                }
                self._webhook(out, merchant, "refund.processed", refund_id, processed, data)
        return active, last_change

    def _log_plan(self) -> tuple[str, int]:
        """(outcome, failed attempts before it) for the next webhook log."""
        rng = self.rng
        outcome = self._log_cover.pop(0) if self._log_cover else None
        if outcome is None:
            x = rng.random()
            outcome = "success" if x < 0.84 else "failed" if x < 0.93 else "pending"
        if outcome == "success":
            return outcome, rng.choice((0, 0, 0, 0, 0, 0, 0, 0, 1, 2))
        if outcome == "failed":
            return outcome, len(RETRY_DELAYS)
        return outcome, rng.randrange(4)

    def _webhook(
        self,
        out: dict[str, list[tuple[Any, ...]]],
        merchant: DemoMerchant,
        event: str,
        entity_id: str,
        at: int,
        data: dict[str, Any],
        created_text: str | None = None,
    ) -> None:
        """One webhook log and its attempts, replayed along the retry schedule up to now."""
        times, now, rnd = self.times, self.times.now, self.rng.random
        text = times.text
        log_id = self._id("webhook")
        outcome, failures = self._log_plan()
        planned = failures + (1 if outcome == "success" else 0)
        attempts = out["webhook_attempts"]
        made = 0
        code = body = error = None
        last_at: int | None = None
        next_at: int | None = at
        client = WORKER_CLIENTS[int(rnd() * len(WORKER_CLIENTS))]
        for n in range(planned + (1 if outcome == "pending" else 0)):
            jitter = int(RETRY_DELAYS[n] * SECOND_US * 0.1 * rnd())
            started = at + ATTEMPT_OFFSETS[n] * SECOND_US + jitter + int(20_000 + rnd() * 880_000)
            if n == planned or started > now:
                next_at = started  # not made yet: the dispatcher owes this attempt
                break
            if n < failures:
                code, body, error = ATTEMPT_FAILURES[int(rnd() * len(ATTEMPT_FAILURES))]
                duration = 5000 if code is None else int(30 + rnd() * 870)
            else:
                code, body, error = 200, ATTEMPT_OK_BODY, None
                duration = int(40 + rnd() * 360)
                merchant.last_success = max(merchant.last_success, started)
            made += 1
            last_at = started + duration * 1000
            attempts.append(
                (log_id, made, text(started), duration, merchant.url, code, body, error,
                 "scheduled", None, client)
            )  # fmt: skip
            next_at = None
        if next_at is not None:
            status = "pending"
        elif code == 200:
            status = "success"
        else:
            status = "failed"
        created = created_text or text(at)
        updated = created if last_at is None else text(last_at)
        payload = build_payload(log_id, event, times.datetime(at), data)
        out["webhook_logs"].append(
            (
                log_id,
                merchant.id,
                event,
                payload,
                entity_id,
                status,
                made,
                updated if last_at is not None else None,
                None if next_at is None else text(next_at),
                code,
                body,
                error,
                None,
                None,
                created,
                updated,
                0,
                None,
                None,
            )
        )


def pick(rng: random.Random, weighted: Sequence[tuple[str, int]]) -> str:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]
