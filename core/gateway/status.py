"""Each gateway connection's reachability, last sync and queue status, for the Jobs view and
the Overview.

Reachability comes from a cheap call made now where the gateway offers one — the queue status
(``GET /api/v1/test/jobs/status``, no auth), else ``GET /health`` — and otherwise from the last
sync's outcome. The calls run in parallel with a short timeout, so one gateway that does not
answer delays the read by at most that timeout and never the other figures (the views read this
apart from their other reads). No secret is needed or sent: both routes are open.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from core.errors import sentence
from core.gateway.capabilities import Capabilities
from core.gateway.client import GatewayClient, server_root
from core.gateway.errors import GatewayError
from core.store.db import Database
from core.store.models import GatewayConnection

PROBE_TIMEOUT = (
    2.0  # seconds: a status line, not a sync; a gateway slower than this is "not answering"
)
MAX_PROBES = 8  # gateways probed at once
QUEUE_KEYS = ("pending", "processing", "completed", "failed")

# Reachability, one word each (the views map them to badges).
REACHABLE = "reachable"
UNREACHABLE = "unreachable"
UNKNOWN = "unknown"  # nothing to probe and no sync yet

Probe = Callable[[str, Capabilities, float], "ProbeAnswer"]


@dataclass(frozen=True)
class ProbeAnswer:
    reachable: bool
    queue: dict[str, Any] | None = None  # the counts, when the queue status was read now
    error: str | None = None  # the sentence of what went wrong


@dataclass(frozen=True)
class GatewayStatus:
    """One connection as the Jobs view's Gateways table and the Overview's tile show it."""

    name: str
    url: str
    reachability: str  # REACHABLE / UNREACHABLE / UNKNOWN
    checked: str  # how reachability is known: "now" (a call just made) or "last sync"
    detail: str  # one sentence: what was checked and what it said
    last_sync_at: datetime | None
    last_sync_outcome: str | None  # ok / partial / error / None (never synced)
    last_error: str | None
    queue_offered: bool
    queue: dict[str, Any] | None  # pending/processing/completed/failed/worker_status
    queue_live: bool  # the counts were read now (False: as the last sync saw them)
    stale: bool  # no sync for 5 intervals (what ``paydesk health`` reports)

    def queue_text(self) -> str:
        """``3 pending · 0 processing · 7 completed · 1 failed · worker running``."""
        if not self.queue_offered:
            return "Queue status not offered"
        if not self.queue:
            return "Queue status not read yet"
        parts = [f"{self.queue[k]:,} {k}" for k in QUEUE_KEYS if isinstance(self.queue.get(k), int)]
        worker = self.queue.get("worker_status")
        if worker:
            parts.append(f"worker {worker}")
        return " · ".join(parts) or "Queue status empty"

    def as_json(self) -> dict[str, Any]:
        from core.payments.queries import iso

        return {
            "name": self.name,
            "url": self.url,
            "reachability": self.reachability,
            "checked": self.checked,
            "detail": self.detail,
            "last_sync_at": iso(self.last_sync_at),
            "last_sync_outcome": self.last_sync_outcome,
            "last_error": self.last_error,
            "queue_status": self.queue if self.queue_offered else "not offered",
            "queue_live": self.queue_live,
            "stale": self.stale,
        }


def probe_gateway(url: str, caps: Capabilities, timeout: float = PROBE_TIMEOUT) -> ProbeAnswer:
    """Ask the gateway at ``url`` for its queue status (or health) with ``timeout``.
    Raises nothing: every failure is an answer that says the gateway is not reachable."""
    if caps.queue_status:
        try:
            client = GatewayClient(url, "", "", timeout=timeout)
        except Exception as exc:  # a stored URL Paydesk can no longer use
            return ProbeAnswer(False, error=sentence(exc))
        try:
            return ProbeAnswer(True, queue=client.queue_status())
        except GatewayError as exc:
            return ProbeAnswer(False, error=sentence(exc))
        except Exception as exc:  # a route that moved, a 4xx: still not a usable answer
            return ProbeAnswer(False, error=sentence(exc))
        finally:
            client.close()
    root = server_root(url)
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as http:
            resp = http.get(root + "/health", headers={"Accept": "application/json"})
    except httpx.TimeoutException:
        return ProbeAnswer(False, error=f"The gateway at {url} did not answer in time.")
    except httpx.HTTPError:
        return ProbeAnswer(False, error=f"The gateway at {url} cannot be reached.")
    if 200 <= resp.status_code < 300:
        return ProbeAnswer(True)
    return ProbeAnswer(
        False, error=f"The gateway at {url} answered its health check with {resp.status_code}."
    )


@dataclass(frozen=True)
class _Row:
    name: str
    url: str
    caps: Capabilities
    last_sync_at: datetime | None
    last_sync_outcome: str | None
    last_error: str | None
    queue: dict[str, Any] | None


def gateway_statuses(
    db: Database,
    *,
    now: datetime,
    probe: bool = True,
    timeout: float = PROBE_TIMEOUT,
    probe_fn: Probe = probe_gateway,
) -> list[GatewayStatus]:
    """Every connection that is not removed, by name. With ``probe``, each gateway that offers
    a queue status or health route is asked now (in parallel, ``timeout`` each); the others,
    and every one without ``probe``, are judged by their last sync."""
    from core.access import policy

    with db.read() as session:
        rows = [
            _Row(
                r.name,
                r.url,
                Capabilities.from_json(r.capabilities),
                r.last_sync_at,
                r.last_sync_outcome,
                r.last_error,
                _queue_of(r.queue_status),
            )
            for r in session.scalars(
                select(GatewayConnection)
                .where(GatewayConnection.removed.is_(False))
                .order_by(GatewayConnection.name)
            )
        ]
        interval = float(policy.get(session, "gateway_sync_interval_seconds") or 30)
    if not rows:
        return []
    answers: dict[str, ProbeAnswer] = {}
    if probe:
        wanted = [r for r in rows if r.caps.queue_status or r.caps.health]
        if wanted:
            with ThreadPoolExecutor(max_workers=min(MAX_PROBES, len(wanted))) as pool:
                futures = {r.name: pool.submit(probe_fn, r.url, r.caps, timeout) for r in wanted}
                answers = {name: f.result() for name, f in futures.items()}
    return [_status(r, answers.get(r.name), now, interval) for r in rows]


def _status(r: _Row, answer: ProbeAnswer | None, now: datetime, interval: float) -> GatewayStatus:
    stale_after = timedelta(seconds=interval * 5)
    stale = r.last_sync_at is None or now - _aware(r.last_sync_at, now) > stale_after
    what = "queue status" if r.caps.queue_status else "health check"
    if answer is not None:
        reach = REACHABLE if answer.reachable else UNREACHABLE
        checked = "now"
        detail = (
            f"The gateway answered its {what} just now."
            if answer.reachable
            else answer.error or f"The gateway did not answer its {what}."
        )
    elif r.last_sync_outcome in ("ok", "partial"):
        reach, checked = REACHABLE, "last sync"
        detail = "The last sync reached the gateway; it offers no status call to check now."
    elif r.last_sync_outcome == "error":
        reach, checked = UNREACHABLE, "last sync"
        detail = r.last_error or "The last sync failed."
    else:
        reach, checked = UNKNOWN, "last sync"
        detail = "Not synced yet; the gateway offers no status call to check now."
    live = answer is not None and answer.queue is not None
    return GatewayStatus(
        name=r.name,
        url=r.url,
        reachability=reach,
        checked=checked,
        detail=detail,
        last_sync_at=r.last_sync_at,
        last_sync_outcome=r.last_sync_outcome,
        last_error=r.last_error,
        queue_offered=r.caps.queue_status,
        queue=answer.queue if live and answer is not None else r.queue,
        queue_live=live,
        stale=stale,
    )


def _aware(when: datetime, like: datetime) -> datetime:
    """SQLite hands back naive UTC times; compare like with like."""
    if when.tzinfo is None and like.tzinfo is not None:
        return when.replace(tzinfo=like.tzinfo)
    return when


def _queue_of(text: str | None) -> dict[str, Any] | None:
    """The queue status the last sync stored (JSON), or None."""
    try:
        data = json.loads(text) if text else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
