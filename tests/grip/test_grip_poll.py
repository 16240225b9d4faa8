"""Long-poll holds: held, answered by a publish, or by the timeout body."""

from __future__ import annotations

import json
import time

import pytest
import requests

from tests.helpers.grip_proxies import GripStack
from tests.helpers.threads import run_in_thread


def poll(stack: GripStack, *channels: str, timeout: float = 30) -> requests.Response:
    query = "&".join(f"channel={c}" for c in channels)
    return requests.get(
        f"{stack.proxy.url}/_fanout/events?{query}&mode=poll", timeout=timeout
    )


def test_long_poll_hold_and_delivery(stack: GripStack) -> None:
    stack.proxy.mark()
    answer = run_in_thread(poll, stack, "comments-1", "comments-2")
    stack.proxy.wait_polls("comments-2", 1)
    stack.publish("comments-2", {"n": 7})
    response = answer.result(15)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.json() == {"hints": [{"channel": "comments-2", "data": {"n": 7}}]}


@pytest.mark.grip_config(FANOUT_LONG_POLL_TIMEOUT=5)
def test_a_quiet_long_poll_ends_with_the_timeout_body(stack: GripStack) -> None:
    started = time.monotonic()
    response = poll(stack, "comments-1")
    waited = time.monotonic() - started
    assert response.status_code == 200
    assert json.loads(response.text) == {
        "channels": ["comments-1"],
        "denied": [],
        "hints": [],
        "retry": None,
    }
    assert 4 <= waited < 12
