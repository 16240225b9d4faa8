"""Streams held by the proxy for the app: hold, deliver, several channels,
the prefix, the first event, keep-alive, and who may ask for a hold.

Every test runs behind a real Pushpin and behind the local realm standing in
for it (the ``proxy`` fixture), with the example app as the origin.
"""

from __future__ import annotations

import json
import time

import pytest
import requests

from tests.helpers.grip import grip_sig
from tests.helpers.grip_proxies import GripProxy
from tests.helpers.grip_proxies import GripStack
from tests.helpers.sse import SSEClient


def stream(proxy: GripProxy, *channels: str, **headers: str) -> SSEClient:
    query = "&".join(f"channel={c}" for c in channels)
    return SSEClient(
        f"{proxy.url}/_fanout/events?{query}", headers=headers or None
    ).connect()


def test_hold_and_deliver(stack: GripStack) -> None:
    stack.proxy.mark()
    with stream(stack.proxy, "comments-1") as client:
        ready = client.wait_for_event(1)
        assert client.status == 200
        assert (client.header("Content-Type") or "").startswith("text/event-stream")
        assert not any(k.lower().startswith("grip-") for k, _ in client.header_list)
        assert ready.event == "ready"
        assert json.loads(ready.data) == {"channels": ["comments-1"], "denied": []}
        stack.proxy.wait_streams("comments-1", 1)
        stack.publish("comments-1", {"page": 1})
        hint = client.wait_for_event(2)
    assert hint.event == "message"
    assert json.loads(hint.data) == {"channel": "comments-1", "data": {"page": 1}}


def test_several_channels_on_one_stream(stack: GripStack) -> None:
    stack.proxy.mark()
    with stream(stack.proxy, "comments-1", "comments-2") as client:
        client.wait_for_event(1)
        stack.proxy.wait_streams("comments-2", 1)
        stack.publish("comments-2", {"n": 2})
        stack.publish("comments-1", {"n": 1})
        events = client.wait_for_events(3)
    got = sorted(json.loads(e.data)["channel"] for e in events[1:])
    assert got == ["comments-1", "comments-2"]


def test_a_posted_comment_reaches_the_stream(stack: GripStack) -> None:
    stack.proxy.mark()
    with stream(stack.proxy, "comments-2") as client:
        client.wait_for_event(1)
        stack.proxy.wait_streams("comments-2", 1)
        answer = requests.post(
            f"{stack.origin.url}/pages/2/comments",
            json={"comment": "hello"},
            timeout=10,
        )
        assert answer.status_code == 201
        hint = json.loads(client.wait_for_event(2).data)
    assert hint == {"channel": "comments-2", "data": {"page": 2, "comment": 1}}


@pytest.mark.grip_config(FANOUT_CHANNEL_PREFIX="staging-")
def test_the_prefix_is_on_the_wire_and_not_in_the_page(stack: GripStack) -> None:
    stack.proxy.mark()
    with stream(stack.proxy, "comments-1") as client:
        client.wait_for_event(1)
        stack.proxy.wait_streams("staging-comments-1", 1)
        stack.publish("comments-1", {"n": 1})
        hint = json.loads(client.wait_for_event(2).data)
    assert hint["channel"] == "comments-1"


@pytest.mark.grip_config(FANOUT_KEEP_ALIVE=1)
def test_keep_alive_events_while_idle(stack: GripStack) -> None:
    with stream(stack.proxy, "comments-1") as client:
        client.wait_for_event(1)
        started = time.monotonic()
        keep_alive = client.wait_for_event(2, timeout=6)
        waited = time.monotonic() - started
    assert (keep_alive.event, keep_alive.data) == ("keep-alive", "{}")
    assert waited < 4


def test_a_request_straight_to_the_app_is_never_held(stack: GripStack) -> None:
    # No proxy in front: refused at once, so no WSGI worker is tied up.
    with SSEClient(f"{stack.origin.url}/_fanout/events?channel=comments-1") as client:
        client.connect()
        client.wait_for_eof(5)
    assert client.status == 403
    assert b"Grip-Sig missing" in client.body


def test_a_forged_or_expired_grip_sig_sent_to_the_app_is_refused(
    stack: GripStack,
) -> None:
    for sig, reason in (
        (grip_sig(key=b"someone-elses-key-of-32-bytes!!!"), b"wrong signature"),
        (
            grip_sig(
                key=stack.proxy.sig_key,
                iss=stack.proxy.sig_iss,
                exp=int(time.time()) - 7200,
            ),
            b"expired",
        ),
    ):
        answer = requests.get(
            f"{stack.origin.url}/_fanout/events?channel=comments-1",
            headers={"Grip-Sig": sig},
            timeout=5,
        )
        assert answer.status_code == 403
        assert "Grip-Hold" not in answer.headers
        assert reason.decode() in answer.text


def test_a_client_cannot_bring_its_own_grip_sig(stack: GripStack) -> None:
    # The proxy strips client Grip-* headers and signs itself; a forged one
    # is neither needed nor passed on, and the stream is held as usual.
    forged = grip_sig(key=b"someone-elses-key-of-32-bytes!!!")
    with stream(stack.proxy, "comments-1", **{"Grip-Sig": forged}) as client:
        ready = client.wait_for_event(1)
    assert ready.event == "ready"


def test_the_channel_cap_is_a_400_passed_through(stack: GripStack) -> None:
    with stream(stack.proxy, *[f"c{n}" for n in range(21)]) as client:
        client.wait_for_eof(5)
    assert client.status == 400
    assert b"limit is 20 (FANOUT_MAX_CHANNELS)" in client.body
