"""One copy of Paydesk requesting and deciding refunds, run as its own process by
tests/test_multi_copy.py: several of these act on the same payments at the same moment.

    python -m tests.refund_driver URL INDEX GO_FILE ROUNDS PAYMENT_ID...

Copy INDEX acts as requester ``r<INDEX>`` (support) and approver ``a<INDEX>`` (finance), with
its own Database. It waits until GO_FILE exists (so every copy starts together), then for
ROUNDS rounds: requests a partial refund of each payment (shuffled), withdraws one of its own
pending requests now and then, and approves or rejects every pending refund it sees. It
prints one JSON object with what each service call answered: the refunds it created, the
decisions that were its own, and how many calls were refused or lost a race.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

from core.context import Context
from core.errors import Conflict, Refused
from core.refunds import queries as rq
from core.refunds import service as rf
from core.refunds.records import RefundFilter
from core.store.db import open_database

START_TIMEOUT = 120.0  # seconds to wait for GO_FILE


def main(argv: list[str]) -> int:
    url, index_text, go_file, rounds_text, *payment_ids = argv
    index, rounds = int(index_text), int(rounds_text)
    requester, approver = f"r{index}", f"a{index}"
    rng = random.Random(index)
    ctx = Context(db=open_database(url), client_id=f"refund-driver-{index}")
    requested: list[str] = []
    decided: dict[str, str] = {}  # refund id -> the status this copy set
    refused = conflicts = 0
    try:
        end = time.monotonic() + START_TIMEOUT
        while not Path(go_file).exists():
            if time.monotonic() > end:
                print(f"{go_file} did not appear", file=sys.stderr)
                return 1
            time.sleep(0.01)
        for _ in range(rounds):
            for payment_id in rng.sample(payment_ids, len(payment_ids)):
                try:
                    view = rf.request_refund(
                        ctx,
                        requester,
                        payment_id,
                        amount=rng.randint(1, 4) * 500,
                        reason="requested_by_customer",
                    )
                except Refused:
                    refused += 1  # more than the payment has left: expected near the limit
                else:
                    requested.append(view.id)
            with ctx.db.read() as session:
                pending = rq.page(session, RefundFilter(status="pending_approval"), limit=10_000)
            work = [("decide", r.id) for r in pending]
            mine = [r.id for r in pending if r.requested_by == requester]
            if mine and rng.random() < 0.5:
                # The requester withdraws while approvers decide the same refund.
                work.append(("cancel", rng.choice(mine)))
            for action, refund_id in rng.sample(work, len(work)):
                try:
                    if action == "cancel":
                        decided[refund_id] = rf.cancel(ctx, requester, refund_id).status
                    elif rng.random() < 0.25:
                        note = "Customer withdrew"
                        decided[refund_id] = rf.reject(ctx, approver, refund_id, note).status
                    else:
                        decided[refund_id] = rf.approve(ctx, approver, refund_id).status
                except Conflict:
                    conflicts += 1  # another copy decided it first and we were told so
    finally:
        ctx.db.dispose()
    json.dump(
        {
            "requested": requested,
            "decided": decided,
            "refused": refused,
            "conflicts": conflicts,
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
