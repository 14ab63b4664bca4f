"""Looking up one payment by its exact id at the gateways, against the fake gateway, on SQLite
and Postgres."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select, update

from core.errors import InputError
from core.gateway import connections, secrets
from core.gateway.errors import GatewayNotJson, GatewayUnreachable
from core.gateway.lookup import Found, look_up_payment
from core.store.models import GatewayConnection, Payment
from tests.fake_gateway import API_KEY, API_SECRET, FakeGateway
from tests.webhook_receiver import ADMIN, add_staff


@pytest.fixture
def gw() -> Iterator[FakeGateway]:
    gateway = FakeGateway()
    yield gateway
    gateway.close()


def _connect(ctx, gw: FakeGateway, name: str = "acme", *, staff: bool = True) -> None:
    if staff:
        add_staff(ctx)
    connections.add_connection(ctx, ADMIN, name, gw.api, API_KEY, API_SECRET)


def _payments(ctx) -> int:
    with ctx.db.read() as s:
        return s.scalar(select(func.count()).select_from(Payment)) or 0


def _asked(gw: FakeGateway, payment_id: str) -> int:
    return sum(1 for r in gw.requests if r.path == f"/api/v1/payments/{payment_id}")


def test_a_payment_the_gateway_has_is_fetched_and_kept(ctx, gw) -> None:
    gw.seed(payments=3)
    gw.set_payment_status("pay_000000000002", "failed", log=False)
    _connect(ctx, gw)
    found = look_up_payment(ctx, "  pay_000000000002 ", actor=ADMIN)
    assert found == Found("pay_000000000002", "acme", "failed", added=True)
    with ctx.db.read() as s:
        row = s.get(Payment, "pay_000000000002")
        merchant = s.get(GatewayConnection, "acme").merchant_id
        assert (row.gateway, row.amount, row.merchant_id) == ("acme", 10_001, merchant)
    assert _payments(ctx) == 1
    # Held now: the next look-up answers from Paydesk's copy without asking the gateway.
    asked = _asked(gw, "pay_000000000002")
    again = look_up_payment(ctx, "pay_000000000002")
    assert again == Found("pay_000000000002", "acme", "failed", added=False)
    assert _asked(gw, "pay_000000000002") == asked


def test_a_payment_no_gateway_has_is_none_and_nothing_is_written(ctx, gw) -> None:
    gw.seed(payments=1)
    _connect(ctx, gw)
    assert look_up_payment(ctx, "pay_nosuchpayment") is None
    assert _asked(gw, "pay_nosuchpayment") == 1  # the gateway's own JSON 404
    assert _payments(ctx) == 0


def test_a_web_page_instead_of_the_api_is_one_sentence(ctx, gw) -> None:
    gw.seed(payments=1)
    _connect(ctx, gw)
    # The connection now points under the dashboard, which answers every path with HTML, 200.
    gw.vary(unknown_routes="html200")
    with ctx.db.write() as s:
        s.execute(
            update(GatewayConnection)
            .where(GatewayConnection.name == "acme")
            .values(url=f"{gw.root}/dashboard/api/v1")
        )
    with pytest.raises(GatewayNotJson) as err:
        look_up_payment(ctx, "pay_000000000001")
    text = str(err.value)
    assert "web page, not JSON" in text and text.endswith(".") and "\n" not in text
    assert API_SECRET not in text
    assert _payments(ctx) == 0


def test_an_unreachable_gateway_is_one_sentence(ctx, gw) -> None:
    _connect(ctx, gw)
    gw.close()
    with pytest.raises(GatewayUnreachable) as err:
        look_up_payment(ctx, "pay_000000000001")
    text = str(err.value)
    assert "cannot be reached" in text and text.endswith(".") and "\n" not in text
    assert _payments(ctx) == 0


def test_the_other_connections_are_asked_when_one_cannot_be(ctx, gw) -> None:
    down = FakeGateway()
    _connect(ctx, down, "acme")
    down.close()
    gw.seed(payments=2)
    _connect(ctx, gw, "beta", staff=False)
    found = look_up_payment(ctx, "pay_000000000002")
    assert found is not None and (found.gateway, found.added) == ("beta", True)
    # Nowhere else, and one connection could not be asked: it might have had it.
    with pytest.raises(GatewayUnreachable):
        look_up_payment(ctx, "pay_000000000009")


def test_connections_whose_secret_this_copy_lacks_are_not_asked(ctx, gw) -> None:
    gw.seed(payments=1)
    _connect(ctx, gw)
    secrets.forget("acme")
    asked = len(gw.requests)
    assert look_up_payment(ctx, "pay_000000000001") is None
    assert len(gw.requests) == asked and _payments(ctx) == 0


def test_paydesks_own_payment_is_answered_without_asking(ctx, gw) -> None:
    from tests.test_refunds import add_payment

    _connect(ctx, gw)
    own = add_payment(ctx, amount=5_000)
    asked = len(gw.requests)
    found = look_up_payment(ctx, own)
    assert found is not None and (found.gateway, found.added) == (None, False)
    assert len(gw.requests) == asked


@pytest.mark.parametrize(
    "text", ["", "   ", "pay_1/../../webhooks", "pay 1", "pay_1?x=1", "p" * 33, "pay_é"]
)
def test_text_that_is_not_a_payment_id_is_refused_before_asking(ctx, gw, text) -> None:
    _connect(ctx, gw)
    asked = len(gw.requests)
    with pytest.raises(InputError) as err:
        look_up_payment(ctx, text)
    assert "is not a payment id" in str(err.value) and "\n" not in str(err.value)
    assert len(gw.requests) == asked and _payments(ctx) == 0
