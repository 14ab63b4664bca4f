"""Webhook dispatch figures (issue 4), on SQLite and Postgres.

A loopback receiver runs in a separate process (uvicorn + httptools, a minimal ASGI app that
verifies every signature with ``standardwebhooks`` and counts webhook-ids). Then:

1. Receiver ceiling: a bare client (Paydesk's own ``delivery.send`` on ``--concurrency``
   threads over one httpx client, no database) posting as fast as it can.
2. Paydesk: N due logs (default 20,000) over 10 merchant endpoints, delivered by one
   ``Dispatcher`` in this process: deliveries/s, p50/p99 from due to attempt, duplicates and
   lost; then a trickle of new logs to a dispatcher waiting for wake-ups: enqueue → attempt.
3. Peer (Postgres): pgqueuer (asyncpg driver, drain mode) driving httpx to the same
   receiver, the same N jobs, ``--concurrency`` at once, in both ways pgqueuer suggests: an
   async handler with ``httpx.AsyncClient``, and the sync ``httpx.Client`` in threads
   (``asyncio.to_thread``). Its deliveries/s and Paydesk's ratio to each.

CPU per delivery is this process's CPU time (all threads) over the run, divided by N.

Budget: ≥ 1,000 deliveries/s from one process, 0 duplicates, 0 lost, ≥ 1.5× the peer.

    /work/venv/bin/python bench/webhook_dispatch.py [--logs 20000] [--only sqlite|postgres]
        [--concurrency 16] [--no-peer] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
MERCHANTS = 10


# -- the receiver (runs in its own process) ------------------------------------------------


def make_app(secrets: dict[str, str]):  # type: ignore[no-untyped-def]
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    verifiers = {m: Webhook(s) for m, s in secrets.items()}
    seen: Counter[str] = Counter()
    bad = [0]

    async def reply(send, status: int, body: bytes, ctype: bytes = b"text/plain") -> None:  # type: ignore[no-untyped-def]
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        path = scope["path"]
        body = b""
        more = True
        while more:
            msg = await receive()
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
        if path == "/stats":
            total = sum(seen.values())
            data = {"total": total, "unique": len(seen), "bad_signatures": bad[0]}
            if scope["query_string"] == b"ids=1":
                data["ids"] = list(seen)
            return await reply(send, 200, json.dumps(data).encode(), b"application/json")
        if path == "/reset":
            seen.clear()
            bad[0] = 0
            return await reply(send, 200, b"reset")
        headers = {
            k.decode(): v.decode()
            for k, v in scope["headers"]
            if k in (b"webhook-id", b"webhook-timestamp", b"webhook-signature")
        }
        verifier = verifiers.get(path.rsplit("/", 1)[-1])
        try:
            if verifier is None:
                raise WebhookVerificationError("unknown endpoint")
            verifier.verify(body, headers, json_parse=False)
        except WebhookVerificationError:
            bad[0] += 1
        seen[headers.get("webhook-id", "")] += 1
        await reply(send, 200, b"ok")

    return app


def serve(port: int, secrets_file: str) -> None:
    import uvicorn

    secrets = json.loads(Path(secrets_file).read_text())
    loop = "uvloop"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        loop = "asyncio"
    uvicorn.run(
        make_app(secrets),
        host="127.0.0.1",
        port=port,
        http="httptools",
        loop=loop,
        log_level="warning",
        access_log=False,
        backlog=2048,
    )


class ReceiverProcess:
    def __init__(self, secrets: dict[str, str]) -> None:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
            json.dump(secrets, fh)
        self.secrets_path = fh.name
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(self.port), self.secrets_path]
        )
        self.base = f"http://127.0.0.1:{self.port}"
        for _ in range(200):
            try:
                httpx.get(f"{self.base}/stats", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise SystemExit("The receiver did not start.")

    def url(self, merchant_id: str) -> str:
        return f"{self.base}/hook/{merchant_id}"

    def reset(self) -> None:
        httpx.post(f"{self.base}/reset", timeout=5)

    def stats(self, ids: bool = False) -> dict:  # type: ignore[type-arg]
        return httpx.get(
            f"{self.base}/stats", params={"ids": 1} if ids else None, timeout=30
        ).json()

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        os.unlink(self.secrets_path)


# -- seeding ---------------------------------------------------------------------------------


def merchant_ids() -> list[str]:
    return [f"mer_bench{i:08d}" for i in range(MERCHANTS)]


def seed(ctx, receiver: ReceiverProcess, secrets: dict[str, str], n: int) -> list[str]:  # type: ignore[no-untyped-def]
    from sqlalchemy import insert

    from core.access import roles
    from core.store.models import Merchant

    roles.ensure_first_admin(ctx, "root")
    now = datetime.now(UTC)
    with ctx.db.write() as s:
        s.execute(
            insert(Merchant),
            [
                dict(
                    id=m,
                    name=f"Bench {i}",
                    email=f"{m}@example.com",
                    webhook_url=receiver.url(m),
                    webhook_secret=secrets[m],
                    webhook_enabled=True,
                    webhook_consecutive_failures=0,
                    created_at=now,
                )
                for i, m in enumerate(merchant_ids())
            ],
        )
    return add_logs(ctx, n, now)


def add_logs(ctx, n: int, now: datetime) -> list[str]:  # type: ignore[no-untyped-def]
    from sqlalchemy import insert

    from core.store.models import WebhookLog
    from core.webhooks.events import build_payload

    mids = merchant_ids()
    rows, ids = [], []
    for i in range(n):
        log_id = f"msg_b{uuid.uuid4().hex[:14]}"
        ids.append(log_id)
        data = {"payment_id": f"pay_{i:014d}", "amount": 1250 + i, "currency": "INR"}
        rows.append(
            dict(
                id=log_id,
                merchant_id=mids[i % len(mids)],
                event="payment.captured",
                payload=build_payload(log_id, "payment.captured", now, data),
                entity_id=f"pay_{i:014d}",
                status="pending",
                attempts=0,
                round_start=0,
                next_retry_at=now,
                created_at=now,
                updated_at=now,
            )
        )
    with ctx.db.write() as s:
        for k in range(0, len(rows), 5000):
            s.execute(insert(WebhookLog), rows[k : k + 5000])
    return ids


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


# -- 1. receiver ceiling ---------------------------------------------------------------------


def ceiling(receiver: ReceiverProcess, secrets: dict[str, str], n: int, threads: int) -> float:
    from core.webhooks import sender as delivery

    client = delivery.make_client(threads)
    mids = merchant_ids()
    body = b'{"data":{"amount":1250},"event":"payment.captured","id":"msg_x"}'

    errors: Counter[str] = Counter()

    def post(i: int) -> bool:
        m = mids[i % len(mids)]
        out = delivery.send(client, receiver.url(m), f"msg_c{i}", body, [secrets[m]])
        if not out.ok:
            errors[out.error or "?"] += 1
        return out.ok

    receiver.reset()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(post, range(200)))  # warm the connections
        t0, c0 = time.perf_counter(), time.process_time()
        ok = sum(pool.map(post, range(n)))
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - c0
    client.close()
    if ok != n:
        print(f"  ceiling: {n - ok} requests failed: {dict(errors)}")
    print(
        f"receiver ceiling: {n / elapsed:7.0f} req/s   (bare delivery.send on {threads} threads, "
        f"no database; {cpu / n * 1e6:.0f} µs CPU per request in the sending process)"
    )
    return n / elapsed


# -- 2. Paydesk ------------------------------------------------------------------------------


def paydesk(
    url: str, label: str, receiver: ReceiverProcess, secrets, n: int, concurrency: int
) -> float:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from core.context import Context
    from core.store.db import open_database
    from core.store.migrate import upgrade
    from core.store.models import WebhookAttempt, WebhookLog
    from core.webhooks import sender as delivery
    from core.webhooks.dispatcher import Dispatcher
    from core.webhooks.events import enqueue

    db = open_database(url)
    upgrade(db)
    ctx = Context(db=db, client_id=f"bench-{label}")
    ids = seed(ctx, receiver, secrets, n)
    receiver.reset()
    dispatcher = Dispatcher(ctx, concurrency=concurrency)
    # Warm the pool and the connections with a few logs not counted in the figure.
    warm = add_logs(ctx, 200, datetime.now(UTC))
    dispatcher.deliver(warm)
    receiver.reset()
    with db.write() as s:
        s.execute(
            WebhookLog.__table__.update()
            .where(WebhookLog.id.in_(ids))
            .values(next_retry_at=datetime.now(UTC), created_at=datetime.now(UTC))
        )
    t0, c0 = time.perf_counter(), time.process_time()
    stats = dispatcher.run_until_idle()
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - c0
    rate = n / elapsed
    got = receiver.stats(ids=True)
    received = set(got["ids"])
    with db.read() as s:
        statuses = dict(
            s.execute(
                select(WebhookLog.status, func.count())
                .where(WebhookLog.id.in_(ids))
                .group_by(WebhookLog.status)
            ).all()
        )
        lat = [
            (a - c).total_seconds()
            for a, c in s.execute(
                select(WebhookAttempt.started_at, WebhookLog.created_at)
                .join(WebhookLog, WebhookLog.id == WebhookAttempt.webhook_log_id)
                .where(WebhookLog.id.in_(ids))
            )
        ]
        attempts = s.scalar(
            select(func.count())
            .select_from(WebhookAttempt)
            .where(WebhookAttempt.webhook_log_id.in_(ids))
        )
    duplicates = got["total"] - got["unique"]
    lost = len(set(ids) - received)
    print(
        f"{label:8} Paydesk   {n:,} deliveries in {elapsed:5.2f} s = {rate:7.0f}/s   "
        f"due→attempt p50 {percentile(lat, 0.5) * 1000:6.0f} ms p99 {percentile(lat, 0.99) * 1000:6.0f} ms   "
        f"duplicates {duplicates}  lost {lost}  bad signatures {got['bad_signatures']}   "
        f"{cpu / n * 1e6:.0f} µs CPU per delivery   "
        f"(statuses {statuses}, attempt rows {attempts:,}, {stats.sentence()})"
    )

    # A trickle of new logs to a dispatcher that waits for wake-ups (poll interval 5 s).
    receiver.reset()
    waiting = Dispatcher(ctx, concurrency=concurrency, poll_interval=5.0)
    waiting.listen()
    waiting.start()
    trickle = []
    try:
        time.sleep(0.3)
        mids = merchant_ids()
        for i in range(100):
            with db.write() as s:
                log = enqueue(
                    s,
                    merchant_id=mids[i % len(mids)],
                    event="payment.captured",
                    data={"n": i},
                    entity_id=None,
                    now=datetime.now(UTC),
                    origin=ctx.client_id,
                )
                trickle.append(log.id)
            time.sleep(0.02)
        end = time.monotonic() + 20
        while receiver.stats()["unique"] < len(trickle) and time.monotonic() < end:
            time.sleep(0.1)
        time.sleep(0.3)
    finally:
        waiting.close()
    with db.read() as s:
        tl = [
            (a - c).total_seconds()
            for a, c in s.execute(
                select(WebhookAttempt.started_at, WebhookLog.created_at)
                .join(WebhookLog, WebhookLog.id == WebhookAttempt.webhook_log_id)
                .where(WebhookLog.id.in_(trickle))
            )
        ]
    print(
        f"{label:8} wake-up   {len(tl)}/{len(trickle)} new logs, enqueue→attempt "
        f"p50 {percentile(tl, 0.5) * 1000:5.1f} ms  p99 {percentile(tl, 0.99) * 1000:5.1f} ms "
        "(poll interval 5 s, so this is the wake-up path)"
    )
    dispatcher.close()
    delivery.close_shared_client()
    db.dispose()
    return rate


# -- 3. the peer: pgqueuer + httpx -----------------------------------------------------------


async def _peer(
    style: str,
    pg_url: str,
    schema: str,
    receiver: ReceiverProcess,
    secrets,
    n: int,
    concurrency: int,
) -> float:  # type: ignore[no-untyped-def]
    import asyncpg
    from pgqueuer import Job, QueueManager
    from pgqueuer.db import AsyncpgDriver
    from pgqueuer.queries import Queries
    from pgqueuer.types import QueueExecutionMode

    from core.webhooks import signing

    # asyncpg is pgqueuer's own first-choice driver.
    conn = await asyncpg.connect(pg_url, server_settings={"search_path": schema})
    queries = Queries(AsyncpgDriver(conn))
    await queries.install()
    mids = merchant_ids()
    ids = [f"msg_p{uuid.uuid4().hex[:14]}" for _ in range(n)]
    payloads = []
    for i, log_id in enumerate(ids):
        body = {"id": log_id, "event": "payment.captured", "data": {"amount": 1250 + i}}
        payloads.append(json.dumps({"m": mids[i % len(mids)], "id": log_id, "body": body}).encode())
    for k in range(0, n, 5000):
        chunk = payloads[k : k + 5000]
        await queries.enqueue(["deliver"] * len(chunk), chunk, [0] * len(chunk))

    qm = QueueManager(queries)
    failures = [0]

    def prepare(job: Job) -> tuple[str, bytes, dict[str, str]]:
        data = json.loads(job.payload)
        body = json.dumps(data["body"], separators=(",", ":")).encode()
        m = data["m"]
        headers = signing.headers(data["id"], int(time.time()), body, [secrets[m]])
        headers["Content-Type"] = "application/json"
        return receiver.url(m), body, headers

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    if style == "async":
        aclient = httpx.AsyncClient(limits=limits, timeout=5.0, follow_redirects=False)

        @qm.entrypoint("deliver")
        async def deliver(job: Job) -> None:
            url, body, headers = prepare(job)
            resp = await aclient.post(url, content=body, headers=headers)
            if resp.status_code != 200:
                failures[0] += 1

    else:
        # pgqueuer's advice for blocking code: the sync client in threads.
        client = httpx.Client(limits=limits, timeout=5.0, follow_redirects=False)
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(concurrency))

        def post(job: Job) -> None:
            url, body, headers = prepare(job)
            if client.post(url, content=body, headers=headers).status_code != 200:
                failures[0] += 1

        @qm.entrypoint("deliver")
        async def deliver(job: Job) -> None:
            await asyncio.to_thread(post, job)

    receiver.reset()
    t0, c0 = time.perf_counter(), time.process_time()
    await qm.run(
        mode=QueueExecutionMode.drain,
        batch_size=concurrency,
        max_concurrent_tasks=2 * concurrency,
        dequeue_timeout=timedelta(seconds=1),
    )
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - c0
    if style == "async":
        await aclient.aclose()
    else:
        client.close()
    await conn.close()
    got = receiver.stats(ids=True)
    lost = len(set(ids) - set(got["ids"]))
    rate = n / elapsed
    print(
        f"postgres pgqueuer  {n:,} deliveries in {elapsed:5.2f} s = {rate:7.0f}/s   "
        f"duplicates {got['total'] - got['unique']}  lost {lost}  failures {failures[0]}   "
        f"{cpu / n * 1e6:.0f} µs CPU per delivery   "
        f"(httpx {'AsyncClient' if style == 'async' else 'Client in threads'}, {concurrency} at once)"
    )
    return rate


def peer(
    style: str, pg_url: str, receiver: ReceiverProcess, secrets, n: int, concurrency: int
) -> float:  # type: ignore[no-untyped-def]
    schema = f"bench_pgq_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute(f'CREATE SCHEMA "{schema}"')
    try:
        return asyncio.run(_peer(style, pg_url, schema, receiver, secrets, n, concurrency))
    finally:
        with psycopg.connect(pg_url, autocommit=True) as c:
            c.execute(f'DROP SCHEMA "{schema}" CASCADE')


# -- main ------------------------------------------------------------------------------------


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--serve", nargs=2, metavar=("PORT", "SECRETS"), help=argparse.SUPPRESS)
    p.add_argument("--logs", type=int, default=20_000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--only", choices=("sqlite", "postgres"))
    p.add_argument("--no-peer", action="store_true")
    p.add_argument("--postgres", default=DEFAULT_PG)
    args = p.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1])
        return

    from core.webhooks import signing

    secrets = {m: signing.new_secret() for m in merchant_ids()}
    receiver = ReceiverProcess(secrets)
    try:
        ceil = ceiling(receiver, secrets, min(args.logs, 10_000), args.concurrency)
        rates = {}
        if args.only in (None, "sqlite"):
            with tempfile.TemporaryDirectory() as tmp:
                rates["sqlite"] = paydesk(
                    f"sqlite:///{tmp}/bench.sqlite3",
                    "sqlite",
                    receiver,
                    secrets,
                    args.logs,
                    args.concurrency,
                )
        if args.only in (None, "postgres"):
            schema = f"bench_wh_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(args.postgres, autocommit=True) as c:
                c.execute(f'CREATE SCHEMA "{schema}"')
            try:
                url = f"{args.postgres}{'&' if '?' in args.postgres else '?'}options=-csearch_path%3D{schema}"
                rates["postgres"] = paydesk(
                    url, "postgres", receiver, secrets, args.logs, args.concurrency
                )
            finally:
                with psycopg.connect(args.postgres, autocommit=True) as c:
                    c.execute(f'DROP SCHEMA "{schema}" CASCADE')
            if not args.no_peer:
                # The peer in both of the ways pgqueuer suggests driving httpx.
                peers = {
                    style: peer(
                        style, args.postgres, receiver, secrets, args.logs, args.concurrency
                    )
                    for style in ("async", "threads")
                }
                for style, peer_rate in peers.items():
                    print(
                        f"ratio Paydesk/pgqueuer ({style}) on Postgres: "
                        f"{rates['postgres'] / peer_rate:.2f}× (budget ≥ 1.5×)"
                    )
        for label, rate in rates.items():
            print(
                f"{label}: {rate:.0f}/s = {rate / ceil:.0%} of the receiver ceiling "
                f"({'within' if rate >= 1000 else 'OVER'} the ≥ 1,000/s budget)"
            )
    finally:
        receiver.close()


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
