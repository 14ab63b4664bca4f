"""The gateway client against the fake gateway, over real HTTP on 127.0.0.1, one variation at
a time."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from core.errors import InputError, sentence
from core.gateway.client import GatewayClient, api_base
from core.gateway.errors import (
    GatewayAuthFailed,
    GatewayMissingRoute,
    GatewayNotFound,
    GatewayNotJson,
    GatewayOutcomeUnknown,
    GatewayRejected,
    GatewayServerError,
    GatewayTimeout,
    GatewayUnreachable,
)
from tests.fake_gateway import API_KEY, API_SECRET, MERCHANT_ID, FakeGateway, Variation

Make = Callable[..., FakeGateway]


@pytest.fixture
def gateway() -> Iterator[Make]:
    started: list[FakeGateway] = []

    def make(**variation: object) -> FakeGateway:
        gw = FakeGateway(Variation(**variation))  # type: ignore[arg-type]
        started.append(gw)
        return gw

    yield make
    for gw in started:
        gw.close()


def client_for(gw: FakeGateway, *, root: bool = False, **kw: object) -> GatewayClient:
    return GatewayClient(gw.root if root else gw.api, API_KEY, API_SECRET, **kw)  # type: ignore[arg-type]


# -- the URL -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "base"),
    [
        ("http://127.0.0.1:3000", "http://127.0.0.1:3000/api/v1"),
        ("http://127.0.0.1:3000/", "http://127.0.0.1:3000/api/v1"),
        ("http://127.0.0.1:3000/api/v1", "http://127.0.0.1:3000/api/v1"),
        ("https://gw.example.com/api/v1/", "https://gw.example.com/api/v1"),
        (" https://gw.example.com/pay ", "https://gw.example.com/pay/api/v1"),
    ],
)
def test_server_root_and_api_base_are_both_accepted(typed: str, base: str) -> None:
    assert api_base(typed) == base


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("", "needs the gateway's URL"),
        ("ftp://gw.example.com", "is not a gateway URL"),
        ("gw.example.com", "is not a gateway URL"),
        ("http://user:pw@gw.example.com", "without a user name or password"),
        ("http://gw.example.com/?key=1", "without a query"),
        ("http://gw.example.com:port", "port that is not a number"),
    ],
)
def test_a_url_that_is_not_a_gateway_is_one_sentence(typed: str, said: str) -> None:
    with pytest.raises(InputError) as err:
        api_base(typed)
    assert said in str(err.value)


def test_the_server_root_reaches_the_same_api(gateway: Make) -> None:
    gw = gateway()
    gw.seed(payments=3)
    with client_for(gw, root=True) as c:
        assert c.get_payment("pay_000000000001").amount == 10_000
    assert gw.requests[-1].path == "/api/v1/payments/pay_000000000001"


# -- auth --------------------------------------------------------------------------------------


def test_key_and_secret_are_sent_as_the_api_doc_says(gateway: Make) -> None:
    gw = gateway()
    with client_for(gw) as c:
        c.check_credentials()
    assert gw.requests[-1].headers["x-api-key"] == API_KEY
    assert gw.requests[-1].headers["x-api-secret"] == API_SECRET


def test_a_wrong_secret_is_a_401_sentence_without_the_secret(gateway: Make) -> None:
    gw = gateway()
    with GatewayClient(gw.api, API_KEY, "secret_wrong_123456") as c:
        with pytest.raises(GatewayAuthFailed) as err:
            c.check_credentials()
        with pytest.raises(GatewayAuthFailed):
            c.detect()
    said = sentence(err.value)
    assert "refused the API key and secret (401)" in said
    assert "secret_wrong" not in said
    assert err.value.exit_code == 2


# -- capabilities ------------------------------------------------------------------------------


def test_detect_finds_what_the_common_gateway_offers(gateway: Make) -> None:
    gw = gateway()
    refunds_before = len(gw.state.refunds)
    with client_for(gw) as c:
        caps = c.detect()
    assert caps.payment_list == "paged"
    assert caps.webhook_logs and caps.retry_route and caps.queue_status and caps.health
    assert not caps.refund_list and not caps.merchant_profile
    assert caps.refund_route == "payment"
    assert caps.refund_idempotency == "assumed ignored"
    assert len(gw.state.refunds) == refunds_before  # probing makes no refund


@pytest.mark.parametrize(
    ("variation", "expected"),
    [
        ({"payment_list": "array"}, {"payment_list": "array"}),
        ({"payment_list": "none"}, {"payment_list": "none"}),
        ({"refund_list": True}, {"refund_list": True}),
        ({"retry_route": False}, {"retry_route": False}),
        ({"queue_status": False}, {"queue_status": False}),
        (
            {"unknown_routes": "html200", "payment_list": "none", "retry_route": False},
            {"payment_list": "none", "retry_route": False, "refund_list": False},
        ),
        (
            {"unknown_routes": "html404", "payment_list": "none", "retry_route": False},
            {"payment_list": "none", "retry_route": False},
        ),
    ],
)
def test_detect_tells_each_variation(gateway: Make, variation: dict, expected: dict) -> None:
    gw = gateway(**variation)
    with client_for(gw) as c:
        caps = c.detect()
    for key, value in expected.items():
        assert getattr(caps, key) == value, key


def test_a_merchant_profile_that_leaks_secrets_keeps_only_the_merchant_id(gateway: Make) -> None:
    gw = gateway(merchant_profile=True)
    with client_for(gw) as c:
        caps = c.detect()
    assert caps.merchant_profile and caps.merchant_id == MERCHANT_ID
    stored = caps.to_json()
    assert API_SECRET not in stored and "whsec_leaked" not in stored


def test_a_url_that_is_a_dashboard_is_refused_as_not_the_api(gateway: Make) -> None:
    gw = gateway(unknown_routes="html200")
    c = GatewayClient(gw.root + "/dashboard", API_KEY, API_SECRET)
    with c, pytest.raises(GatewayNotJson) as err:
        c.check_credentials()
    assert "web page, not its API" in str(err.value)


# -- lists and paging --------------------------------------------------------------------------


def test_a_paged_list_is_read_page_by_page_even_when_the_server_caps_the_limit(
    gateway: Make,
) -> None:
    gw = gateway(max_limit=40)
    gw.seed(payments=250)
    with client_for(gw, page_size=100) as c:
        pages = list(c.payment_pages("paged"))
    ids = [p.id for page in pages for p in page.items]
    assert len(ids) == 250 and len(set(ids)) == 250
    assert ids[0] == "pay_000000000250"  # newest first
    assert len(pages) == 7  # 40 a page, as the server gives
    skips = [r.path for r in gw.requests if r.path.startswith("/api/v1/payments?")]
    assert skips[1].endswith("skip=40")


def test_a_bare_array_is_paged_by_the_client(gateway: Make) -> None:
    gw = gateway(payment_list="array")
    gw.seed(payments=250)
    with client_for(gw, page_size=100) as c:
        pages = list(c.payment_pages("array"))
    assert [len(p.items) for p in pages] == [100, 100, 50]
    assert [p.offset for p in pages] == [0, 100, 200]
    assert sum(1 for r in gw.requests if r.path.startswith("/api/v1/payments?")) == 1


def test_no_payment_list_is_said_plainly(gateway: Make) -> None:
    gw = gateway(payment_list="none")
    with client_for(gw) as c, pytest.raises(GatewayMissingRoute) as err:
        list(c.payment_pages("none"))
    assert "has no payment list" in str(err.value)


def test_a_missing_list_route_answering_html_200_is_not_trusted(gateway: Make) -> None:
    gw = gateway(payment_list="none", unknown_routes="html200")
    with client_for(gw) as c, pytest.raises(GatewayNotJson) as err:
        list(c.payment_pages("paged"))
    assert "web page, not JSON" in str(err.value)


def test_webhook_logs_page_by_offset_and_carry_their_payment(gateway: Make) -> None:
    gw = gateway(max_limit=7)
    gw.seed(payments=20, logs=20)
    with client_for(gw, page_size=7) as c:
        logs = [log for page in c.log_pages() for log in page.items]
    assert len(logs) == 20 and len({log.id for log in logs}) == 20
    first = logs[-1]
    assert first.event == "payment.success"
    assert first.payment is not None and first.payment.id == "pay_000000000001"
    assert json.loads(first.payload)["data"]["payment"]["id"] == "pay_000000000001"
    assert len(first.id) == 36  # the gateway's UUID, kept as it is


def test_the_refund_list_filters_by_payment(gateway: Make) -> None:
    gw = gateway(refund_list=True)
    gw.seed(payments=5, refunds=5)
    with client_for(gw) as c:
        everything = [r for page in c.refund_pages() for r in page.items]
        one = [r for page in c.refund_pages(payment_id="pay_000000000003") for r in page.items]
    assert len(everything) == 5
    assert [r.payment_id for r in one] == ["pay_000000000003"]


def test_malformed_rows_are_skipped_with_their_reason_and_the_rest_is_read(gateway: Make) -> None:
    gw = gateway()
    gw.seed(payments=4)
    gw.state.payments["pay_000000000002"]["amount"] = "12.50"
    gw.state.payments["pay_000000000003"]["id"] = ""
    gw.state.payments["pay_000000000004"]["amount"] = 12.5
    gw.add_payment(status="weird")
    with client_for(gw) as c:
        pages = list(c.payment_pages("paged"))
    assert [p.id for p in pages[0].items] == ["pay_000000000001"]
    reasons = sorted(s.sentence() for s in pages[0].skipped)
    assert reasons == [
        "Skipped a payment without an id: id is missing.",
        "Skipped payment pay_000000000002: amount '12.50' is not an integer.",
        "Skipped payment pay_000000000004: amount 12.5 is not an integer.",
        "Skipped payment pay_000000000005: status 'weird' is not one of pending, success, "
        "failed, partially_refunded, refunded.",
    ]


def test_a_page_without_its_list_is_refused_whole(gateway: Make) -> None:
    gw = gateway()
    gw.seed(payments=3)
    gw.vary(payment_list="array")  # the client still asks for pages
    with client_for(gw) as c, pytest.raises(Exception) as err:
        list(c.payment_pages("paged"))
    assert "without its list" in sentence(err.value)


def test_timestamps_without_a_zone_are_read_as_utc(gateway: Make) -> None:
    gw = gateway(zoned_times=False)
    gw.seed(payments=1)
    assert not gw.state.payments["pay_000000000001"]["created_at"].endswith("Z")
    with client_for(gw) as c:
        pay = c.get_payment("pay_000000000001")
    assert pay.created_at == datetime(2026, 1, 10, 9, 0, 0, 1000, tzinfo=UTC)


def test_an_unknown_payment_is_the_gateways_own_sentence(gateway: Make) -> None:
    gw = gateway()
    with client_for(gw) as c, pytest.raises(GatewayNotFound) as err:
        c.get_payment("pay_nothere1234")
    assert str(err.value) == "Payment not found."


# -- failures ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_gateway_is_one_sentence() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    with GatewayClient(url, API_KEY, API_SECRET) as c, pytest.raises(GatewayUnreachable) as err:
        c.check_credentials()
    assert str(err.value).startswith(f"The gateway at {url}/api/v1 cannot be reached")
    assert err.value.exit_code == 1


def test_a_5xx_is_one_sentence(gateway: Make) -> None:
    gw = gateway(fail_status=503)
    with client_for(gw) as c, pytest.raises(GatewayServerError) as err:
        c.get_payment("pay_000000000001")
    assert "failed with 503" in str(err.value)


def test_a_slow_gateway_times_out_with_one_sentence(gateway: Make) -> None:
    gw = gateway(delay=2.0)
    with client_for(gw, timeout=0.3) as c, pytest.raises(GatewayTimeout) as err:
        c.get_payment("pay_000000000001")
    assert "did not answer in time" in str(err.value)


# -- refunds and retries -----------------------------------------------------------------------


def test_a_refund_is_sent_with_the_key_in_the_header_and_the_body(gateway: Make) -> None:
    gw = gateway()
    gw.seed(payments=1)
    with client_for(gw) as c:
        ref = c.create_refund("pay_000000000001", 2_500, "customer asked", "rfnd_PaydeskOwn001")
    assert ref.id.startswith("rfnd_") and ref.amount == 2_500 and ref.status == "pending"
    post = gw.requests[-1]
    assert post.headers["idempotency-key"] == "rfnd_PaydeskOwn001"
    assert json.loads(post.body) == {
        "amount": 2_500,
        "reason": "customer asked",
        "idempotency_key": "rfnd_PaydeskOwn001",
    }


def test_an_over_refund_is_refused_with_the_gateways_sentence(gateway: Make) -> None:
    gw = gateway()
    gw.seed(payments=1)
    with client_for(gw) as c, pytest.raises(GatewayRejected) as err:
        c.create_refund("pay_000000000001", 10_001, "too much", "k1")
    assert str(err.value) == "Refund amount exceeds available amount."
    assert err.value.status == 400
    assert gw.state.refunds == {}


@pytest.mark.parametrize(("mode", "made"), [("ignored", 2), ("body", 1)])
def test_idempotency_is_honoured_or_ignored_as_the_gateway_does(
    gateway: Make, mode: str, made: int
) -> None:
    gw = gateway(idempotency=mode)
    gw.seed(payments=1)
    with client_for(gw) as c:
        c.create_refund("pay_000000000001", 100, "r", "same-key")
        c.create_refund("pay_000000000001", 100, "r", "same-key")
    assert len(gw.refunds_of("pay_000000000001")) == made


def test_a_dropped_answer_after_the_refund_is_committed_is_an_unknown_outcome(
    gateway: Make,
) -> None:
    gw = gateway(drop_refund_every=2)
    gw.seed(payments=1)
    with client_for(gw) as c:
        c.create_refund("pay_000000000001", 100, "r", "k1")
        with pytest.raises(GatewayOutcomeUnknown) as err:
            c.create_refund("pay_000000000001", 100, "r", "k2")
    assert "whether it acted is unknown" in str(err.value)
    assert len(gw.refunds_of("pay_000000000001")) == 2  # the gateway did make it


def test_a_refund_that_cannot_connect_is_not_an_unknown_outcome() -> None:
    c = GatewayClient(f"http://127.0.0.1:{_free_port()}", API_KEY, API_SECRET)
    with c, pytest.raises(GatewayUnreachable):
        c.create_refund("pay_000000000001", 100, "r", "k1")


def test_retry_asks_the_gateway_and_a_gateway_without_the_route_says_so(gateway: Make) -> None:
    gw = gateway()
    gw.seed(payments=1, logs=1)
    log_id = next(iter(gw.state.logs))
    with client_for(gw) as c:
        assert c.retry_webhook(log_id) == "pending"
    assert gw.state.logs[log_id]["status"] == "pending"
    gw.vary(retry_route=False, unknown_routes="html404")
    with client_for(gw) as c, pytest.raises(GatewayMissingRoute) as err:
        c.retry_webhook(log_id)
    assert "does not offer POST" in str(err.value)


def test_queue_status_needs_no_auth_and_reads_counts(gateway: Make) -> None:
    gw = gateway()
    with GatewayClient(gw.api, "wrong", "wrong") as c:
        status = c.queue_status()
    assert status == {
        "pending": 0,
        "processing": 0,
        "completed": 7,
        "failed": 1,
        "worker_status": "running",
    }
