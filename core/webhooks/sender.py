"""Sending one webhook delivery over HTTP and saying what happened in words.

One ``httpx.Client`` per process carries every delivery: connections are pooled and kept
alive (HTTP/1.1), redirects are never followed, and the response body is streamed and kept
only up to ``MAX_BODY`` bytes, so a receiver that answers with 50 MB costs 16 KiB.
Each failure becomes a sentence a support person understands ("Timed out after 5 s",
"Connection refused by hooks.example.com:443", "Redirect to https://… not followed").
"""

from __future__ import annotations

import email.utils
import errno
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx

from core import __version__
from core.webhooks import signing

USER_AGENT = f"Paydesk/{__version__}"
# What is kept of a response body (and never read past, give or take one network read).
MAX_BODY = 16 * 1024
# ``Retry-After`` is honoured up to this many seconds; a longer wait is cut to it.
MAX_RETRY_AFTER = 3600.0
DEFAULT_TIMEOUT = 5.0
DEFAULT_CONCURRENCY = 16


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to. ``code`` is None when no HTTP answer arrived."""

    code: int | None
    body: str | None
    duration_ms: int
    error: str | None
    # Seconds the receiver asked us to wait (429/503 with Retry-After), bounded.
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.code is not None and 200 <= self.code < 300

    @property
    def gone(self) -> bool:
        """410 Gone: the receiver says the endpoint no longer exists."""
        return self.code == 410


_client: httpx.Client | None = None
_client_lock = threading.Lock()


def shared_client(concurrency: int = DEFAULT_CONCURRENCY) -> httpx.Client:
    """This process's one HTTP client, created on first use with a pool sized for
    ``concurrency`` parallel deliveries (a later, larger request grows it)."""
    global _client
    with _client_lock:
        size = getattr(_client, "_paydesk_size", 0)
        if _client is None or _client.is_closed or size < concurrency:
            # An older, smaller client is left to finish what it is sending; it is closed
            # by the garbage collector once nobody holds it.
            _client = make_client(concurrency)
        return _client


def make_client(concurrency: int = DEFAULT_CONCURRENCY) -> httpx.Client:
    """A client for deliveries: keep-alive pool, no redirects, our User-Agent."""
    client = httpx.Client(
        limits=httpx.Limits(
            max_connections=concurrency,
            max_keepalive_connections=concurrency,
            keepalive_expiry=30.0,
        ),
        timeout=httpx.Timeout(DEFAULT_TIMEOUT),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
        # Deliveries go straight to the merchant's endpoint, never through a proxy that
        # happens to be set in the environment.
        trust_env=False,
    )
    client._paydesk_size = concurrency  # type: ignore[attr-defined]
    return client


def close_shared_client() -> None:
    """Close this process's client (at exit, or in tests)."""
    global _client
    with _client_lock:
        if _client is not None:
            _client.close()
            _client = None


def send(
    client: httpx.Client,
    url: str,
    msg_id: str,
    body: bytes,
    secrets: Sequence[str] | signing.Signed,
    timeout: float = DEFAULT_TIMEOUT,
    timestamp: int | None = None,
) -> Outcome:
    """POST ``body`` to ``url``, signed with ``secrets`` (current first) or with the signatures
    the database made (``signing.Signed``, shared mode, which carries its own timestamp), and
    report the outcome.

    Never raises for a network or HTTP failure: those are outcomes.
    """
    if isinstance(secrets, signing.Signed):
        headers = secrets.headers(msg_id)
    else:
        ts = int(time.time()) if timestamp is None else timestamp
        headers = signing.headers(msg_id, ts, body, secrets)
    headers["Content-Type"] = "application/json"
    # The kept body must be readable text and the byte bound must bound what is kept:
    # ask for no compression.
    headers["Accept-Encoding"] = "identity"
    start = time.perf_counter()
    deadline = start + timeout
    for try_number in (1, 2):
        try:
            with client.stream("POST", url, content=body, headers=headers, timeout=timeout) as resp:
                kept, complete = _read_bounded(resp, deadline)
                code = resp.status_code
                error = describe_status(resp)
                retry_after = _retry_after(resp) if code in (429, 503) else None
            break
        except _BodyTimeout:
            return Outcome(None, None, _ms(start), f"Timed out after {_secs(timeout)}")
        except httpx.HTTPError as exc:
            if try_number == 1 and _dropped_before_answer(exc) and time.perf_counter() < deadline:
                # A kept-alive connection the receiver had already closed: send once more on
                # a fresh one now rather than wait a minute for the schedule.
                continue
            return Outcome(None, None, _ms(start), describe_error(exc, url, timeout))
    text = _text(kept, complete)
    return Outcome(code, text, _ms(start), error, retry_after)


def _dropped_before_answer(exc: httpx.HTTPError) -> bool:
    """The connection went away before any of the answer arrived."""
    if isinstance(exc, httpx.RemoteProtocolError):
        return "without sending a response" in str(exc).lower()
    if isinstance(exc, httpx.WriteError):
        return True
    return isinstance(exc, httpx.ReadError) and any(
        isinstance(c, ConnectionResetError | BrokenPipeError) for c in _causes(exc)
    )


class _BodyTimeout(Exception):
    """The receiver kept the body coming past the overall timeout."""


def _read_bounded(resp: httpx.Response, deadline: float) -> tuple[bytes, bool]:
    """Up to MAX_BODY bytes of the body; stops reading there. Returns (bytes, complete)."""
    buf = bytearray()
    for chunk in resp.iter_raw():
        room = MAX_BODY - len(buf)
        buf += chunk[:room]
        if len(chunk) > room:
            return bytes(buf), False
        if time.perf_counter() > deadline:
            raise _BodyTimeout
    return bytes(buf), True


def _text(raw: bytes, complete: bool) -> str:
    # Postgres text cannot hold NUL; the body is for people to read, so replace it.
    text = raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    if not complete:
        text += f"\n… (cut at {MAX_BODY // 1024} KiB)"
    return text


def _ms(start: float) -> int:
    return round((time.perf_counter() - start) * 1000)


def _secs(seconds: float) -> str:
    return f"{seconds:g} s"


def describe_status(resp: httpx.Response) -> str | None:
    """None for 2xx; otherwise a sentence about the answer."""
    code = resp.status_code
    if 200 <= code < 300:
        return None
    if 300 <= code < 400:
        location = resp.headers.get("location")
        if location:
            target = str(resp.url.join(location))
            return f"Redirect to {target} not followed (HTTP {code})"
        return f"Redirect (HTTP {code}) without a Location not followed"
    reason = resp.reason_phrase or httpx.codes.get_reason_phrase(code)
    return f"HTTP {code} {reason}".rstrip()


def _retry_after(resp: httpx.Response) -> float | None:
    """Seconds from a ``Retry-After`` header (seconds or an HTTP date), within MAX_RETRY_AFTER."""
    raw = resp.headers.get("retry-after")
    if not raw:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        # The header is an absolute time on the receiver's clock: compare with the wall clock.
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, min(seconds, MAX_RETRY_AFTER))


def _where(url: str) -> str:
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"{parts.hostname}:{port}"
    except ValueError:
        return url


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        chain.append(cur)
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return chain


def describe_error(exc: BaseException, url: str, timeout: float = DEFAULT_TIMEOUT) -> str:
    """A sentence for an attempt that got no HTTP answer."""
    where = _where(url)
    host = where.rsplit(":", 1)[0]
    if isinstance(exc, httpx.ConnectTimeout):
        return f"Timed out after {_secs(timeout)} connecting to {where}"
    if isinstance(exc, httpx.PoolTimeout):
        return f"Timed out after {_secs(timeout)} waiting for a free connection"
    if isinstance(exc, httpx.TimeoutException):
        return f"Timed out after {_secs(timeout)}"
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return f"The endpoint address {url} cannot be used: {_first(exc)}"
    chain = _causes(exc)
    text = " ".join(str(e) for e in chain).lower()
    for cause in chain:
        if isinstance(cause, ssl.SSLCertVerificationError) or "certificate_verify_failed" in text:
            reason = getattr(cause, "verify_message", None) or "certificate verify failed"
            return f"The TLS certificate of {host} could not be verified ({reason})"
        if isinstance(cause, ssl.SSLError) or "[ssl" in text:
            reason = getattr(cause, "reason", None) or _first(cause)
            return (
                f"The TLS handshake with {where} failed ({str(reason).replace('_', ' ').lower()})"
            )
        if isinstance(cause, socket.gaierror) or (
            "name or service not known" in text
            or "nodename nor servname" in text
            or "temporary failure in name resolution" in text
            or "no address associated" in text
        ):
            return f"The host {host} was not found (DNS lookup failed)"
        if isinstance(cause, ConnectionRefusedError) or "connection refused" in text:
            return f"Connection refused by {where}"
        if isinstance(cause, ConnectionResetError) or "connection reset" in text:
            return f"The connection to {where} was reset by the receiver"
        if isinstance(cause, OSError) and cause.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return f"The network path to {where} is unreachable"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"The receiver at {where} closed the connection without a complete HTTP answer"
    if isinstance(exc, httpx.ConnectError):
        return f"Could not connect to {where}: {_first(exc)}"
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return f"The connection to {where} broke: {_first(exc)}"
    return f"Delivery failed: {type(exc).__name__}: {_first(exc)}"


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].rstrip(".") if text else type(exc).__name__
