"""The GRIP stand-in holds long-polls as Pushpin does (``Grip-Hold: response``)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.helpers.apps.grip_origin import hint_item
from tests.helpers.grip_standin import GripEnv


@pytest.fixture
def env() -> Iterator[GripEnv]:
    with GripEnv() as env:
        yield env


def test_hold_and_deliver(env: GripEnv) -> None:
    poll = env.stream({"channel": ["a", "b"], "mode": "poll"})
    env.wait_responses("b", 1)
    assert poll.status is None  # nothing is sent while held
    answer = env.publish([hint_item("b", {"page": 3})])
    assert answer.json() == {"published": 1, "delivered": 1}
    poll.wait_finished()
    assert poll.status == 200
    assert poll.ended_cleanly
    assert json.loads(poll.body) == {"hints": [{"channel": "b", "data": {"page": 3}}]}
    assert poll.header("Content-Type") == "application/json"
    assert poll.header("Content-Length") == str(len(poll.body))
    assert not [k for k, _ in poll.headers if k.lower().startswith("grip-")]
    grip = env.wait_grip(lambda g: g["responses_held"] == 0, "the poll released")
    assert grip["response_subscribers"] == {}


def test_one_publish_answers_every_poll_on_the_channel(env: GripEnv) -> None:
    polls = [env.stream({"channel": "c", "mode": "poll"}) for _ in range(3)]
    other = env.stream({"channel": "d", "mode": "poll"})
    env.wait_responses("c", 3)
    env.wait_responses("d", 1)
    assert env.publish([hint_item("c", 1)]).json()["delivered"] == 3
    for poll in polls:
        poll.wait_finished()
        assert json.loads(poll.body)["hints"][0]["data"] == 1
    assert env.grip()["response_subscribers"] == {"d": 1}
    assert not other.finished.is_set()


def test_a_stream_item_does_not_answer_a_poll(env: GripEnv) -> None:
    poll = env.stream({"channel": "e", "mode": "poll"})
    env.wait_responses("e", 1)
    stream_only = {"channel": "e", "formats": {"http-stream": {"content": "x"}}}
    assert env.publish([stream_only]).json()["delivered"] == 0
    env.publish([hint_item("e", 2)])
    poll.wait_finished()
    assert json.loads(poll.body)["hints"][0]["data"] == 2


def test_timeout_sends_the_apps_own_answer_after_at_least_5_s(env: GripEnv) -> None:
    """``Grip-Timeout: 1`` is raised to Pushpin's minimum of 5 s."""
    page = "http://127.0.0.1:5000"
    poll = env.stream(
        {"channel": "slow", "mode": "poll", "timeout": "1"},
        headers={"Origin": page},
        timeout=20,
    )
    env.wait_responses("slow", 1)
    poll.wait_finished(timeout=15)
    waited = time.monotonic() - poll.sent_at
    assert 4.9 <= waited <= 7.0, waited
    assert poll.status == 200
    assert json.loads(poll.body) == {
        "channels": ["slow"],
        "denied": [],
        "hints": [],
        "retry": None,
    }
    assert poll.header("Cache-Control") == "no-store"
    assert poll.header("Access-Control-Allow-Origin") == page  # same host
    assert env.grip()["response_timeouts"] == 1


def test_published_headers_replace_the_held_ones_by_name(env: GripEnv) -> None:
    """Pushpin answers with the held answer's headers, each one the publish
    names replaced (every value of it), and the publish's own added."""
    poll = env.stream({"channel": "h", "mode": "poll"})
    env.wait_responses("h", 1)
    env.publish(
        [
            {
                "channel": "h",
                "formats": {
                    "http-response": {
                        "code": 201,
                        "headers": [
                            ["content-type", "text/plain"],
                            ["X-Extra", "1"],
                            ["X-Extra", "2"],
                            ["Grip-Hold", "stream"],
                        ],
                        "body": "made",
                    }
                },
            }
        ]
    )
    poll.wait_finished()
    assert (poll.status, poll.reason, bytes(poll.body)) == (201, "Created", b"made")
    assert poll.header_values("Content-Type") == ["text/plain"]
    assert poll.header("Cache-Control") == "no-store"  # inherited
    assert poll.header("X-Origin-Pid") is not None  # inherited
    assert poll.header_values("X-Extra") == ["1", "2"]
    assert poll.header("Grip-Hold") is None


def test_body_bin_and_reason(env: GripEnv) -> None:
    poll = env.stream({"channel": "bin", "mode": "poll"})
    env.wait_responses("bin", 1)
    item = {
        "channel": "bin",
        "http-response": {"code": 409, "reason": "Try Later", "body-bin": "AAEC/w=="},
    }
    env.publish([item])
    poll.wait_finished()
    assert (poll.status, poll.reason, bytes(poll.body)) == (
        409,
        "Try Later",
        b"\0\1\2\xff",
    )


def test_a_hung_up_poll_is_released(env: GripEnv) -> None:
    poll = env.stream({"channel": "gone", "mode": "poll"})
    env.wait_responses("gone", 1)
    poll.close()
    env.wait_grip(lambda g: g["responses_held"] == 0, "the poll released")
    assert env.publish([hint_item("gone", 1)]).json()["delivered"] == 0
