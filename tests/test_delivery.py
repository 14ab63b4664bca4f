"""Sending one delivery over real HTTP to a real receiver on 127.0.0.1: outcomes in words."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from core.webhooks import sender as delivery
from core.webhooks import signing
from tests.webhook_receiver import BIG_BODY, Receiver

BODY = b'{"event":"payment.captured","id":"msg_1"}'


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    c = delivery.make_client(4)
    yield c
    c.close()


@pytest.fixture
def secret(receiver: Receiver) -> str:
    s = signing.new_secret()
    receiver.secrets = [s]
    return s


def send(client: httpx.Client, url: str, secret: str, timeout: float = 5.0) -> delivery.Outcome:
    return delivery.send(client, url, "msg_1", BODY, [secret], timeout)


def test_2xx_is_success_and_the_receiver_verifies_the_signature(receiver, client, secret):
    out = send(client, receiver.url("/ok"), secret)
    assert out.ok and out.code == 200 and out.body == "ok" and out.error is None
    got = receiver.received[0]
    assert got.verified_with == [secret]
    assert got.body == BODY
    assert got.headers["webhook-id"] == "msg_1"
    assert got.headers["user-agent"].startswith("Paydesk/")
    assert got.headers["content-type"] == "application/json"


def test_500_is_a_failure_named_with_its_reason(receiver, client, secret):
    out = send(client, receiver.url("/status/500"), secret)
    assert not out.ok
    assert out.code == 500
    assert out.error == "HTTP 500 Internal Server Error"
    assert out.body == "status 500"


def test_4xx_is_a_failure(receiver, client, secret):
    out = send(client, receiver.url("/status/404"), secret)
    assert not out.ok and out.error == "HTTP 404 Not Found"


def test_redirect_is_not_followed_and_says_where_it_pointed(receiver, client, secret):
    out = send(client, receiver.url("/redirect"), secret)
    assert not out.ok and out.code == 302
    assert out.error == f"Redirect to {receiver.url('/ok')} not followed (HTTP 302)"
    assert [r.path for r in receiver.received] == ["/redirect"]


def test_receiver_sleeping_past_the_timeout_is_a_timeout(receiver, client, secret):
    out = send(client, receiver.url("/sleep/3"), secret, timeout=0.3)
    assert not out.ok and out.code is None
    assert out.error == "Timed out after 0.3 s"


def test_refused_connection_is_named(client, secret):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = send(client, f"http://127.0.0.1:{port}/hook", secret)
    assert not out.ok and out.code is None
    assert out.error == f"Connection refused by 127.0.0.1:{port}"


def test_tls_to_a_plain_http_server_is_a_tls_error(receiver, client, secret):
    out = send(client, f"https://127.0.0.1:{receiver.port}/ok", secret)
    assert not out.ok and out.code is None
    assert out.error.startswith(f"The TLS handshake with 127.0.0.1:{receiver.port} failed")


def test_a_50_mb_body_is_cut_at_16_kib_and_not_read_to_the_end(receiver, client, secret):
    out = send(client, receiver.url("/big"), secret)
    assert out.ok
    assert out.body.startswith("x" * 1000)
    assert out.body.count("x") == delivery.MAX_BODY
    assert "cut at 16 KiB" in out.body
    # The receiver could not push the whole body: the client stopped reading and hung up.
    receiver.wait_for(1)
    assert receiver.big_bytes_sent < BIG_BODY


def test_429_retry_after_in_seconds_is_reported(receiver, client, secret):
    out = send(client, receiver.url("/retry-after/429/120"), secret)
    assert out.code == 429 and out.error == "HTTP 429 Too Many Requests"
    assert out.retry_after == 120


def test_503_retry_after_as_http_date_is_reported(receiver, client, secret):
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=600), usegmt=True)
    out = send(client, receiver.url(f"/retry-after/503/{when}"), secret)
    assert out.code == 503
    assert 500 < out.retry_after <= 600


def test_retry_after_is_bounded_to_an_hour(receiver, client, secret):
    out = send(client, receiver.url("/retry-after/429/86400"), secret)
    assert out.retry_after == delivery.MAX_RETRY_AFTER


def test_retry_after_on_other_codes_is_ignored(receiver, client, secret):
    out = send(client, receiver.url("/retry-after/500/120"), secret)
    assert out.retry_after is None


def test_410_is_marked_gone(receiver, client, secret):
    out = send(client, receiver.url("/status/410"), secret)
    assert out.gone and not out.ok and out.error == "HTTP 410 Gone"


def test_keep_alive_reuses_one_connection(receiver, client, secret):
    for _ in range(3):
        assert send(client, receiver.url("/ok"), secret).ok
    assert len(receiver.received) == 3
    assert len({r.client_port for r in receiver.received}) == 1


def test_connection_dropped_before_an_answer_is_sent_again_at_once(receiver, client, secret):
    out = send(client, receiver.url("/drop-once"), secret)
    assert out.ok
    assert [r.webhook_id for r in receiver.received] == ["msg_1", "msg_1"]


def test_connection_always_dropped_is_a_failure_in_words(receiver, client, secret):
    out = send(client, receiver.url("/drop"), secret)
    assert not out.ok and out.code is None
    assert out.error == (
        f"The receiver at 127.0.0.1:{receiver.port} closed the connection "
        "without a complete HTTP answer"
    )
    assert len(receiver.received) == 2


def test_dns_failure_sentence_names_the_host():
    exc = httpx.ConnectError("[Errno -2] Name or service not known")
    exc.__cause__ = socket.gaierror(-2, "Name or service not known")
    assert (
        delivery.describe_error(exc, "https://hooks.nowhere.invalid/x")
        == "The host hooks.nowhere.invalid was not found (DNS lookup failed)"
    )


def test_shared_client_is_one_per_process_and_grows_when_asked():
    a = delivery.shared_client(4)
    assert delivery.shared_client(2) is a
    b = delivery.shared_client(64)
    assert b is not a and delivery.shared_client(8) is b
    assert b.follow_redirects is False
