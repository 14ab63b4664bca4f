"""A real HTTP receiver on 127.0.0.1 for webhook tests, and helpers that set up merchants,
staff and logs through the services.

It verifies every delivery with the official ``standardwebhooks`` package against the
secrets it is told about, records what it received, and answers according to the path:

``/ok``                       200
``/status/<code>``            that status
``/redirect``                 302 to /ok
``/sleep/<seconds>``          waits, then 200
``/retry-after/<code>/<v>``   that status with ``Retry-After: <v>`` (``v`` URL-encoded)
``/big``                      200 announcing 50 MB and streaming until the client hangs up
``/hold``                     the first request waits until ``release()``; later ones get 200
``/flaky/<n>``                500 for the first ``n`` requests, then 200
``/drop-once``                the first request: connection closed without an answer; then 200
``/drop``                     every request: connection closed without an answer
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from core.access import roles
from core.context import Context
from core.store.models import Merchant
from core.webhooks import deliveries as webhooks
from core.webhooks.events import enqueue

BIG_BODY = 50 * 1024 * 1024


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    client_port: int
    verified_with: list[str] = field(default_factory=list)

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")


class Receiver:
    def __init__(self) -> None:
        self.secrets: list[str] = []
        self.received: list[Received] = []
        self.big_bytes_sent = 0
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._release = threading.Event()
        self._held = False
        self._flaky: dict[str, int] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver._record(
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                    self.client_address[1],
                )
                receiver._answer(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def url(self, path: str = "/ok") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()

    def release(self) -> None:
        self._release.set()

    def ids(self) -> list[str]:
        with self._lock:
            return [r.webhook_id for r in self.received]

    def wait_for(self, count: int, timeout: float = 15.0) -> bool:
        """Block until ``count`` requests arrived (False if they did not in ``timeout``)."""
        end = time.monotonic() + timeout
        with self._arrived:
            while len(self.received) < count:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._arrived.wait(left)
            return True

    def _record(self, path: str, headers: dict[str, str], body: bytes, port: int) -> None:
        verified = []
        for secret in self.secrets:
            try:
                Webhook(secret).verify(body, headers)
                verified.append(secret)
            except WebhookVerificationError:
                pass
        with self._arrived:
            self.received.append(Received(path, headers, body, port, verified))
            self._arrived.notify_all()

    def _answer(self, h: BaseHTTPRequestHandler) -> None:
        parts = [unquote(p) for p in h.path.strip("/").split("/")]
        kind = parts[0]
        if kind == "ok":
            return _reply(h, 200, b"ok")
        if kind == "status":
            return _reply(h, int(parts[1]), f"status {parts[1]}".encode())
        if kind == "redirect":
            return _reply(h, 302, b"", {"Location": "/ok"})
        if kind == "sleep":
            time.sleep(float(parts[1]))
            return _reply(h, 200, b"late")
        if kind == "retry-after":
            return _reply(h, int(parts[1]), b"slow down", {"Retry-After": parts[2]})
        if kind == "hold":
            with self._lock:
                first = not self._held
                self._held = True
            if first:
                self._release.wait(30)
                h.close_connection = True
                return None
            return _reply(h, 200, b"ok")
        if kind in ("drop", "drop-once"):
            with self._lock:
                seen = self._flaky.get(h.path, 0)
                self._flaky[h.path] = seen + 1
            if kind == "drop" or seen == 0:
                h.close_connection = True
                return None
            return _reply(h, 200, b"ok")
        if kind == "flaky":
            with self._lock:
                seen = self._flaky.get(h.path, 0)
                self._flaky[h.path] = seen + 1
            return _reply(h, 500 if seen < int(parts[1]) else 200, b"flaky")
        if kind == "big":
            h.send_response(200)
            h.send_header("Content-Length", str(BIG_BODY))
            h.end_headers()
            chunk = b"x" * 65536
            try:
                while self.big_bytes_sent < BIG_BODY:
                    h.wfile.write(chunk)
                    self.big_bytes_sent += len(chunk)
            except OSError:
                pass  # the client hung up: what we want
            h.close_connection = True
            return None
        return _reply(h, 404, b"no such path")


def _reply(
    h: BaseHTTPRequestHandler, code: int, body: bytes, headers: dict[str, str] | None = None
) -> None:
    try:
        h.send_response(code)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
    except OSError:
        pass  # the client gave up (timeout tests)


ADMIN, SUPPORT, FINANCE = "alice", "sam", "fran"


def add_staff(ctx: Context) -> None:
    """alice (admin), sam (support) and fran (finance)."""
    roles.ensure_first_admin(ctx, ADMIN)
    roles.set_staff_role(ctx, ADMIN, SUPPORT, "support")
    roles.set_staff_role(ctx, ADMIN, FINANCE, "finance")


def add_merchant(ctx: Context, merchant_id: str = "mer_A", url: str | None = None) -> str | None:
    """A merchant, with an endpoint when ``url`` is given; returns its secret (or None)."""
    with ctx.db.write() as s:
        s.add(
            Merchant(
                id=merchant_id,
                name=f"Shop {merchant_id[-1]}",
                email=f"{merchant_id}@example.com",
                webhook_enabled=True,
                webhook_consecutive_failures=0,
                created_at=ctx.clock.now(),
            )
        )
    if url is None:
        return None
    webhooks.set_endpoint(ctx, ADMIN, merchant_id, url)
    return webhooks.reveal_secret(ctx, ADMIN, merchant_id)


def add_log(
    ctx: Context,
    merchant_id: str = "mer_A",
    event: str = "payment.captured",
    entity_id: str | None = "pay_1",
) -> str:
    """A pending, due-now log (as a service would enqueue it)."""
    with ctx.db.write() as s:
        log = enqueue(
            s,
            merchant_id=merchant_id,
            event=event,
            data={"payment_id": entity_id, "amount": 1250, "currency": "INR"},
            entity_id=entity_id,
            now=ctx.clock.now(),
            origin=ctx.client_id,
        )
        return log.id
