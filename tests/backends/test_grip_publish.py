"""Publishing on the GRIP backend: the items, Fastly's API, several proxies."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from flask_fanout import FanoutExt
from flask_fanout import Publish
from flask_fanout import PublishError
from flask_fanout import signals
from tests.helpers.fastly import FastlyApi
from tests.helpers.fastly import running_fastly_api
from tests.helpers.grip import grip_app


@pytest.fixture
def fastly() -> Iterator[FastlyApi]:
    with running_fastly_api() as api:
        yield api


@pytest.fixture
def second() -> Iterator[FastlyApi]:
    with running_fastly_api(service_id="SECOND", token="other-token") as api:
        yield api


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _start(ext: FanoutExt, urls: str | list[str], **config: Any) -> Flask:
    app = grip_app(urls, **config)
    ext.init_app(app)
    return app


def test_the_request_is_exactly_what_fastly_documents(fastly: FastlyApi) -> None:
    ext = FanoutExt()
    app = _start(ext, fastly.grip_url, FANOUT_CHANNEL_PREFIX="staging-")
    with app.app_context():
        ext.publish("comments-7", {"page": 7}, id="2", prev_id="1", blocking=True)
        ext.close(5)
    assert fastly.refusals == []
    [request] = fastly.requests
    assert request["path"] == f"/service/{fastly.service_id}/publish/"
    assert request["headers"]["Authorization"] == f"Bearer {fastly.token}"
    assert request["headers"]["Content-Type"] == "application/json"
    [item] = json.loads(request["body"])["items"]
    event = {"channel": "comments-7", "data": {"page": 7}}
    assert item == {
        "channel": "staging-comments-7",
        "id": "2",
        "prev-id": "1",
        "formats": {
            "http-stream": {"content": f"event: message\ndata: {_compact(event)}\n\n"},
            "http-response": {
                "code": 200,
                "headers": {
                    "Content-Type": "application/json",
                    "Cache-Control": "no-store",
                },
                "body": _compact({"hints": [event]}),
            },
        },
    }
    # The token never appears in the app's effective config as a default.
    assert app.config["FANOUT_GRIP_URL"] == fastly.grip_url


def test_non_blocking_publishes_are_batched(fastly: FastlyApi) -> None:
    ext = FanoutExt()
    app = _start(ext, fastly.grip_url, FANOUT_BATCH_SIZE=10)
    with app.app_context():
        for n in range(25):
            ext.publish("c", {"n": n})
        assert ext.flush(10)
        ext.close(5)
    assert [
        json.loads(i["formats"]["http-response"]["body"])["hints"][0]["data"]["n"]
        for i in fastly.items
    ] == list(range(25))
    assert 3 <= len(fastly.requests) <= 25


def test_every_publish_reaches_every_proxy(
    fastly: FastlyApi, second: FastlyApi
) -> None:
    ext = FanoutExt()
    app = _start(ext, [fastly.grip_url, second.grip_url])
    with app.app_context():
        ext.publish("c", {"n": 1})
        ext.publish("c", {"n": 2}, blocking=True)
        assert ext.flush(10)
        stats = ext.stats()
        ext.close(5)
    assert len(fastly.items) == len(second.items) == 2
    # Each publish counts once per endpoint.
    assert (stats.sent, stats.failed, stats.pending) == (4, 0, 0)


def test_a_dead_proxy_does_not_keep_hints_from_the_others(
    fastly: FastlyApi, refused_port: int
) -> None:
    dead = f"http://127.0.0.1:{refused_port}/?verify-key=x&verify-iss=pushpin"
    failures: list[tuple[PublishError, list[Publish]]] = []
    done = threading.Event()

    def on_failure(
        sender: Flask, error: PublishError, publishes: list[Publish]
    ) -> None:
        failures.append((error, publishes))
        done.set()

    ext = FanoutExt()
    app = _start(ext, [dead, fastly.grip_url])
    with signals.publish_failed.connected_to(on_failure, app), app.app_context():
        ext.publish("c", {"n": 1})
        assert done.wait(10)
        fastly.wait_for_items(1)
        with pytest.raises(PublishError) as info:
            ext.publish("c", {"n": 2}, blocking=True)
        ext.close(5)
    # The blocking publish still reached the live proxy, then raised.
    assert len(fastly.items) == 2
    assert info.value.endpoint == f"http://127.0.0.1:{refused_port}"
    assert "Connection refused" in info.value.message
    error, publishes = failures[0]
    assert error.endpoint == f"http://127.0.0.1:{refused_port}"
    assert publishes[0].data == {"n": 1}


def test_a_wrong_token_is_a_publish_error_without_the_token(fastly: FastlyApi) -> None:
    ext = FanoutExt()
    url = fastly.grip_url.replace(fastly.token, "wrong-token-value")
    app = _start(ext, url)
    with app.app_context(), pytest.raises(PublishError) as info:
        ext.publish("c", {}, blocking=True)
    assert info.value.status == 401
    assert "wrong-token-value" not in str(info.value)
