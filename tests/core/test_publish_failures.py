"""Failures: never raised into a view, always logged (without secrets) and signalled."""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from flask_fanout import FanoutExt
from flask_fanout import Publish
from flask_fanout import PublishError
from flask_fanout import signals
from tests.helpers.endpoint import KEY_B64
from tests.helpers.endpoint import REALM
from tests.helpers.endpoint import Endpoint
from tests.helpers.endpoint import make_app
from tests.helpers.endpoint import sending_app


class Failures:
    """Collects publish_failed signals and lets a test wait for them."""

    def __init__(self) -> None:
        self.events: list[tuple[PublishError, list[Publish]]] = []
        self.cond = threading.Condition()

    def __call__(
        self, sender: Flask, error: PublishError, publishes: list[Publish]
    ) -> None:
        with self.cond:
            self.events.append((error, publishes))
            self.cond.notify_all()

    def wait(self, count: int = 1) -> list[tuple[PublishError, list[Publish]]]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.events) >= count, 10)
            return list(self.events)


@pytest.fixture
def failures() -> Iterator[Failures]:
    collector = Failures()
    with signals.publish_failed.connected_to(collector):
        yield collector


@pytest.fixture
def refused_app(ext: FanoutExt, refused_url: str) -> Iterator[Flask]:
    yield from sending_app(ext, refused_url)


def _assert_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    text = caplog.text
    assert KEY_B64 not in text
    assert "Bearer" not in text
    assert "eyJ" not in text  # a JWT's base64url header


def test_refused_non_blocking(
    refused_app: Flask,
    ext: FanoutExt,
    failures: Failures,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, "flask_fanout")
    response = refused_app.test_client().post("/hint")
    assert response.status_code == 200
    assert response.text == "fine"
    error, publishes = failures.wait()[0]
    assert error.status is None
    assert "Connection refused" in error.message
    assert error.channels == ("comments-1",)
    assert publishes == [Publish("comments-1", {"n": 1})]
    with refused_app.app_context():
        assert ext.flush(10)
        assert ext.stats().failed == 1
    assert "comments-1" in caplog.text
    assert "Connection refused" in caplog.text
    _assert_no_secret(caplog)


def test_refused_blocking(
    refused_app: Flask, ext: FanoutExt, failures: Failures
) -> None:
    with refused_app.app_context(), pytest.raises(PublishError) as info:
        ext.publish("events", 1, blocking=True)
    assert info.value.status is None
    assert info.value.channels == ("events",)
    assert "Connection refused" in str(info.value)
    # The signal fires for blocking failures too.
    assert failures.events[0][0] is info.value


def test_local_realm_refused_message_says_how_to_start_it(
    ext: FanoutExt, refused_url: str
) -> None:
    port = int(refused_url.split(":")[2].split("/")[0])
    app = make_app(FANOUT_LOCAL_REALM_PORT=port, FANOUT_SUPPRESS_SEND=False)
    ext.init_app(app)
    with app.app_context(), pytest.raises(PublishError, match="flask fanout realm"):
        ext.publish("events", 1, blocking=True)


def test_500(
    ext: FanoutExt,
    endpoint: Endpoint,
    failures: Failures,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, "flask_fanout")
    endpoint.fail_status = 500
    endpoint.fail_body = "internal trouble"
    for app in sending_app(ext, endpoint.base_url):
        assert app.test_client().post("/hint").status_code == 200
        error, _ = failures.wait()[0]
        assert (error.status, error.message) == (500, "internal trouble")
        with app.app_context(), pytest.raises(PublishError) as info:
            ext.publish("a", 1, blocking=True)
        assert info.value.status == 500
        assert info.value.message == "internal trouble"
        assert str(info.value) == (
            f"publish to a via {info.value.endpoint} failed: HTTP 500: internal trouble"
        )
    assert info.value.endpoint == f"http://127.0.0.1:{endpoint.port}/realm/{REALM}"
    assert "HTTP 500" in caplog.text
    _assert_no_secret(caplog)


def test_401_with_a_wrong_key(
    ext: FanoutExt,
    endpoint: Endpoint,
    failures: Failures,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, "flask_fanout")
    wrong = base64.b64encode(b"another-key-of-32-bytes-length!!").decode()
    app = make_app(
        FANOUT_REALM_ID=REALM,
        FANOUT_REALM_KEY=wrong,
        FANOUT_PUBLISH_URL=endpoint.base_url,
        FANOUT_SUPPRESS_SEND=False,
    )
    ext.init_app(app)
    try:
        with app.app_context():
            with pytest.raises(PublishError) as info:
                ext.publish("a", 1, blocking=True)
            assert info.value.status == 401
            assert "Signature verification failed" in info.value.message
            ext.publish("b", 2)
            assert failures.wait(2)[1][0].status == 401
    finally:
        with app.app_context():
            ext.close(10)
    assert endpoint.items == []
    assert wrong not in caplog.text
    _assert_no_secret(caplog)


def test_token_echoed_by_the_endpoint_is_redacted(
    ext: FanoutExt,
    endpoint: Endpoint,
    failures: Failures,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, "flask_fanout")
    endpoint.fail_status = 502
    endpoint.fail_body = "bad gateway"
    endpoint.fail_echo_auth = True
    for app in sending_app(ext, endpoint.base_url):
        with app.app_context(), pytest.raises(PublishError) as info:
            ext.publish("a", 1, blocking=True)
        assert info.value.message == "bad gateway (token: <token>)"
        app.test_client().post("/hint")
        assert "<token>" in failures.wait(2)[1][0].message
    _assert_no_secret(caplog)


def test_raising_accepted_receiver_neither_fails_the_view_nor_stops_the_hint(
    ext: FanoutExt, endpoint: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(sender: Flask, **extra: Any) -> None:
        raise RuntimeError("accepted-receiver bug")

    for app in sending_app(ext, endpoint.base_url):
        app.config["PROPAGATE_EXCEPTIONS"] = True
        with signals.publish_accepted.connected_to(broken):
            assert app.test_client().post("/hint").text == "fine"
        assert endpoint.wait_for_items(1)[0]["channel"] == "comments-1"
    assert "accepted-receiver bug" in caplog.text


def test_redirect_is_a_failure_not_a_get(ext: FanoutExt, endpoint: Endpoint) -> None:
    endpoint.fail_status = 301
    endpoint.fail_headers = {"Location": "https://elsewhere.example/realm/x/publish/"}
    for app in sending_app(ext, endpoint.base_url):
        with (
            app.app_context(),
            pytest.raises(PublishError, match="redirected to https://"),
        ):
            ext.publish("a", 1, blocking=True)
    assert len(endpoint.requests) == 1


def test_blocking_timeout(ext: FanoutExt, endpoint: Endpoint) -> None:
    endpoint.gate.clear()
    for app in sending_app(ext, endpoint.base_url, FANOUT_TIMEOUT=0.2):
        with (
            app.app_context(),
            pytest.raises(PublishError, match="FANOUT_TIMEOUT") as info,
        ):
            ext.publish("a", 1, blocking=True)
        assert info.value.status is None
        endpoint.gate.set()


def test_queue_full_drops_counts_logs_and_signals(
    ext: FanoutExt, endpoint: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "flask_fanout")
    dropped: list[tuple[Publish, int]] = []

    def on_drop(sender: Flask, publish: Publish, **extra: int) -> None:
        dropped.append((publish, extra["dropped"]))

    endpoint.gate.clear()
    for app in sending_app(
        ext, endpoint.base_url, FANOUT_QUEUE_SIZE=5, FANOUT_BATCH_SIZE=2
    ):
        with app.app_context(), signals.publish_dropped.connected_to(on_drop, app):
            ext.publish("q", -1)
            endpoint.wait_held()  # the sender is now stuck on a held request
            for i in range(200):
                ext.publish("q", i)  # never raises, never blocks
                assert ext.stats().pending <= 5 + 2  # memory stays flat
            stats = ext.stats()
            assert stats.dropped == 195
            assert len(dropped) == 195
            assert dropped[-1] == (Publish("q", 199), 195)
            endpoint.gate.set()
            assert ext.flush(10)
        # One log line for the whole burst (rate-limited), with the count.
        lines = [r for r in caplog.records if "queue is full" in r.getMessage()]
        assert len(lines) == 1
        assert "FANOUT_QUEUE_SIZE=5" in lines[0].getMessage()
    assert [i["json-object"] for i in endpoint.items] == [-1, 0, 1, 2, 3, 4]


def test_failing_signal_receiver_does_not_kill_the_sender(
    app: Flask, ext: FanoutExt, endpoint: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(sender: Flask, **extra: Any) -> None:
        raise RuntimeError("receiver bug")

    with signals.published.connected_to(broken), app.app_context():
        ext.publish("a", 1)
        assert ext.flush(10)
        ext.publish("a", 2)
        assert ext.flush(10)
    assert len(endpoint.wait_for_items(2)) == 2
    assert "receiver bug" in caplog.text


@pytest.mark.parametrize("exception", [SystemExit, KeyboardInterrupt, GeneratorExit])
def test_a_base_exception_in_a_receiver_does_not_stop_sending_for_good(
    app: Flask, ext: FanoutExt, endpoint: Endpoint, exception: type[BaseException]
) -> None:
    # In 0.1 the thread died but stayed recorded as running: every later
    # publish stayed pending, and flush() without a timeout hung.
    raised = threading.Event()

    def fatal(sender: Flask, **extra: Any) -> None:
        if not raised.is_set():
            raised.set()
            raise exception

    with signals.published.connected_to(fatal), app.app_context():
        ext.publish("a", 1)
        assert raised.wait(10)
        assert ext.flush(10)
        ext.publish("a", 2)
        assert ext.flush()  # no timeout: it must not hang
        stats = ext.stats()
    assert [i["json-object"] for i in endpoint.wait_for_items(2)] == [1, 2]
    assert (stats.sent, stats.pending) == (2, 0)


@pytest.mark.parametrize(
    "echo",
    [
        lambda token: token,
        lambda token: "\n".join(token[i : i + 20] for i in range(0, len(token), 20)),
        lambda token: " and ".join(token.split(".")),
        lambda token: token[10:40],
        lambda token: (
            token.upper() + " eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJl"
        ),
    ],
    ids=["whole", "wrapped", "parts", "fragment", "any-jwt"],
)
def test_no_form_of_the_token_reaches_the_error(
    ext: FanoutExt, endpoint: Endpoint, echo: Any, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []
    endpoint.fail_status = 502

    def capture(sender: Flask, **extra: Any) -> None:
        pass

    for app in sending_app(ext, endpoint.base_url):
        with app.app_context():
            token = _token_of(ext)
            endpoint.fail_body = "echo: " + echo(token)
            with pytest.raises(PublishError) as info:
                ext.publish("a", 1, blocking=True)
            seen.append(info.value.message)
    message = seen[0]
    assert "echo:" in message
    for piece in [token[i : i + 8] for i in range(len(token) - 8)]:
        assert piece not in message
    assert "eyJhbGciOiJIUzI1NiJ9" not in message
    _assert_no_secret(caplog)


def _token_of(ext: FanoutExt) -> str:
    """The token the next request will carry (same claims, same second)."""
    [lane] = ext._state().sender.lanes
    headers, _ = lane.endpoint.auth()
    return headers["Authorization"].removeprefix("Bearer ")


def test_a_dead_endpoint_does_not_flood_the_log(
    ext: FanoutExt,
    refused_url: str,
    failures: Failures,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, "flask_fanout")
    for app in sending_app(ext, refused_url, FANOUT_BATCH_SIZE=1):
        with app.app_context():
            for n in range(50):
                ext.publish("c", {"n": n})
            assert ext.flush(10)
            assert ext.stats().failed == 50
    # Every failure is still signalled; the log says it once per interval.
    assert len(failures.wait(50)) == 50
    lines = [r for r in caplog.records if "failed" in r.getMessage()]
    assert 1 <= len(lines) <= 2
