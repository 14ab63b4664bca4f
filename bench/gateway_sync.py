"""Gateway sync figures (issue 16), on SQLite and Postgres, against the fake gateway on
127.0.0.1 (the tests' server, paged list), run in a process of its own so that the memory
figure is Paydesk's: the fake holds every payment and log in memory.

1. First sync (a full pass) of N payments and N webhook logs (default 100,000 each).
   Budget ≤ 60 s and ≤ 250 MB peak RSS (this process: Paydesk's sync, without the fake).
2. Incremental sync after 100 payments changed status, each with its webhook log (the
   changes are at the head of the log list; the payments themselves are the newest 100).
   Budget ≤ 1 s.
3. Incremental sync with nothing changed, and a full pass with nothing changed (no budget:
   what the periodic full pass costs).

Each database runs in a fresh process (peak RSS only grows within a process).

    .venv/bin/python bench/gateway_sync.py [--payments 100000] [--page 500] [--changes 100]
        [--only sqlite|postgres] [--postgres URL]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from each_database import POSTGRES, run_on_each


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def serve_fake(conn: Connection, n: int, page: int) -> None:
    """The fake gateway's process: seeds, serves, and changes payments when asked."""
    from tests.fake_gateway import FakeGateway, Variation

    gw = FakeGateway(Variation(max_limit=page))
    gw.seed(payments=n, logs=n)
    gw.listed("payments")  # sorted once before the clock starts, as a real gateway's index
    gw.listed("logs")
    conn.send(gw.api)
    while True:
        cmd, arg = conn.recv()
        if cmd == "change":
            newest = sorted(gw.state.payments, reverse=True)[:arg]
            for pid in newest:
                gw.set_payment_status(pid, "failed")
            conn.send(len(newest))
        else:
            gw.close()
            conn.send(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
            return


def run(url: str, label: str, n: int, page: int, changes: int) -> None:
    import keyring

    from core.access import roles
    from core.context import Context
    from core.gateway import connections, sync
    from core.gateway.client import GatewayClient
    from core.store.db import open_database
    from core.store.migrate import upgrade
    from tests.conftest import MemoryKeyring
    from tests.fake_gateway import API_KEY, API_SECRET

    keyring.set_keyring(MemoryKeyring())
    parent, child = mp.get_context("spawn").Pipe()
    fake = mp.get_context("spawn").Process(target=serve_fake, args=(child, n, page), daemon=True)
    fake.start()
    api = parent.recv()
    db = open_database(url)
    upgrade(db)
    ctx = Context(db=db)
    roles.ensure_first_admin(ctx, "bench-admin")
    factory = lambda u, k, s: GatewayClient(u, k, s, page_size=page)  # noqa: E731
    connections.add_connection(
        ctx, "bench-admin", "bench", api, API_KEY, API_SECRET, client_factory=factory
    )
    print(f"{label}: before the first sync, peak RSS {peak_mb():.0f} MB")

    def timed(what: str, **kw: bool) -> None:
        start = time.perf_counter()
        r = sync.sync_connection(ctx, "bench", client_factory=factory, **kw)
        took = time.perf_counter() - start
        print(
            f"{label}: {what}: {took:.2f} s ({'full' if r.full else 'incremental'}), "
            f"{r.added:,} added, {r.updated:,} updated, error={r.error}, "
            f"peak RSS {peak_mb():.0f} MB"
        )

    timed(f"first sync of {n:,} payments + {n:,} logs")
    parent.send(("change", changes))
    parent.recv()
    timed(f"sync after {changes} changes")
    timed("sync with nothing changed")
    timed("full pass with nothing changed", full=True)
    parent.send(("close", None))
    print(f"{label}: the fake gateway's own peak RSS {parent.recv():.0f} MB (not counted)")
    fake.join(timeout=10)
    db.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--payments", type=int, default=100_000)
    ap.add_argument("--page", type=int, default=500)
    ap.add_argument("--changes", type=int, default=100)
    ap.add_argument("--only", choices=["sqlite", "postgres"])
    ap.add_argument("--postgres", default=POSTGRES)
    args = ap.parse_args()
    if args.only is None:
        for only in ("sqlite", "postgres"):
            subprocess.run([sys.executable, __file__, *sys.argv[1:], "--only", only], check=True)
        return
    run_on_each(
        args.only,
        args.postgres,
        lambda url, label: run(url, label, args.payments, args.page, args.changes),
    )


if __name__ == "__main__":
    main()
