"""What reaches the app: the browser's request, unchanged, plus a valid Grip-Sig."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from tests.helpers.apps.grip_origin import DEV_ISS
from tests.helpers.apps.grip_origin import DEV_KEY
from tests.helpers.grip_standin import GripEnv


@pytest.fixture
def env() -> Iterator[GripEnv]:
    with GripEnv() as env:
        yield env


def _received(env: GripEnv) -> dict[str, Any]:
    return env.app.wait_requests(1)[-1]


def _values(record: dict[str, Any], name: str) -> list[str]:
    return [v for k, v in record["headers"] if k.lower() == name.lower()]


def test_grip_sig_is_an_hs256_jwt_of_the_realm(env: GripEnv) -> None:
    stream = env.stream({"channel": "a"})
    env.wait_streams("a", 1)
    record = _received(env)
    assert record["sig_problem"] is None
    (token,) = _values(record, "Grip-Sig")
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, DEV_KEY, algorithms=["HS256"], issuer=DEV_ISS)
    assert set(claims) == {"iss", "exp"}
    assert abs(claims["exp"] - (time.time() + 3600)) < 10
    assert _values(record, "Grip-Feature") == ["status"]
    stream.close()


def test_client_grip_headers_are_stripped(env: GripEnv) -> None:
    forged = jwt.encode({"iss": DEV_ISS, "exp": int(time.time()) + 60}, b"x" * 32)
    stream = env.stream(
        {"channel": "a", "echo": "1"},
        headers=[
            ("Grip-Sig", forged),
            ("Grip-Last", "a; last-id=1"),
            ("grip-feature", "everything"),
            ("GRIP-Hold", "stream"),
        ],
    )
    stream.wait_finished()
    record = _received(env)
    assert record["sig_problem"] is None
    (token,) = _values(record, "Grip-Sig")
    assert token != forged
    assert _values(record, "Grip-Last") == []
    assert _values(record, "Grip-Hold") == []
    assert _values(record, "Grip-Feature") == ["status"]


def test_browser_headers_and_request_line_reach_the_app_unchanged(
    env: GripEnv,
) -> None:
    target = "/app/_fanout/events?channel=a%2Fb&echo=1&x=%20y&channel=c"
    headers = [
        ("Cookie", "session=abc; other=1"),
        ("Origin", "http://127.0.0.1:5000"),
        ("Last-Event-ID", "42"),
        ("User-Agent", "Mozilla/5.0 (test)"),
        ("Accept", "text/event-stream"),
        ("Cache-Control", "no-cache"),
        ("X-Many", "1"),
        ("X-Many", "2"),
        ("Accept-Encoding", "gzip, br"),
        ("Connection", "keep-alive, X-Hop"),
        ("X-Hop", "only this hop"),
        ("Keep-Alive", "timeout=5"),
    ]
    path, _, query = target.partition("?")
    stream = env.stream(query, headers=headers, path=path)
    stream.wait_finished()
    assert stream.status == 200
    record = _received(env)
    assert record["raw_uri"] == target
    for name, value in headers[:6]:
        assert _values(record, name) == [value], name
    # WSGI joins repeated headers into one environ value, in order.
    assert _values(record, "X-Many") == ["1,2"]
    assert _values(record, "Host") == [env.realm.url.removeprefix("http://")]
    for hop in ("Accept-Encoding", "X-Hop", "Keep-Alive"):
        assert _values(record, hop) == [], hop


def test_only_the_stream_endpoint_is_proxied(env: GripEnv) -> None:
    for path in ("/other", "/_fanout/eventsx", "/x_fanout/events", "/_fanout"):
        client = env.stream(path=path)
        client.wait_finished()
        assert client.status == 404, path
    assert env.app.received == []
    post = env.stream({"channel": "a"}, method="POST")
    post.wait_finished()
    assert post.status == 405
    nested = env.stream({"channel": "a"}, path="/deep/app/root/_fanout/events")
    env.wait_streams("a", 1)
    assert _received(env)["path"] == "/deep/app/root/_fanout/events"
    nested.close()


def test_a_realm_that_is_its_own_origin_refuses_the_loop() -> None:
    with GripEnv(origin=False) as env:
        env.realm.set_origin(env.realm.url)
        stream = env.stream({"channel": "a"})
        stream.wait_finished()
        assert stream.status == 508
        assert b"came through this realm" in stream.body
        assert env.grip()["loops_refused"] == 1
        assert env.grip()["requests"] == 2
