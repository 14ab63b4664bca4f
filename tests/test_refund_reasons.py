"""The refund reasons are a policy value (``refund_reasons``): admins change the list with
``policy set``, a request must use a listed code and ``other`` needs a note, and refunds made
with a reason since removed keep reading as they were. On both databases."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from core.access import policy, policy_rules
from core.context import Context
from core.errors import InputError, PaydeskError
from core.refunds import queries as rq
from core.refunds import service as rf
from core.refunds.request_form import payment_info
from core.refunds.states import DEFAULT_REASONS
from core.store.models import AuditEvent, PolicySetting, Refund
from tests.test_refunds import T0, add_payment, add_staff, count, refunded_amount
from tests.test_refunds_cli import cli  # noqa: F401

OTHER_NEEDS_NOTE = "A refund for another reason needs a note saying why."


@pytest.fixture
def staffed(ctx: Context) -> Context:
    add_staff(ctx)
    return ctx


def policy_written(ctx: Context) -> tuple[int, int]:
    with ctx.db.read() as s:
        return (
            s.scalar(select(func.count()).select_from(PolicySetting)),
            s.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "policy.set")
            ),
        )


def nothing_written(ctx: Context, pid: str) -> None:
    assert count(ctx, Refund) == 0 and refunded_amount(ctx, pid) == 0
    assert count(ctx, AuditEvent, AuditEvent.action.like("refund.%")) == 0


def test_the_default_list_keeps_the_stored_codes_spelling(staffed):
    with staffed.db.read() as s:
        reasons = policy.get(s, "refund_reasons")
    assert list(reasons) == [
        "requested_by_customer",
        "duplicate",
        "fraudulent",
        "pro_rata",
        "other",
    ]
    assert reasons == DEFAULT_REASONS


@pytest.mark.parametrize("note", [None, "", "   \n "])
def test_other_without_a_note_is_refused_and_writes_nothing(staffed, note):
    pid = add_payment(staffed, amount=10_000)
    with pytest.raises(InputError) as refused:
        rf.request_refund(staffed, "alice", pid, amount=100, reason="other", note=note)
    assert refused.value.message == OTHER_NEEDS_NOTE
    nothing_written(staffed, pid)


def test_other_with_a_note_is_requested(staffed):
    pid = add_payment(staffed, amount=10_000)
    r = rf.request_refund(
        staffed, "alice", pid, amount=100, reason="other", note="Goodwill after a late delivery"
    )
    assert (r.reason, r.note) == ("other", "Goodwill after a late delivery")


def test_the_policy_decides_which_reasons_a_request_may_use(staffed):
    pid = add_payment(staffed, amount=10_000)
    old = rf.request_refund(staffed, "alice", pid, amount=100, reason="fraudulent")
    policy.set_value(
        staffed, "root", "refund_reasons", "duplicate:Duplicate payment,goodwill:Goodwill,other"
    )
    with pytest.raises(InputError) as refused:
        rf.request_refund(staffed, "alice", pid, amount=100, reason="fraudulent")
    assert refused.value.message == (
        "'fraudulent' is not a refund reason; use one of duplicate, goodwill, other."
    )
    assert count(staffed, Refund) == 1
    new = rf.request_refund(staffed, "alice", pid, amount=200, reason="goodwill")
    assert new.reason == "goodwill"
    # The refund made with the reason since removed reads as it was.
    with staffed.db.read() as s:
        assert rq.get(s, old.id).reason == "fraudulent"
        assert rq.detail(s, old.id).refund.reason == "fraudulent"


def test_the_request_form_lists_the_policys_reasons(staffed):
    pid = add_payment(staffed, amount=10_000)
    assert payment_info(staffed.db, pid, T0).reasons == DEFAULT_REASONS
    policy.set_value(staffed, "root", "refund_reasons", "duplicate, other:Something else")
    assert payment_info(staffed.db, pid, T0).reasons == {
        "duplicate": "Duplicate",
        "other": "Something else",
    }


def test_set_keeps_the_order_and_labels_typed(staffed):
    value = policy.set_value(
        staffed, "root", "refund_reasons", " other:Other ,  chargeback_lost:Lost a chargeback: bank"
    )
    assert list(value.items()) == [
        ("other", "Other"),
        ("chargeback_lost", "Lost a chargeback: bank"),
    ]
    with staffed.db.read() as s:
        assert policy.get(s, "refund_reasons") == value


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        ("", "The refund reasons need at least one code, other among them."),
        (" , ,", "The refund reasons need at least one code, other among them."),
        ("duplicate,fraudulent", "The refund reasons must keep other, for a refund that fits"),
        ("duplicate,duplicate:Again,other", "The reason duplicate is given twice."),
        ("Duplicate,other", "'Duplicate' is not a reason code; use up to 40 lowercase letters"),
        ("by customer,other", "'by customer' is not a reason code"),
        ("pro-rata,other", "'pro-rata' is not a reason code"),
        ("_x,other", "'_x' is not a reason code"),
        ("dupé,other", "'dupé' is not a reason code"),
        ("x:" + "l" * 61 + ",other", "The label of x must be printable and at most 60 characters."),
        (",".join(f"r{i}" for i in range(30)) + ",other", "allow at most 30 codes"),
    ],
)
def test_bad_lists_are_refused_with_one_sentence_and_nothing_written(staffed, text, sentence):
    with pytest.raises(InputError) as refused:
        policy.set_value(staffed, "root", "refund_reasons", text)
    assert sentence in refused.value.message and refused.value.message.count(".") <= 2
    assert policy_written(staffed) == (0, 0)


def test_only_an_admin_changes_the_reasons(staffed):
    for who in ("alice", "bob"):
        with pytest.raises(PaydeskError):
            policy.set_value(staffed, who, "refund_reasons", "duplicate,other")
    assert policy_written(staffed) == (0, 0)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ('{"duplicate": "Duplicate"}', "without the reason other"),
        ("{}", "not 1 to 30 reason codes with labels"),
        ('["other"]', "not 1 to 30 reason codes with labels"),
        ('{"Other": "Other"}', "'Other' is not a reason code"),
        ('{"other": 5}', "the label of other is not a short text"),
    ],
)
def test_a_bad_stored_list_is_read_as_the_default(staffed, raw, why):
    assert policy_rules.decode("refund_reasons", raw) == (None, why)
    with staffed.db.write() as s:
        s.add(PolicySetting(key="refund_reasons", value=raw, updated_at=T0, updated_by="sql"))
    with staffed.db.read() as s:
        assert policy.get(s, "refund_reasons") == DEFAULT_REASONS
        [problem] = policy.problems(s)
    assert problem.key == "refund_reasons" and why in problem.sentence()


# -- the CLI -----------------------------------------------------------------------------------


def test_cli_policy_set_refund_reasons_refuses_a_list_without_other(ctx, cli):  # noqa: F811
    code, out, err = cli("policy", "set", "refund_reasons", "duplicate,fraudulent", actor="root")
    assert (code, out) == (2, "")
    assert err == (
        "paydesk: The refund reasons must keep other, for a refund that fits no other reason.\n"
    )
    assert policy_written(ctx) == (0, 0)
    code, out, err = cli("policy", "set", "refund_reasons", "duplicate,other", actor="root")
    assert (code, err) == (0, "")
    assert out == 'refund_reasons = {"duplicate": "Duplicate", "other": "Other"}\n'


def test_cli_policy_show_lists_the_reasons(cli):  # noqa: F811
    code, out, _ = cli("policy", "show", "--json")
    assert code == 0
    assert json.loads(out)["refund_reasons"] == DEFAULT_REASONS


def test_cli_request_with_other_needs_a_note(ctx, cli):  # noqa: F811
    pid = add_payment(ctx, amount=10_000)
    code, out, err = cli("refunds", "request", pid, "--amount", "5", "--reason", "other")
    assert (code, out, err) == (2, "", f"paydesk: {OTHER_NEEDS_NOTE}\n")
    nothing_written(ctx, pid)
    code, out, err = cli(
        "refunds", "request", pid, "--amount", "5", "--reason", "other", "--note", "Goodwill",
        "--json",
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert (json.loads(out)["reason"], json.loads(out)["note"]) == ("other", "Goodwill")
