"""Private channels: the app's authorizer, with a session login, decides."""

from __future__ import annotations

import json

import requests

from tests.helpers.grip_proxies import GripStack
from tests.helpers.sse import SSEClient


def _login(stack: GripStack, name: str = "ada") -> dict[str, str]:
    """Sign in on the app itself; the session cookie, as the browser keeps it."""
    session = requests.Session()
    answer = session.post(
        f"{stack.origin.url}/login",
        data={"name": name},
        allow_redirects=False,
        timeout=5,
    )
    assert answer.status_code == 303
    return {c.name: c.value for c in session.cookies if c.value}


def _stream(
    stack: GripStack, query: str, cookies: dict[str, str] | None = None
) -> SSEClient:
    return SSEClient(
        f"{stack.proxy.url}/_fanout/events?{query}", cookies=cookies
    ).connect()


def test_a_signed_in_stream_gets_the_private_channel(stack: GripStack) -> None:
    stack.proxy.mark()
    with _stream(stack, "channel=comments-3", _login(stack)) as client:
        ready = json.loads(client.wait_for_event(1).data)
        assert ready == {"channels": ["comments-3"], "denied": []}
        stack.proxy.wait_streams("comments-3", 1)
        stack.publish("comments-3", {"secret": 1})
        hint = json.loads(client.wait_for_event(2).data)
    assert hint == {"channel": "comments-3", "data": {"secret": 1}}


def test_a_signed_out_stream_is_denied_and_never_held(stack: GripStack) -> None:
    with _stream(stack, "channel=comments-3") as client:
        ready = client.wait_for_event(1)
        # Not held: the answer ends after the ready event.
        client.wait_for_eof(5)
    assert client.status == 200
    assert ready.event == "ready"
    assert json.loads(ready.data) == {"channels": [], "denied": ["comments-3"]}


def test_one_denied_among_several_gets_nothing_of_it(stack: GripStack) -> None:
    stack.proxy.mark()
    signed_in = _stream(stack, "channel=comments-3", _login(stack, "bob"))
    with (
        signed_in,
        _stream(
            stack, "channel=comments-1&channel=comments-3&channel=comments-2"
        ) as out,
    ):
        ready = json.loads(out.wait_for_event(1).data)
        assert ready == {
            "channels": ["comments-1", "comments-2"],
            "denied": ["comments-3"],
        }
        signed_in.wait_for_event(1)
        stack.proxy.wait_streams("comments-3", 1)
        stack.proxy.wait_streams("comments-2", 1)
        stack.publish("comments-3", {"secret": 2})
        stack.publish("comments-2", {"public": 2})
        # The private hint reached the signed-in stream ...
        assert json.loads(signed_in.wait_for_event(2).data)["channel"] == "comments-3"
        # ... and the signed-out one only ever sees the public channel.
        public = json.loads(out.wait_for_event(2).data)
        assert public == {"channel": "comments-2", "data": {"public": 2}}
    assert b"secret" not in out.body


def test_a_denied_long_poll_answers_at_once(stack: GripStack) -> None:
    answer = requests.get(
        f"{stack.proxy.url}/_fanout/events?channel=comments-3&mode=poll", timeout=10
    )
    assert answer.json()["denied"] == ["comments-3"]
