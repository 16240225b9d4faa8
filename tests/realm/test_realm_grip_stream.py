"""The GRIP stand-in holds SSE streams as Pushpin does (``Grip-Hold: stream``)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import pytest

from tests.helpers.apps.grip_origin import hint_item
from tests.helpers.grip_standin import GripEnv
from tests.helpers.grip_standin import limits
from tests.helpers.sse import SSEEvent
from tests.helpers.stream_client import StreamClient


@pytest.fixture
def env() -> Iterator[GripEnv]:
    with GripEnv() as env:
        yield env


def _hint(data: str) -> object:
    return json.loads(data)["data"]


def _keep_alives(client: StreamClient) -> list[SSEEvent]:
    return [e for e in client.events if e.event == "keep-alive"]


def test_hold_and_deliver(env: GripEnv) -> None:
    stream = env.stream({"channel": "comments-7"})
    assert stream.wait_status() == 200
    (ready,) = stream.wait_events(1)
    assert (ready.event, ready.retry) == ("ready", 2000)
    assert json.loads(ready.data) == {"channels": ["comments-7"], "denied": []}
    assert (stream.header("Content-Type") or "").startswith("text/event-stream")
    assert stream.header("Transfer-Encoding") == "chunked"
    assert stream.header("Cache-Control") == "no-store"
    assert not [k for k, _ in stream.headers if k.lower().startswith("grip-")]
    env.wait_streams("comments-7", 1)

    answer = env.publish([hint_item("comments-7", {"page": 7})])
    assert answer.json() == {"published": 1, "delivered": 1}
    stream.wait_events(2)
    assert json.loads(stream.messages()[0]) == {
        "channel": "comments-7",
        "data": {"page": 7},
    }
    assert env.grip()["deliveries"] == 1


def test_several_channels_on_one_stream(env: GripEnv) -> None:
    stream = env.stream([("channel", "a"), ("channel", "b"), ("channel", "c")])
    env.wait_streams("c", 1)
    env.publish([hint_item("b", 1), hint_item("a", 2), hint_item("x", 3)])
    env.publish([hint_item("c", 4)])
    stream.wait_events(4)
    assert [_hint(m) for m in stream.messages()] == [1, 2, 4]
    grip = env.grip()
    assert grip["stream_subscribers"] == {"a": 1, "b": 1, "c": 1}
    assert grip["streams_held"] == 1


def test_each_stream_gets_only_its_channels(env: GripEnv) -> None:
    one = env.stream({"channel": "one"})
    two = env.stream([("channel", "two"), ("channel", "both")])
    three = env.stream([("channel", "one"), ("channel", "both")])
    env.wait_streams("both", 2)
    env.wait_streams("one", 2)
    answer = env.publish([hint_item("one", 1), hint_item("both", 2)])
    assert answer.json()["delivered"] == 4
    three.wait_events(3)
    two.wait_events(2)
    one.wait_events(2)
    assert [_hint(m) for m in one.messages()] == [1]
    assert [_hint(m) for m in two.messages()] == [2]
    assert [_hint(m) for m in three.messages()] == [1, 2]


def test_denied_channels_are_not_held(env: GripEnv) -> None:
    stream = env.stream([("channel", "ok"), ("channel", "secret"), ("deny", "secret")])
    (ready,) = stream.wait_events(1)
    assert json.loads(ready.data)["denied"] == ["secret"]
    env.wait_streams("ok", 1)
    assert "secret" not in env.grip()["stream_subscribers"]
    env.publish([hint_item("secret", 1), hint_item("ok", 2)])
    stream.wait_events(2)
    assert [_hint(m) for m in stream.messages()] == [2]


def test_an_answer_without_hold_ends_after_its_body(env: GripEnv) -> None:
    """Every channel denied: the app sends ``ready`` and holds nothing."""
    stream = env.stream([("channel", "x"), ("deny", "x")])
    stream.wait_finished()
    assert stream.ended_cleanly
    assert json.loads(stream.events[0].data) == {"channels": [], "denied": ["x"]}
    assert env.grip()["streams_opened"] == 0
    assert env.grip()["passed_through"] == 1


def test_keep_alive_event_after_each_idle_period(env: GripEnv) -> None:
    """``timeout=2``: an empty ``keep-alive`` event 1-2 s after the last output
    (Pushpin jitters up to 1 s early), the cstring unescaped."""
    stream = env.stream({"channel": "quiet", "ka": "2"})
    stream.wait_events(1)
    opened = stream.events[0].received_at
    stream.wait_for(lambda c: len(_keep_alives(c)) >= 2, 10, "two keep-alives")
    first, second = (e.received_at for e in _keep_alives(stream)[:2])
    assert 0.9 <= first - opened <= 2.6
    assert 0.9 <= second - first <= 2.6
    assert _keep_alives(stream)[0].data == "{}"
    assert bytes(stream.body).count(b"event: keep-alive\ndata: {}\n\n") >= 2
    assert env.grip()["keep_alives"] >= 2


def test_keep_alive_is_postponed_by_deliveries(env: GripEnv) -> None:
    stream = env.stream({"channel": "busy", "ka": "2"})
    env.wait_streams("busy", 1)
    stream.wait_events(1)
    for number in range(6):
        env.publish([hint_item("busy", number)])
        stream.wait_events(number + 2)
        # Idle mode: the timer restarts with every delivery.
        stream.wait_for(
            lambda c: c.events[-1].received_at + 0.4 < time.monotonic(),
            5,
            "0.4 s to pass",
        )
    assert [_hint(m) for m in stream.messages()] == list(range(6))
    for keep_alive in _keep_alives(stream):
        gaps = [
            keep_alive.received_at - e.received_at
            for e in stream.events
            if e.received_at < keep_alive.received_at
        ]
        assert min(gaps) >= 0.9


def test_keep_alive_interval_mode_ignores_deliveries(env: GripEnv) -> None:
    stream = env.stream({"channel": "tick", "ka": "1", "kamode": "interval"})
    env.wait_streams("tick", 1)
    stream.wait_for(lambda c: len(_keep_alives(c)) >= 3, 10, "three keep-alives")


@pytest.mark.parametrize(
    ("header", "sent"),
    [
        ("ping; timeout=1", b"ping"),
        (":\\r\\n\\x41\\\\; format=cstring; timeout=1", b":\r\nA\\"),
        ("ADoK; format=base64; timeout=1", b"\0:\n"),
    ],
    ids=["raw", "cstring", "base64"],
)
def test_keep_alive_formats(env: GripEnv, header: str, sent: bytes) -> None:
    stream = env.stream({"channel": "fmt", "keepalive": header})
    stream.wait_events(1)
    stream.wait_for(lambda c: bytes(c.body).endswith(sent), 5, f"{sent!r} written")


def test_close_action_ends_the_stream_cleanly(env: GripEnv) -> None:
    stream = env.stream([("channel", "a"), ("channel", "b")])
    other = env.stream({"channel": "a"})
    env.wait_streams("a", 2)
    close = {"channel": "b", "formats": {"http-stream": {"action": "close"}}}
    assert env.publish([hint_item("b", 1), close]).json()["delivered"] == 2
    stream.wait_finished()
    assert stream.ended_cleanly
    assert [_hint(m) for m in stream.messages()] == [1]
    env.wait_grip(lambda g: g["streams_held"] == 1, "one stream left")
    assert env.grip()["streams_closed_by_publish"] == 1
    assert not other.finished.is_set()


def test_content_bin_and_flat_items_are_written_as_is(env: GripEnv) -> None:
    stream = env.stream({"channel": "raw"})
    env.wait_streams("raw", 1)
    payload = "data: é\r\n\r\n".encode()
    env.publish(
        [
            {
                "channel": "raw",
                "formats": {
                    "http-stream": {"content-bin": base64.b64encode(payload).decode()}
                },
            },
            {"channel": "raw", "http-stream": {"content": "data: flat\n\n"}},
            {"channel": "raw", "http-stream": {"content": ""}},
        ]
    )
    stream.wait_events(3)
    assert stream.messages() == ["é", "flat"]
    assert bytes(stream.body).endswith(payload + b"data: flat\n\n")


def test_prev_id_without_next_link_is_not_held(env: GripEnv) -> None:
    """Pushpin ends such a stream after its first content; so does the stand-in."""
    stream = env.stream({"channel": "r", "prev": "7"})
    stream.wait_finished()
    assert stream.ended_cleanly
    assert stream.events[0].event == "ready"
    assert env.grip()["streams_opened"] == 0
    assert env.grip()["instruct_errors"] == 1


def test_grip_status_replaces_the_status_line(env: GripEnv) -> None:
    stream = env.stream({"channel": "s", "gripstatus": "299 Fine Thanks"})
    assert stream.wait_status() == 299
    assert stream.reason == "Fine Thanks"
    env.wait_streams("s", 1)


def test_http_10_client_gets_an_unchunked_stream(env: GripEnv) -> None:
    stream = env.stream({"channel": "old"}, http10=True)
    stream.wait_events(1)
    assert stream.header("Transfer-Encoding") is None
    env.wait_streams("old", 1)
    env.publish([hint_item("old", "x")])
    stream.wait_events(2)
    env.publish([{"channel": "old", "http-stream": {"action": "close"}}])
    stream.wait_finished()
    assert stream.messages() == ['{"channel":"old","data":"x"}']


def test_channels_past_the_cap_are_not_subscribed() -> None:
    """Pushpin's ``connection_subscription_max``: the first N are subscribed."""
    with GripEnv(limits=limits(max_grip_channels=2)) as env:
        stream = env.stream([("channel", c) for c in ("a", "b", "c")])
        env.wait_streams("b", 1)
        assert "c" not in env.grip()["stream_subscribers"]
        env.publish([hint_item("c", 0), hint_item("b", 1)])
        stream.wait_events(2)
        assert [_hint(m) for m in stream.messages()] == [1]


def test_a_hung_up_client_is_released(env: GripEnv) -> None:
    stream = env.stream({"channel": "bye"})
    env.wait_streams("bye", 1)
    stream.close()
    env.wait_grip(lambda g: g["streams_held"] == 0, "the stream to be released")
    assert env.publish([hint_item("bye", 1)]).json()["delivered"] == 0
