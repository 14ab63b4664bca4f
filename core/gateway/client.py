"""The HTTP client for a merchant's gateway (../shared/GATEWAY_API.md).

Every failure becomes one ``core.gateway.errors`` sentence naming the gateway's address (never
the secret). A ``200`` is trusted only with a JSON ``Content-Type``: one implementation answers
any unknown route with its dashboard's HTML. Lists are read a page at a time, paged by the
client where the server sends everything at once.
"""

from __future__ import annotations

import functools
import queue
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from core.errors import InputError
from core.gateway import rows as R
from core.gateway.capabilities import Capabilities
from core.gateway.errors import (
    GatewayAuthFailed,
    GatewayBadAnswer,
    GatewayMissingRoute,
    GatewayNotFound,
    GatewayNotJson,
    GatewayOutcomeUnknown,
    GatewayRejected,
    GatewayServerError,
    GatewayTimeout,
    GatewayUnreachable,
)

API_PATH = "/api/v1"
DEFAULT_TIMEOUT = 10.0
CONNECT_TIMEOUT = 5.0
PAGE_SIZE = 100
# An id no gateway issues: probing with it finds routes without touching anything real.
PROBE_PAYMENT = "pay_paydeskprobe0"
PROBE_LOG = "00000000-0000-0000-0000-000000000000"

T = TypeVar("T")


def api_base(url: str) -> str:
    """The API base for what a person typed: a server root (``http://host:3000``) or the API
    base itself (``…/api/v1``) both give ``…/api/v1``. Raises ``InputError`` for anything else."""
    text = (url or "").strip()
    if not text:
        raise InputError("A gateway connection needs the gateway's URL.")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(
            f"{text[:200]!r} is not a gateway URL; give one like https://gateway.example.com "
            "or http://host:3000/api/v1."
        )
    if parts.username or parts.password:
        raise InputError(
            "Give the gateway's URL without a user name or password; the API key and secret "
            "are asked for separately."
        )
    if parts.query or parts.fragment:
        raise InputError("Give the gateway's URL without a query (?…) or fragment (#…).")
    try:
        _ = parts.port
    except ValueError:
        raise InputError(f"{text[:200]!r} has a port that is not a number.") from None
    path = parts.path.rstrip("/")
    if not path.endswith(API_PATH):
        path += API_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def server_root(base: str) -> str:
    return base[: -len(API_PATH)] if base.endswith(API_PATH) else base


@dataclass
class Answer:
    status: int
    data: Any  # parsed JSON, or None when the body was not JSON
    is_json: bool


@dataclass
class Page(Generic[T]):
    """One page of a list: the usable rows, the skipped ones with reasons, where it was."""

    items: list[T]
    skipped: list[R.Skipped]
    offset: int
    total: int | None


def _error_text(data: Any) -> tuple[str | None, str | None]:
    """The gateway's error code and sentence from ``{"error": {"code", "description"}}``."""
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict):
            code = err.get("code")
            desc = err.get("description") or err.get("message")
            return (str(code) if code else None, str(desc) if desc else None)
        if isinstance(err, str):
            return None, err
        for key in ("message", "detail", "description"):
            if isinstance(data.get(key), str):
                return None, data[key]
    return None, None


def _gateway_sentence(text: str | None, fallback: str) -> str:
    said = (text or "").strip().splitlines()[0][:300] if (text or "").strip() else ""
    return said.rstrip(".") + "." if said else fallback


class GatewayClient:
    """One gateway account: the API base URL and the merchant's key and secret."""

    def __init__(
        self,
        url: str,
        api_key: str,
        api_secret: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.base = api_base(url)
        self.root = server_root(self.base)
        self.page_size = page_size
        self._headers = {
            "X-Api-Key": api_key,
            "X-Api-Secret": api_secret,
            "Accept": "application/json",
            "User-Agent": "Paydesk",
        }
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout)),
            follow_redirects=False,
            trust_env=False,
            verify=_tls(),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one request -----------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
        root: bool = False,
        lost_is_unknown: bool = False,
    ) -> Answer:
        """Send one request and classify the answer. Transport failures raise; so do 401 and
        5xx. A request whose answer is lost after it was sent raises ``GatewayOutcomeUnknown``
        when ``lost_is_unknown`` (a refund POST), otherwise ``GatewayUnreachable``."""
        url = (self.root if root else self.base) + path
        sent = (
            dict(self._headers) if auth else {"Accept": "application/json", "User-Agent": "Paydesk"}
        )
        if headers:
            sent.update(headers)
        where = self.base
        try:
            resp = self._http.request(method, url, params=params, json=body, headers=sent)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            if isinstance(exc, httpx.ConnectTimeout):
                raise GatewayTimeout(
                    f"The gateway at {where} did not accept a connection in time."
                ) from None
            raise GatewayUnreachable(
                f"The gateway at {where} cannot be reached ({_why(exc)}); check the URL and the network."
            ) from None
        except httpx.TimeoutException:
            if lost_is_unknown:
                raise GatewayOutcomeUnknown(
                    f"The gateway at {where} did not answer in time; whether it acted is unknown."
                ) from None
            raise GatewayTimeout(f"The gateway at {where} did not answer in time.") from None
        except httpx.TransportError as exc:
            if lost_is_unknown:
                raise GatewayOutcomeUnknown(
                    f"The connection to the gateway at {where} was lost before it answered "
                    f"({_why(exc)}); whether it acted is unknown."
                ) from None
            raise GatewayUnreachable(
                f"The connection to the gateway at {where} was lost ({_why(exc)}); try again."
            ) from None
        ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
        is_json = ctype == "application/json" or ctype.endswith("+json")
        data: Any = None
        if is_json:
            try:
                data = resp.json()
            except ValueError:
                if 200 <= resp.status_code < 300:
                    raise GatewayBadAnswer(
                        f"The gateway at {where} answered {method} {path} with broken JSON."
                    ) from None
                is_json = False
        if resp.status_code == 401:
            raise GatewayAuthFailed(
                f"The gateway at {where} refused the API key and secret (401); check both."
            )
        if resp.status_code >= 500:
            _code, text = _error_text(data)
            detail = f": {text.strip()[:200].rstrip('.')}" if text and text.strip() else ""
            raise GatewayServerError(
                f"The gateway at {where} failed with {resp.status_code}{detail}; Paydesk tries again later."
            )
        return Answer(resp.status_code, data, is_json)

    def _get_json(self, path: str, params: dict[str, Any] | None = None, what: str = "") -> Any:
        """GET a route every gateway has: anything but JSON 2xx is an error sentence."""
        ans = self._request("GET", path, params=params)
        return self._expect_json(ans, "GET", path, what)

    def _expect_json(self, ans: Answer, method: str, path: str, what: str) -> Any:
        where = self.base
        if 200 <= ans.status < 300:
            if not ans.is_json:
                raise GatewayNotJson(
                    f"The gateway at {where} answered {method} {path} with a web page, not JSON; "
                    "check that the URL is the gateway's API."
                )
            return ans.data
        code, text = _error_text(ans.data) if ans.is_json else (None, None)
        if ans.status == 404:
            if code == "NOT_FOUND_ERROR":
                raise GatewayNotFound(
                    _gateway_sentence(text, f"The gateway has no such {what}."), 404, code
                )
            raise GatewayMissingRoute(f"The gateway at {where} does not offer {method} {path}.")
        raise GatewayRejected(
            _gateway_sentence(text, f"The gateway refused {method} {path} ({ans.status})."),
            ans.status,
            code,
        )

    # -- checking and detecting ------------------------------------------------------------

    def check_credentials(self) -> None:
        """Raise unless the key and secret are accepted. Asks for a payment no gateway has:
        the gateway's own ``404`` says the pair is good, ``401`` that it is not."""
        ans = self._request("GET", f"/payments/{PROBE_PAYMENT}")
        if ans.status == 404 and ans.is_json:
            return
        if 200 <= ans.status < 300 and not ans.is_json:
            raise GatewayNotJson(
                f"The gateway at {self.base} answered with a web page, not its API; check the URL."
            )
        if ans.status == 404:
            raise GatewayMissingRoute(
                f"Nothing at {self.base} answers as a gateway API (GET /payments/{{id}} is missing); "
                "check the URL."
            )
        if not 200 <= ans.status < 300:
            _code, text = _error_text(ans.data)
            raise GatewayRejected(
                _gateway_sentence(text, f"The gateway at {self.base} answered {ans.status}."),
                ans.status,
            )

    def _offers(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        auth: bool = True,
        root: bool = False,
    ) -> Answer | None:
        """The answer when the route exists (JSON 2xx, or the gateway's own JSON error), else
        None (a 404 page, a framework's 404, HTML with 200, a 405)."""
        try:
            ans = self._request(method, path, params=params, body=body, auth=auth, root=root)
        except GatewayAuthFailed:
            if auth:
                raise
            return None  # an open route behind the merchant's auth here: not what was probed
        if not ans.is_json:
            return None
        if 200 <= ans.status < 300:
            return ans
        code, _text = _error_text(ans.data)
        if code and ans.status in (400, 404, 409, 422):
            return ans
        return None

    def detect(self) -> Capabilities:
        """What this gateway offers. Probes use ids no gateway issues, so nothing changes."""
        self.check_credentials()
        caps = Capabilities()
        ans = self._offers("GET", "/payments", params={"limit": 2, "skip": 0})
        if ans is not None and 200 <= ans.status < 300:
            if isinstance(ans.data, list):
                caps.payment_list = "array"
            elif isinstance(ans.data, dict) and isinstance(ans.data.get("payments"), list):
                caps.payment_list = "paged"
        ans = self._offers("GET", "/refunds", params={"limit": 1, "skip": 0})
        if (
            ans is not None
            and isinstance(ans.data, dict)
            and isinstance(ans.data.get("refunds"), list)
        ):
            caps.refund_list = True
        ans = self._offers("GET", "/webhooks", params={"limit": 1, "offset": 0})
        caps.webhook_logs = (
            ans is not None
            and isinstance(ans.data, dict)
            and isinstance(ans.data.get("data"), list)
        )
        caps.retry_route = self._offers("POST", f"/webhooks/{PROBE_LOG}/retry") is not None
        probe = {"amount": 1, "reason": "Paydesk route check"}
        if self._offers("POST", f"/payments/{PROBE_PAYMENT}/refunds", body=probe) is not None:
            caps.refund_route = "payment"
        elif (
            self._offers("POST", "/refunds", body={**probe, "payment_id": PROBE_PAYMENT})
            is not None
        ):
            caps.refund_route = "body"
        else:
            caps.refund_route = "none"
        ans = self._offers("GET", "/test/jobs/status", auth=False)
        caps.queue_status = ans is not None and isinstance(ans.data, dict) and "pending" in ans.data
        ans = self._offers("GET", "/health", auth=False, root=True)
        caps.health = ans is not None and 200 <= ans.status < 300
        ans = self._offers("GET", "/merchants/me")
        # Only the merchant's id is kept: some gateways put the secrets in this body.
        if ans is not None and isinstance(ans.data, dict) and 200 <= ans.status < 300:
            caps.merchant_profile = True
            mid = ans.data.get("id")
            caps.merchant_id = str(mid)[:64] if mid else None
        return caps

    # -- reading -----------------------------------------------------------------------------

    def get_payment(self, payment_id: str) -> R.GatewayPayment:
        data = self._get_json(f"/payments/{payment_id}", what="payment")
        return _one(data, R.payment_from, "payment", self.base)

    def find_payment(self, payment_id: str) -> R.GatewayPayment | None:
        """The payment, or None when the gateway answers that it has no such payment (any JSON
        ``404``: ``check_credentials`` reads the same answer the same way). A ``404`` page or a
        ``200`` page instead of the API is an error sentence."""
        path = f"/payments/{quote(payment_id, safe='')}"
        ans = self._request("GET", path)
        if ans.status == 404 and ans.is_json:
            return None
        data = self._expect_json(ans, "GET", "/payments/{id}", "payment")
        return _one(data, R.payment_from, "payment", self.base)

    def get_refund(self, refund_id: str) -> R.GatewayRefund:
        data = self._get_json(f"/refunds/{refund_id}", what="refund")
        return _one(data, R.refund_from, "refund", self.base)

    def queue_status(self) -> dict[str, Any]:
        ans = self._request("GET", "/test/jobs/status", auth=False)
        data = self._expect_json(ans, "GET", "/test/jobs/status", "queue")
        if not isinstance(data, dict):
            raise GatewayBadAnswer(
                f"The gateway at {self.base} sent a queue status that is not an object."
            )
        out: dict[str, Any] = {}
        for key in ("pending", "processing", "completed", "failed"):
            value = data.get(key)
            out[key] = value if isinstance(value, int) and not isinstance(value, bool) else None
        status = data.get("worker_status")
        out["worker_status"] = str(status)[:40] if status is not None else None
        return out

    def payment_pages(self, mode: str, *, start: int = 0) -> Iterator[Page[R.GatewayPayment]]:
        """The payment list a page at a time, newest first as the gateway sends it. ``mode`` is
        the detected ``payment_list``: ``paged`` asks page by page (``limit``/``skip``),
        ``array`` reads the one answer and pages it here, ``none`` raises."""
        if mode == "paged":
            yield from self._pages(
                "/payments", "payments", "skip", R.payment_from, "payment", start
            )
            return
        if mode == "array":
            data = self._get_json("/payments", params={"limit": self.page_size, "skip": 0})
            if not isinstance(data, list):
                raise GatewayBadAnswer(
                    f"The gateway at {self.base} sent a payment list that is not a list."
                )
            for offset in range(start, len(data), self.page_size):
                chunk = data[offset : offset + self.page_size]
                good, skipped = R.parse_rows(chunk, R.payment_from, "payment")
                yield Page(good, skipped, offset, len(data))
            return
        raise GatewayMissingRoute(f"The gateway at {self.base} has no payment list.")

    def refund_pages(
        self, *, payment_id: str | None = None, start: int = 0
    ) -> Iterator[Page[R.GatewayRefund]]:
        extra = {"payment_id": payment_id} if payment_id else None
        yield from self._pages("/refunds", "refunds", "skip", R.refund_from, "refund", start, extra)

    def log_pages(self, *, start: int = 0) -> Iterator[Page[R.GatewayLog]]:
        yield from self._pages("/webhooks", "data", "offset", R.log_from, "webhook log", start)

    def _pages(
        self,
        path: str,
        key: str,
        skip_name: str,
        parse: Any,
        kind: str,
        start: int,
        extra: dict[str, Any] | None = None,
    ) -> Iterator[Page[Any]]:
        offset = start
        while True:
            params: dict[str, Any] = {"limit": self.page_size, skip_name: offset, **(extra or {})}
            data = self._get_json(path, params=params, what=kind)
            raw = data.get(key) if isinstance(data, dict) else None
            if not isinstance(raw, list):
                raise GatewayBadAnswer(
                    f"The gateway at {self.base} sent a {kind} page without its list ({key!r}); "
                    "the page was not used."
                )
            total = data.get("total")
            total = total if isinstance(total, int) and not isinstance(total, bool) else None
            good, skipped = R.parse_rows(raw, parse, kind)
            yield Page(good, skipped, offset, total)
            offset += len(raw)
            if (
                not raw
                or (total is not None and offset >= total)
                or (total is None and len(raw) < self.page_size)
            ):
                return

    # -- acting ------------------------------------------------------------------------------

    def create_refund(
        self,
        payment_id: str,
        amount: int,
        reason: str,
        idempotency_key: str,
        *,
        route: str = "payment",
    ) -> R.GatewayRefund:
        """Send one refund. The key goes in the ``Idempotency-Key`` header and the body (most
        gateways ignore both). A lost answer raises ``GatewayOutcomeUnknown``: the caller must
        not send it again blindly."""
        body: dict[str, Any] = {
            "amount": amount,
            "reason": reason,
            "idempotency_key": idempotency_key,
        }
        path = f"/payments/{payment_id}/refunds"
        if route == "body":
            body["payment_id"] = payment_id
            path = "/refunds"
        ans = self._request(
            "POST",
            path,
            body=body,
            headers={"Idempotency-Key": idempotency_key},
            lost_is_unknown=True,
        )
        data = self._expect_json(ans, "POST", path, "payment")
        return _one(data, R.refund_from, "refund", self.base)

    def retry_webhook(self, log_id: str) -> str:
        """Ask the gateway to deliver one of its logs again; returns the status it reports."""
        ans = self._request("POST", f"/webhooks/{log_id}/retry")
        data = self._expect_json(ans, "POST", f"/webhooks/{log_id}/retry", "webhook log")
        status = data.get("status") if isinstance(data, dict) else None
        return str(status) if status else "pending"


def read_ahead(pages: Iterator[T], ahead: bool) -> Iterator[T]:
    """``pages`` as they come; with ``ahead``, the next page is read (fetched and checked) in
    a thread while the caller applies this one: the gateway's and the database's work then
    overlap. Only for passes that read every page anyway: an incremental pass that stops
    would have asked for one page too many. At most one page waits."""
    if not ahead:
        yield from pages
        return
    box: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                box.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for page in pages:
                if not put(("page", page)):
                    return
            put(("end", None))
        except BaseException as exc:  # handed to the caller, who raises it
            put(("error", exc))
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()

    reader = threading.Thread(target=run, name="paydesk-gateway-pages", daemon=True)
    reader.start()
    try:
        while True:
            kind, item = box.get()
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        # The client is used again once this returns: wait for the reader (a request it is
        # in ends within the client's timeout).
        reader.join()


@functools.cache
def _tls() -> ssl.SSLContext:
    # Loading the certificate store takes tens of milliseconds: once per process, not once per
    # sync (an incremental sync is meant to take well under a second).
    return httpx.create_ssl_context(trust_env=False)


def _one(data: Any, parse: Any, kind: str, where: str) -> Any:
    try:
        return parse(data)
    except R.RowError as exc:
        raise GatewayBadAnswer(
            f"The gateway at {where} sent a {kind} Paydesk cannot use: {exc}."
        ) from None


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160].rstrip(".")
