"""CORS on the stream paths: pages on the realm's host (any port) read them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.helpers.apps.grip_origin import hint_item
from tests.helpers.grip_standin import GripEnv
from tests.helpers.stream_client import StreamClient

PAGE = "http://127.0.0.1:5000"


@pytest.fixture
def env() -> Iterator[GripEnv]:
    with GripEnv(allowed_origins=("https://App.Example:8443",)) as env:
        yield env


def _granted(client: StreamClient, origin: str) -> None:
    assert client.header_values("Access-Control-Allow-Origin") == [origin]
    assert client.header("Access-Control-Allow-Credentials") == "true"
    assert "Origin" in client.header_values("Vary")


def _refused(client: StreamClient) -> None:
    assert client.header("Access-Control-Allow-Origin") is None
    assert client.header("Access-Control-Allow-Credentials") is None


def test_same_host_other_port_is_granted_on_a_held_stream(env: GripEnv) -> None:
    stream = env.stream({"channel": "a"}, headers={"Origin": PAGE})
    env.wait_streams("a", 1)
    _granted(stream, PAGE)
    env.publish([hint_item("a", 1)])
    stream.wait_events(2)


def test_granted_on_a_published_long_poll(env: GripEnv) -> None:
    """(The timeout answer's CORS is checked with the timeout, in the poll tests.)"""
    published = env.stream({"channel": "p", "mode": "poll"}, headers={"Origin": PAGE})
    env.wait_responses("p", 1)
    env.publish([hint_item("p", 1)])
    published.wait_finished()
    _granted(published, PAGE)


def test_granted_on_answers_passed_through(env: GripEnv) -> None:
    denied = env.stream({"status": "403", "text": "no"}, headers={"Origin": PAGE})
    denied.wait_finished()
    assert denied.status == 403
    _granted(denied, PAGE)


def test_a_listed_origin_is_granted(env: GripEnv) -> None:
    origin = "https://app.example:8443"
    stream = env.stream({"channel": "a"}, headers={"Origin": origin})
    env.wait_streams("a", 1)
    _granted(stream, origin)


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "http://127.0.0.2:5000",
        "null",
        "file://127.0.0.1",
        "https://app.example:9999",
    ],
)
def test_other_origins_get_no_cors(env: GripEnv, origin: str) -> None:
    stream = env.stream({"channel": "a"}, headers={"Origin": origin})
    env.wait_streams("a", 1)
    _refused(stream)
    stream.close()
    env.wait_grip(lambda g: g["streams_held"] == 0, "the stream released")


def test_no_origin_no_cors(env: GripEnv) -> None:
    stream = env.stream({"channel": "a"})
    env.wait_streams("a", 1)
    _refused(stream)


def test_preflight_is_answered_by_the_realm(env: GripEnv) -> None:
    answer = requests.options(
        env.url(path="/app/_fanout/events"),
        headers={
            "Origin": PAGE,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "last-event-id, x-requested-with",
        },
        timeout=10,
    )
    assert answer.status_code == 204
    assert answer.headers["Access-Control-Allow-Origin"] == PAGE
    assert answer.headers["Access-Control-Allow-Credentials"] == "true"
    assert answer.headers["Access-Control-Allow-Methods"] == "GET, OPTIONS"
    assert (
        answer.headers["Access-Control-Allow-Headers"]
        == "last-event-id, x-requested-with"
    )
    assert env.app.received == []  # the app is not asked
    other = requests.options(
        env.url(),
        headers={
            "Origin": "http://evil.example",
            "Access-Control-Request-Method": "GET",
        },
        timeout=10,
    )
    assert other.status_code == 204
    assert "Access-Control-Allow-Origin" not in other.headers
    assert env.grip()["preflights"] == 2


def test_stats_and_publish_get_no_cors(env: GripEnv) -> None:
    stats = requests.get(env.realm.url + "/stats", headers={"Origin": PAGE}, timeout=10)
    assert "Access-Control-Allow-Origin" not in stats.headers
