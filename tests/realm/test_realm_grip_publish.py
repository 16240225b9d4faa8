"""GRIP publishes: ``POST /publish/`` (and the realm path), token, shapes, checks."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers.apps.grip_origin import DEV_ISS
from tests.helpers.apps.grip_origin import hint_item
from tests.helpers.apps.grip_origin import publish_token
from tests.helpers.grip_standin import GripEnv
from tests.helpers.realm import BayeuxHttp


@pytest.fixture
def env() -> Iterator[GripEnv]:
    with GripEnv() as env:
        yield env


@pytest.mark.parametrize("path", ["/publish/", "/publish", "/realm/local/publish/"])
def test_every_publish_path_delivers(env: GripEnv, path: str) -> None:
    stream = env.stream({"channel": "a"})
    env.wait_streams("a", 1)
    answer = env.publish([hint_item("a", path)], path=path)
    assert answer.status_code == 200
    assert answer.json() == {"published": 1, "delivered": 1}
    stream.wait_events(2)
    assert json.loads(stream.messages()[0])["data"] == path


def test_published_and_delivered_count_streams_and_polls(env: GripEnv) -> None:
    stream = env.stream({"channel": "c"})
    poll = env.stream({"channel": "c", "mode": "poll"})
    env.wait_streams("c", 1)
    env.wait_responses("c", 1)
    answer = env.publish([hint_item("c", 1), hint_item("c", 2), hint_item("none", 3)])
    # The first item reaches the stream and the poll; the second only the
    # stream (the poll was answered); the third nobody.
    assert answer.json() == {"published": 3, "delivered": 3}
    stream.wait_events(3)
    poll.wait_finished()
    grip = env.grip()
    assert (grip["publishes"], grip["deliveries"]) == (3, 3)


def test_wrapper_and_flat_shapes(env: GripEnv) -> None:
    stream = env.stream({"channel": "s"})
    env.wait_streams("s", 1)
    answer = env.publish(
        [
            {"channel": "s", "formats": {"http-stream": {"content": "data: 1\n\n"}}},
            {"channel": "s", "http-stream": {"content": "data: 2\n\n"}},
        ]
    )
    assert answer.json() == {"published": 2, "delivered": 2}
    stream.wait_events(3)
    assert stream.messages() == ["1", "2"]


def test_bayeux_items_still_go_to_bayeux(env: GripEnv) -> None:
    bayeux = BayeuxHttp(env.realm.bayeux_url)
    try:
        bayeux.handshake()
        bayeux.subscribe("/b")
        answer = env.publish([{"channel": "b", "json-object": {"x": 1}}])
        assert answer.json() == {"published": 1, "delivered": 1}
        assert [e["data"] for e in bayeux.events()] == [{"x": 1}]
    finally:
        bayeux.close()


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("", "Missing bearer token"),
        (publish_token(b"wrong key, 32 bytes long........", DEV_ISS), "Invalid token"),
        (publish_token(iss="someone-else"), "Invalid token"),
    ],
    ids=["missing", "wrong-key", "wrong-iss"],
)
def test_publish_needs_the_realm_token(env: GripEnv, token: str, message: str) -> None:
    stream = env.stream({"channel": "a"})
    env.wait_streams("a", 1)
    for path in ("/publish/", "/realm/local/publish/"):
        answer = env.publish([hint_item("a", 1)], token=token, path=path)
        assert answer.status_code == 401
        assert answer.json()["error"].startswith(message)
    assert env.grip()["publishes"] == 0
    assert stream.messages() == []


def _stream_item(fmt: Any, **item: Any) -> dict[str, Any]:
    return {"channel": "a", "formats": {"http-stream": fmt}, **item}


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        (_stream_item({}), "'http-stream' does not contain 'content' or 'content-bin'"),
        (_stream_item({"content": 7}), "'http-stream' 'content' must be a string"),
        (_stream_item({"content-bin": "%%"}), "'content-bin' is not valid base64"),
        (_stream_item({"action": "hint"}), "action 'hint' is not supported"),
        (_stream_item({"action": "dance"}), "unknown action 'dance'"),
        (_stream_item([]), "'http-stream' is not an object"),
        (
            {"channel": "a", "http-response": {"code": 99, "body": ""}},
            "'code' must be an integer status from 100 to 999",
        ),
        (
            {"channel": "a", "http-response": {"headers": {"X": 1}, "body": ""}},
            "header 'X' must have a string value",
        ),
        (
            {"channel": "a", "http-response": {"headers": {"X": "a\nb"}, "body": ""}},
            "contains a control character",
        ),
        ({"channel": "a", "http-response": {"code": 200}}, "does not contain 'body'"),
        (
            {"channel": "a", "http-response": {"body-patch": [], "body": ""}},
            "'body-patch' is not supported",
        ),
        (_stream_item({"content": "x"}, **{"no-seq": "yes"}), "no-seq must be true"),
        (_stream_item({"content": "x"}, id=7), "id must be a string"),
        (_stream_item({"content": "x"}, id="x" * 257), "id is longer than 256"),
        ({"channel": "a/b", "http-stream": {"content": "x"}}, "Item 1: "),
        ({"channel": "a", "ws-message": {"content": "x"}}, "no format this realm"),
    ],
)
def test_bad_items_are_refused_and_nothing_is_delivered(
    env: GripEnv, item: dict[str, Any], problem: str
) -> None:
    stream = env.stream({"channel": "a"})
    env.wait_streams("a", 1)
    answer = env.publish([hint_item("a", "first, and good"), item])
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error.startswith("Item 1"), error
    assert problem in error
    assert env.grip()["publishes"] == 0
    assert stream.messages() == []


def test_content_bin_wins_over_content(env: GripEnv) -> None:
    stream = env.stream({"channel": "a"})
    env.wait_streams("a", 1)
    binary = base64.b64encode(b"data: bin\n\n").decode()
    env.publish([_stream_item({"content": "data: text\n\n", "content-bin": binary})])
    stream.wait_events(2)
    assert stream.messages() == ["bin"]
