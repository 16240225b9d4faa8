"""Answers without ``Grip-Hold`` reach the browser as the app gave them."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest

from tests.helpers.grip_standin import GripEnv


@pytest.fixture
def env() -> Iterator[GripEnv]:
    with GripEnv() as env:
        yield env


def test_a_403_passes_through_with_its_body(env: GripEnv) -> None:
    text = "Grip-Sig missing. Ask through the proxy."
    answer = env.stream({"status": "403", "text": text})
    answer.wait_finished()
    assert (answer.status, answer.reason) == (403, "FORBIDDEN")
    assert bytes(answer.body) == text.encode()
    assert answer.ended_cleanly
    assert answer.header("Content-Type") == "text/plain; charset=utf-8"
    assert answer.header("Content-Length") == str(len(text))
    assert answer.header("X-From-App") == "yes"
    # Grip-* headers are instructions to the proxy, never shown to browsers.
    assert not [k for k, _ in answer.headers if k.lower().startswith("grip-")]
    grip = env.grip()
    assert (grip["passed_through"], grip["streams_opened"]) == (1, 0)


def test_a_realm_with_another_key_is_refused_by_the_app() -> None:
    """The app's own Grip-Sig check answers; the realm holds nothing."""
    other = base64.b64encode(b"another key, 32 bytes long......").decode()
    with GripEnv(key=other) as env:
        stream = env.stream({"channel": "a"})
        stream.wait_finished()
        assert stream.status == 403
        assert bytes(stream.body) == b"Grip-Sig invalid signature\n"
        assert env.grip()["streams_opened"] == 0


def test_the_app_answer_is_not_decompressed_or_rewritten(env: GripEnv) -> None:
    stream = env.stream({"channel": "a", "echo": "1"})
    stream.wait_finished()
    body = json.loads(stream.body)
    assert body["path"] == "/_fanout/events"
    assert stream.header_values("Set-Cookie") == ["a=1; Path=/", "b=2; Path=/"]
