"""The Overview's Gateways tile: how many gateway connections answer, the one that does not,
and the gateway's queue (from ``core.gateway.status``, read apart from the board so a gateway
that does not answer never holds up the other tiles). Shown only where a connection exists;
a click opens the Jobs view, whose Gateways section has the details."""

from __future__ import annotations

from datetime import datetime

from core.gateway.status import REACHABLE, UNREACHABLE, GatewayStatus
from core.health.check import age_text
from core.overview.links import JobsLink
from desktop.overview.formatting import count_text
from desktop.overview.tiles import TileContent, TileLine

GATEWAYS_EXPLAIN = (
    "Each gateway connection: whether it answers now (its queue status or health call, else\n"
    "its last sync), when it last synced, and the gateway's own queue. Click for the Jobs view."
)
LINK = JobsLink()


def _sync_text(s: GatewayStatus, now: datetime) -> str:
    if s.last_sync_at is None:
        return "not synced yet"
    span = now - s.last_sync_at
    ago = "just now" if span.total_seconds() < 60 else f"{age_text(span)} ago"
    failed = " (failed)" if s.last_sync_outcome == "error" else ""
    return f"synced {ago}{failed}"


def _queue_text(s: GatewayStatus) -> str:
    if not s.queue_offered:
        return "queue status not offered"
    q = s.queue or {}
    parts = [f"{count_text(q[k])} {k}" for k in ("pending", "failed") if isinstance(q.get(k), int)]
    worker = q.get("worker_status")
    if worker:
        parts.append(f"worker {worker}")
    return " · ".join(parts) or "queue status not read yet"


def gateways_content(rows: list[GatewayStatus], now: datetime) -> TileContent:
    up = [r for r in rows if r.reachability == REACHABLE]
    down = [r for r in rows if r.reachability == UNREACHABLE]
    tooltip = "\n".join(
        f"{r.name}: {r.reachability}, {_sync_text(r, now)}; {r.queue_text()}. {r.detail}"
        for r in rows
    )
    if down:
        first = down[0]
        more = f" (+{len(down) - 1} more)" if len(down) > 1 else ""
        return TileContent(
            value=f"{len(down)} not answering",
            value_tone="failed",
            lines=(
                TileLine(f"{first.name}{more}: {_sync_text(first, now)}", tone="failed", link=LINK),
                TileLine(f"{len(up)} of {len(rows)} reachable"),
            ),
            badge=("Attention", "failed"),
            alert=True,
            link=LINK,
            tooltip=tooltip,
        )
    value = (
        f"{len(up)} of {len(rows)} reachable"
        if len(rows) > 1
        else ("Reachable" if up else "Not checked yet")
    )
    head = rows[0]
    lines = [TileLine(f"{head.name}: {_sync_text(head, now)}", link=LINK)]
    lines.append(
        TileLine(
            f"{head.name}: {_queue_text(head)}"
            if len(rows) == 1
            else f"{head.name}: {_queue_text(head)} · +{len(rows) - 1} more"
        )
    )
    return TileContent(
        value=value,
        value_tone="success" if up and len(up) == len(rows) else None,
        lines=tuple(lines),
        link=LINK,
        tooltip=tooltip,
    )
