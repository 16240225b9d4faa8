"""The proxy goes down: publishes are logged and signalled, views are not
slowed, and delivery resumes when it is back."""

from __future__ import annotations

import logging
import threading
import time

import pytest
import requests
from flask import Flask

from flask_fanout import Publish
from flask_fanout import PublishError
from flask_fanout import signals
from tests.helpers.grip_proxies import GripStack
from tests.helpers.sse import SSEClient


def test_proxy_down_then_back(
    stack: GripStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, "flask_fanout")
    failed: list[tuple[PublishError, list[Publish]]] = []
    arrived = threading.Event()

    def on_failure(
        sender: Flask, error: PublishError, publishes: list[Publish]
    ) -> None:
        failed.append((error, publishes))
        arrived.set()

    stack.proxy.stop()
    with signals.publish_failed.connected_to(on_failure, stack.app):
        # The view answers at once: the hint is queued, not sent inline.
        started = time.monotonic()
        answer = requests.post(
            f"{stack.origin.url}/pages/1/comments", json={"comment": "x"}, timeout=10
        )
        elapsed = time.monotonic() - started
        assert answer.status_code == 201
        assert elapsed < 0.5
        assert arrived.wait(10)
    error, publishes = failed[0]
    assert error.status is None
    assert publishes[0].channel == "comments-1"
    assert "Fanout publish of 1 item(s) failed" in caplog.text

    stack.proxy.start()
    stack.proxy.mark()
    with SSEClient(f"{stack.proxy.url}/_fanout/events?channel=comments-1") as client:
        client.connect()
        client.wait_for_event(1)
        stack.proxy.wait_streams("comments-1", 1)
        requests.post(
            f"{stack.origin.url}/pages/1/comments", json={"comment": "y"}, timeout=10
        )
        hint = client.wait_for_event(2)
    assert hint.event == "message"
