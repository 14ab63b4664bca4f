"""A fake payment gateway for the tests: a real HTTP server on 127.0.0.1 that plays the API of
GATEWAY_API.md, with a switch for each variation the implementations in the wild show.

State lives in memory (payments, refunds, webhook logs), can be seeded with ``seed`` and changed
by the tests (``set_payment_status``, ``process_refunds``, ``add_log``). Every request is
recorded in ``requests`` so a test can check what the client sent.

Variations (``Variation`` fields):

``payment_list``    ``"paged"`` (``{count, total, payments}`` with ``limit``/``skip``), ``"array"``
                    (a bare array, ``limit`` ignored) or ``"none"`` (the route is missing)
``refund_list``     ``GET /refunds?limit&skip&payment_id`` exists
``idempotency``     ``"ignored"`` (the same refund POST twice makes two refunds), ``"body"``
                    (an identical body with the same ``idempotency_key`` returns the first) or
                    ``"header"`` (the same ``Idempotency-Key`` header returns the first)
``unknown_routes``  ``"json404"``, ``"html404"``, or ``"html200"`` (the dashboard's HTML, 200)
``retry_route``     ``POST /webhooks/{id}/retry`` exists
``drop_refund_every``  N: every N-th refund POST is committed, then the connection is closed
                    without an answer (0: never)
``merchant_profile``   ``GET /merchants/me`` exists (and leaks the secrets, as one does)
``zoned_times``     timestamps end in ``Z`` (False: no zone, as most implementations store them)
``max_limit``       the most rows one page gives, whatever ``limit`` asks
``fail_status``     every merchant route answers this status (a ``5xx`` outage; 0: none)
``delay``           seconds every answer waits (timeouts)
``order``           ``"newest"`` first (``created_at`` descending, as the implementations seen
                    list payments, refunds and logs) or ``"oldest"`` first
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

API_KEY = "key_test_abc123"
API_SECRET = "secret_test_xyz789"
MERCHANT_ID = "550e8400-e29b-41d4-a716-446655440000"
START = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
DASHBOARD_HTML = b"<!doctype html><html><body><div id='root'>Gateway dashboard</div></body></html>"


@dataclass(frozen=True)
class Variation:
    payment_list: str = "paged"
    refund_list: bool = False
    idempotency: str = "ignored"
    unknown_routes: str = "json404"
    retry_route: bool = True
    drop_refund_every: int = 0
    merchant_profile: bool = False
    zoned_times: bool = True
    queue_status: bool = True
    max_limit: int = 100
    fail_status: int = 0
    delay: float = 0.0
    order: str = "newest"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class State:
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    logs: dict[str, dict[str, Any]] = field(default_factory=dict)
    # body-idempotency: (payment id, key) -> (body, refund id)
    idem: dict[tuple[str, str], tuple[bytes, str]] = field(default_factory=dict)
    refund_posts: int = 0


class FakeGateway:
    def __init__(self, variation: Variation | None = None) -> None:
        self.variation = variation or Variation()
        self.state = State()
        self.requests: list[Seen] = []
        self.lock = threading.RLock()
        self._tick = 0
        # Each list in its order, kept until a row is added or changed through the helpers
        # (sorting 100,000 rows for every page would make the bench measure the fake).
        self._sorted: dict[str, tuple[int, int, list[dict[str, Any]]]] = {}
        # Requests being answered right now, and the most there ever were at once.
        self.in_flight = 0
        self.most_in_flight = 0
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                gateway._serve(self, body)

            do_GET = _handle
            do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    # -- for the tests -----------------------------------------------------------------------

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        return f"{self.root}/api/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def vary(self, **changes: Any) -> None:
        """Switch variations while running."""
        self.variation = replace(self.variation, **changes)

    def _now(self) -> datetime:
        # Each new row is a millisecond later than the last: a stable newest-first order.
        self._tick += 1
        return START + timedelta(milliseconds=self._tick)

    def stamp(self, when: datetime) -> str:
        text = (
            when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}"
        )
        return text + "Z" if self.variation.zoned_times else text

    def add_payment(
        self, amount: int = 50_000, status: str = "success", method: str = "upi", **extra: Any
    ) -> dict[str, Any]:
        with self.lock:
            n = len(self.state.payments) + 1
            at = self.stamp(self._now())
            pay: dict[str, Any] = {
                "id": f"pay_{n:012d}",
                "order_id": f"order_{n:010d}",
                "merchant_id": MERCHANT_ID,
                "amount": amount,
                "currency": "INR",
                "method": method,
                "status": status,
                "vpa": "user@okbank" if method == "upi" else None,
                "card_network": "visa" if method == "card" else None,
                "card_last4": "4242" if method == "card" else None,
                "captured": status == "success",
                "error_code": "PAYMENT_FAILED" if status == "failed" else None,
                "error_description": "Declined by bank" if status == "failed" else None,
                "created_at": at,
                "updated_at": at,
            }
            pay.update(extra)
            self.state.payments[pay["id"]] = pay
            return pay

    def add_log(
        self, event: str, entity: dict[str, Any], status: str = "success"
    ) -> dict[str, Any]:
        with self.lock:
            at = self._now()
            kind = "refund" if event.startswith("refund.") else "payment"
            log: dict[str, Any] = {
                "id": str(uuid.UUID(int=len(self.state.logs) + 1)),
                "merchant_id": MERCHANT_ID,
                "event": event,
                "payload": {
                    "event": event,
                    "timestamp": int(at.timestamp()),
                    "data": {kind: dict(entity)},
                },
                "status": status,
                "attempts": 1,
                "last_attempt_at": self.stamp(at),
                "next_retry_at": None,
                "response_code": 200 if status == "success" else 500,
                "response_body": "ok" if status == "success" else "error",
                "created_at": self.stamp(at),
            }
            self.state.logs[log["id"]] = log
            return log

    def seed(self, payments: int = 0, logs: int = 0, refunds: int = 0) -> None:
        """``payments`` successful payments, a ``payment.success`` log for each of the first
        ``logs`` of them, and a pending refund of 100 on each of the first ``refunds``."""
        with self.lock:
            made = [self.add_payment(amount=10_000 + i) for i in range(payments)]
            for pay in made[:logs]:
                self.add_log("payment.success", pay)
            for pay in made[:refunds]:
                self._create_refund(pay, 100, "seeded")

    def set_payment_status(self, payment_id: str, status: str, *, log: bool = True) -> None:
        with self.lock:
            pay = self.state.payments[payment_id]
            pay["status"] = status
            pay["captured"] = status == "success"
            pay["updated_at"] = self.stamp(self._now())
            if log and status in ("success", "failed"):
                self.add_log(f"payment.{status}", pay)

    def deliver_log(self, log_id: str, status: str = "success") -> dict[str, Any]:
        """The gateway's worker tries a log again (a retry of an old log): one more attempt,
        ending ``status``; the log keeps its place in the list."""
        with self.lock:
            log = self.state.logs[log_id]
            at = self._now()
            log["status"] = status
            log["attempts"] = int(log.get("attempts") or 0) + 1
            log["last_attempt_at"] = self.stamp(at)
            log["next_retry_at"] = None if status != "pending" else self.stamp(at)
            log["response_code"] = 200 if status == "success" else 500
            log["response_body"] = "ok" if status == "success" else "error"
            return log

    def listed(self, kind: str) -> list[dict[str, Any]]:
        """The payments, refunds or logs in the order the list routes give them. Kept between
        requests: rows only ever join at the newest end (a test that sets ``created_at`` of a
        stored row in place must add a row or call ``relist``)."""
        with self.lock:
            rows: dict[str, dict[str, Any]] = getattr(self.state, kind)
            cached = self._sorted.get(kind)
            if cached is None or cached[0] != id(rows) or cached[1] > len(rows):
                newest = sorted(rows.values(), key=lambda r: r["created_at"], reverse=True)
            elif cached[1] == len(rows):
                newest = cached[2]
            else:
                # Only what joined since (dicts keep their order) is sorted, onto the head when
                # it is all newer, as rows made through the helpers are.
                joined = sorted(
                    list(rows.values())[cached[1] :], key=lambda r: r["created_at"], reverse=True
                )
                old = cached[2]
                if not old or joined[-1]["created_at"] >= old[0]["created_at"]:
                    newest = joined + old
                else:
                    newest = sorted(rows.values(), key=lambda r: r["created_at"], reverse=True)
            self._sorted[kind] = (id(rows), len(rows), newest)
            return newest[::-1] if self.variation.order == "oldest" else newest

    def relist(self) -> None:
        """Forget the lists' order (after changing a stored row's ``created_at`` in place)."""
        with self.lock:
            self._sorted.clear()

    def process_refunds(self, payment_ids: set[str] | None = None) -> None:
        """The gateway's worker: every pending refund (of ``payment_ids`` when given) becomes
        processed, each with its ``refund.processed`` log."""
        with self.lock:
            for ref in list(self.state.refunds.values()):
                if payment_ids is not None and ref["payment_id"] not in payment_ids:
                    continue
                if ref["status"] == "pending":
                    ref["status"] = "processed"
                    ref["processed_at"] = self.stamp(self._now())
                    self.add_log("refund.processed", ref)

    def refunds_of(self, payment_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.state.refunds.values() if r["payment_id"] == payment_id]

    # -- the API -----------------------------------------------------------------------------

    def _serve(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            self._answer(h, body)
        finally:
            with self.lock:
                self.in_flight -= 1

    def _answer(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        headers = {k.lower(): v for k, v in h.headers.items()}
        with self.lock:
            self.requests.append(Seen(h.command, h.path, headers, body))
        if self.variation.delay:
            time.sleep(self.variation.delay)
        url = urlsplit(h.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        parts = [p for p in url.path.split("/") if p]
        if parts == ["health"]:
            return _json(h, 200, {"status": "healthy", "database": "connected"})
        if parts[:2] != ["api", "v1"]:
            return self._unknown(h)
        route = parts[2:]
        if route == ["test", "jobs", "status"] and self.variation.queue_status:
            with self.lock:
                pending = sum(1 for r in self.state.refunds.values() if r["status"] == "pending")
            return _json(
                h,
                200,
                {
                    "pending": pending,
                    "processing": 0,
                    "completed": 7,
                    "failed": 1,
                    "worker_status": "running",
                },
            )
        if headers.get("x-api-key") != API_KEY or headers.get("x-api-secret") != API_SECRET:
            return _json(
                h,
                401,
                {
                    "error": {
                        "code": "AUTHENTICATION_ERROR",
                        "description": "Invalid API credentials",
                    }
                },
            )
        if self.variation.fail_status:
            return _reply(h, self.variation.fail_status, b"Service Unavailable", "text/plain")
        try:
            return self._route(h, route, query, body)
        except _Unknown:
            return self._unknown(h)

    def _unknown(self, h: BaseHTTPRequestHandler) -> None:
        mode = self.variation.unknown_routes
        if mode == "html200":
            return _reply(h, 200, DASHBOARD_HTML, "text/html; charset=utf-8")
        if mode == "html404":
            return _reply(h, 404, b"<html><body>Cannot GET</body></html>", "text/html")
        # A framework's own 404, not the gateway's NOT_FOUND_ERROR for an unknown id.
        return _json(h, 404, {"detail": "Not Found"})

    def _route(
        self, h: BaseHTTPRequestHandler, route: list[str], query: dict[str, str], body: bytes
    ) -> None:
        v = self.variation
        method = h.command
        if method == "GET" and route == ["payments"]:
            if v.payment_list == "none":
                raise _Unknown
            rows = self.listed("payments")
            if v.payment_list == "array":
                return _json(h, 200, rows)
            limit = min(_int(query.get("limit"), 10), v.max_limit)
            skip = _int(query.get("skip"), 0)
            page = rows[skip : skip + limit]
            return _json(h, 200, {"count": len(page), "total": len(rows), "payments": page})
        if method == "GET" and len(route) == 2 and route[0] == "payments":
            with self.lock:
                pay = self.state.payments.get(route[1])
            if pay is None:
                return _not_found(h, "Payment not found")
            return _json(h, 200, pay)
        if (
            method == "POST"
            and len(route) == 3
            and route[0] == "payments"
            and route[2] == "refunds"
        ):
            return self._post_refund(h, route[1], body, h.headers.get("Idempotency-Key"))
        if method == "GET" and route == ["refunds"]:
            if not v.refund_list:
                raise _Unknown
            rows = self.listed("refunds")
            if "payment_id" in query:
                rows = [r for r in rows if r["payment_id"] == query["payment_id"]]
            limit = min(_int(query.get("limit"), 10), v.max_limit)
            skip = _int(query.get("skip"), 0)
            page = rows[skip : skip + limit]
            return _json(h, 200, {"count": len(page), "total": len(rows), "refunds": page})
        if method == "GET" and len(route) == 2 and route[0] == "refunds":
            with self.lock:
                ref = self.state.refunds.get(route[1])
            if ref is None:
                return _not_found(h, "Refund not found")
            return _json(h, 200, ref)
        if method == "GET" and route == ["webhooks"]:
            rows = self.listed("logs")
            limit = min(_int(query.get("limit"), 10), v.max_limit)
            offset = _int(query.get("offset"), 0)
            return _json(
                h,
                200,
                {
                    "data": rows[offset : offset + limit],
                    "total": len(rows),
                    "limit": limit,
                    "offset": offset,
                },
            )
        if method == "POST" and len(route) == 3 and route[0] == "webhooks" and route[2] == "retry":
            if not v.retry_route:
                raise _Unknown
            with self.lock:
                log = self.state.logs.get(route[1])
                if log is None:
                    return _not_found(h, "Webhook log not found")
                log["status"] = "pending"
                log["next_retry_at"] = self.stamp(self._now())
            return _json(
                h, 200, {"id": route[1], "status": "pending", "message": "Webhook retry scheduled"}
            )
        if method == "GET" and route == ["merchants", "me"] and v.merchant_profile:
            return _json(
                h,
                200,
                {
                    "id": MERCHANT_ID,
                    "name": "Test Merchant",
                    "email": "test@example.com",
                    "api_key": API_KEY,
                    "api_secret": API_SECRET,
                    "webhook_secret": "whsec_leaked",
                },
            )
        raise _Unknown

    def _post_refund(
        self, h: BaseHTTPRequestHandler, payment_id: str, body: bytes, header_key: str | None
    ) -> None:
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return _bad(h, "Invalid JSON body")
        with self.lock:
            pay = self.state.payments.get(payment_id)
            if pay is None:
                return _not_found(h, "Payment not found")
            key = data.get("idempotency_key") if isinstance(data, dict) else None
            if self.variation.idempotency == "body" and isinstance(key, str):
                earlier = self.state.idem.get((payment_id, key))
                if earlier is not None and earlier[0] == body:
                    return _json(h, 201, self.state.refunds[earlier[1]])
            if self.variation.idempotency == "header" and header_key:
                earlier = self.state.idem.get((payment_id, "header:" + header_key))
                if earlier is not None:
                    return _json(h, 201, self.state.refunds[earlier[1]])
            amount = data.get("amount") if isinstance(data, dict) else None
            if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
                return _bad(h, "Refund amount must be a positive integer")
            if pay["status"] != "success":
                return _bad(h, "Payment not in refundable state")
            taken = sum(
                r["amount"] for r in self.state.refunds.values() if r["payment_id"] == payment_id
            )
            if amount > pay["amount"] - taken:
                return _bad(h, "Refund amount exceeds available amount")
            ref = self._create_refund(pay, amount, str(data.get("reason") or ""))
            if isinstance(key, str):
                self.state.idem[(payment_id, key)] = (body, ref["id"])
            if header_key:
                self.state.idem[(payment_id, "header:" + header_key)] = (body, ref["id"])
            self.state.refund_posts += 1
            drop = self.variation.drop_refund_every
            dropped = drop > 0 and self.state.refund_posts % drop == 0
        if dropped:
            # Committed, and the answer is lost: the client cannot know the outcome.
            h.close_connection = True
            return None
        return _json(h, 201, ref)

    def _create_refund(self, pay: dict[str, Any], amount: int, reason: str) -> dict[str, Any]:
        n = len(self.state.refunds) + 1
        ref = {
            "id": f"rfnd_{n:012d}",
            "payment_id": pay["id"],
            "merchant_id": MERCHANT_ID,
            "amount": amount,
            "reason": reason,
            "status": "pending",
            "created_at": self.stamp(self._now()),
            "processed_at": None,
        }
        self.state.refunds[ref["id"]] = ref
        return ref


class _Unknown(Exception):
    """No such route on this gateway."""


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def _json(h: BaseHTTPRequestHandler, code: int, data: Any) -> None:
    _reply(h, code, json.dumps(data).encode(), "application/json; charset=utf-8")


def _not_found(h: BaseHTTPRequestHandler, text: str) -> None:
    _json(h, 404, {"error": {"code": "NOT_FOUND_ERROR", "description": text}})


def _bad(h: BaseHTTPRequestHandler, text: str) -> None:
    _json(h, 400, {"error": {"code": "BAD_REQUEST_ERROR", "description": text}})


def _reply(h: BaseHTTPRequestHandler, code: int, body: bytes, ctype: str) -> None:
    try:
        h.send_response(code)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
    except OSError:
        pass  # the client gave up (timeout tests)
