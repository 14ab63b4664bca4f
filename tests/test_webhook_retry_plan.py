"""What a bulk retry would do, said before it acts, on both databases: merchants without an
endpoint are left out and named by name, a log being delivered is left to finish, a disabled
endpoint's deliveries are retried and said to wait; the command line prints the same lines the
"Retry failed…" dialog shows, and a single retry is refused when one named log cannot go."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from core.errors import Refused
from core.store.models import WebhookLog
from core.webhooks import deliveries as webhooks
from core.webhooks.deliveries import WebhookFilter
from tests.test_webhooks_cli import cli, fail, log_status  # noqa: F401 (the fixture)
from tests.webhook_receiver import SUPPORT, add_log, add_merchant, add_staff

URL = "https://shop.example/hooks"


def _mixed(ctx) -> dict[str, list[str]]:
    """Failed logs of Shop A (endpoint), Shop B (none) and Shop C (disabled endpoint)."""
    add_merchant(ctx, "mer_A", url=URL)
    add_merchant(ctx, "mer_B")
    add_merchant(ctx, "mer_C", url=URL)
    made = {
        "A": [add_log(ctx, "mer_A") for _ in range(3)],
        "B": [add_log(ctx, "mer_B") for _ in range(2)],
        "C": [add_log(ctx, "mer_C")],
    }
    fail(ctx, *(i for ids in made.values() for i in ids))
    return made


def test_the_plan_leaves_out_a_merchant_without_an_endpoint_by_name(ctx) -> None:
    add_staff(ctx)
    made = _mixed(ctx)
    webhooks.disable_endpoint(ctx, "alice", "mer_C")
    with ctx.db.write() as s:  # one of Shop A's is being delivered right now
        s.get(WebhookLog, made["A"][0]).lease_expires_at = ctx.clock.now() + timedelta(minutes=1)
    with ctx.db.read() as s:
        plan = webhooks.bulk_plan(s, WebhookFilter(), ctx.clock.now())
    assert (plan.count, plan.own, plan.left_out_count, plan.waiting) == (3, 3, 3, 1)
    assert plan.lines() == [
        "6 failed deliveries match; 3 will be retried, 3 left out:",
        "2 deliveries left out: Shop B has no webhook endpoint; an admin can set one.",
        "1 delivery left out: being delivered right now, so left to finish.",
        "1 delivery of Shop C waits: the endpoint is disabled; it goes out once it is enabled.",
    ]
    assert "mer_B" not in " ".join(plan.lines())
    assert webhooks.bulk_retry(ctx, SUPPORT, WebhookFilter()) == 3
    assert [log_status(ctx, i) for i in made["B"]] == ["failed", "failed"]
    assert [log_status(ctx, i) for i in made["A"][1:] + made["C"]] == ["pending"] * 3
    assert log_status(ctx, made["A"][0]) == "failed"


def test_a_single_retry_of_a_merchant_without_an_endpoint_names_it_and_changes_nothing(ctx):
    add_staff(ctx)
    made = _mixed(ctx)
    with pytest.raises(Refused) as refused:
        webhooks.retry(ctx, SUPPORT, [made["A"][0], made["B"][0]])
    assert str(refused.value) == "Shop B has no webhook endpoint; an admin can set one."
    assert log_status(ctx, made["A"][0]) == "failed"  # all or nothing


def test_retry_failed_prints_what_it_leaves_out_before_it_acts(ctx, cli) -> None:  # noqa: F811
    made = _mixed(ctx)
    code, out, err = cli("webhooks", "retry", "--failed")
    assert code == 2 and "Add --yes" in err
    assert out.splitlines() == [
        "6 failed deliveries match; 4 will be retried, 2 left out:",
        "2 deliveries left out: Shop B has no webhook endpoint; an admin can set one.",
    ]
    assert {log_status(ctx, i) for ids in made.values() for i in ids} == {"failed"}
    code, out, _ = cli("webhooks", "retry", "--failed", "--yes", "--json")
    assert code == 0 and json.loads(out) == {"matching": 4, "retried": 4, "left_out": 2}
    assert [log_status(ctx, i) for i in made["B"]] == ["failed", "failed"]
    assert {log_status(ctx, i) for i in made["A"] + made["C"]} == {"pending"}


def test_retry_failed_when_every_match_is_left_out_retries_nothing(ctx, cli) -> None:  # noqa: F811
    add_merchant(ctx, "mer_B")
    log_id = add_log(ctx, "mer_B")
    fail(ctx, log_id)
    code, out, _ = cli("webhooks", "retry", "--failed", "--yes")
    assert code == 0
    assert out.splitlines() == [
        "1 failed delivery matches, but none can be retried:",
        "1 delivery left out: Shop B has no webhook endpoint; an admin can set one.",
        "Nothing was retried.",
    ]
    assert log_status(ctx, log_id) == "failed"


def test_several_merchants_without_an_endpoint_are_left_out_in_one_sentence(ctx) -> None:
    add_staff(ctx)
    for mid in ("mer_B", "mer_C", "mer_D", "mer_E", "mer_F"):
        add_merchant(ctx, mid)
        fail(ctx, add_log(ctx, mid))
    with ctx.db.read() as s:
        plan = webhooks.bulk_plan(s, WebhookFilter(), ctx.clock.now())
        two = webhooks.bulk_plan(s, WebhookFilter(merchant_id="mer_B"), ctx.clock.now())
    assert plan.lines()[1:] == [
        "5 deliveries left out: Shop B, Shop C, Shop D and 2 other merchants have no webhook "
        "endpoint; an admin can set them."
    ]
    assert two.lines() == [
        "1 failed delivery matches, but none can be retried:",
        "1 delivery left out: Shop B has no webhook endpoint; an admin can set one.",
    ]
    assert webhooks.bulk_retry(ctx, SUPPORT, WebhookFilter()) == 0
