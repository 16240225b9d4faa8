"""publish_after_request: sent only for successful requests, once per hint."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask import abort

from flask_fanout import FanoutExt
from flask_fanout import InvalidChannelError
from flask_fanout import Publish
from tests.helpers.endpoint import Endpoint


@pytest.fixture
def testing_app(ext: FanoutExt) -> Iterator[Flask]:
    app = Flask("deferred")
    app.testing = True  # publishes are recorded, not sent
    ext.init_app(app)

    @app.post("/ok")
    def ok() -> str:
        ext.publish_after_request("comments-1", {"changed": True})
        ext.publish_after_request("comments-1", {"changed": True})  # identical: once
        ext.publish_after_request("comments-1", {"changed": False})
        ext.publish_after_request("events", {"changed": True})
        return "ok"

    @app.post("/status/<int:code>")
    def status(code: int) -> tuple[str, int]:
        ext.publish_after_request("comments-1", 1)
        return "x", code

    @app.post("/abort")
    def aborted() -> str:
        ext.publish_after_request("comments-1", 1)
        abort(404)

    @app.post("/boom")
    def boom() -> str:
        ext.publish_after_request("comments-1", 1)
        raise RuntimeError("view failed")

    @app.post("/handled")
    def handled() -> str:
        ext.publish_after_request("comments-1", 1)
        raise KeyError("handled")

    @app.errorhandler(KeyError)
    def on_key_error(exc: KeyError) -> tuple[str, int]:
        return "handled", 409

    @app.post("/bad")
    def bad() -> str:
        ext.publish_after_request("no/slash", 1)
        return "unreachable"

    yield app


def test_sent_once_after_success(testing_app: Flask, ext: FanoutExt) -> None:
    with ext.record_publishes() as published:
        assert testing_app.test_client().post("/ok").status_code == 200
    assert published == [
        Publish("comments-1", {"changed": True}),
        Publish("comments-1", {"changed": False}),
        Publish("events", {"changed": True}),
    ]


@pytest.mark.parametrize("code", [200, 201, 204, 302])
def test_sent_below_400(testing_app: Flask, ext: FanoutExt, code: int) -> None:
    with ext.record_publishes() as published:
        testing_app.test_client().post(f"/status/{code}")
    assert published == [Publish("comments-1", 1)]


@pytest.mark.parametrize(
    "path", ["/status/400", "/status/500", "/abort", "/boom", "/handled"]
)
def test_nothing_sent_for_failed_requests(
    testing_app: Flask, ext: FanoutExt, path: str
) -> None:
    testing_app.config["PROPAGATE_EXCEPTIONS"] = False
    with ext.record_publishes() as published:
        response = testing_app.test_client().post(path)
    assert response.status_code >= 400
    assert published == []


def test_nothing_sent_when_the_exception_propagates(
    testing_app: Flask, ext: FanoutExt
) -> None:
    with (
        ext.record_publishes() as published,
        pytest.raises(RuntimeError, match="view failed"),
    ):
        testing_app.test_client().post("/boom")
    assert published == []


def test_validation_is_immediate(testing_app: Flask) -> None:
    with pytest.raises(InvalidChannelError):
        testing_app.test_client().post("/bad")


def test_outside_a_request(testing_app: Flask, ext: FanoutExt) -> None:
    with testing_app.app_context(), pytest.raises(RuntimeError, match="active request"):
        ext.publish_after_request("a", 1)


def test_hints_do_not_leak_between_requests(testing_app: Flask, ext: FanoutExt) -> None:
    client = testing_app.test_client()
    testing_app.config["PROPAGATE_EXCEPTIONS"] = False
    with ext.record_publishes() as published:
        client.post("/status/500")
        client.post("/status/200")
    assert published == [Publish("comments-1", 1)]


def test_really_sent_after_the_response(
    app: Flask, ext: FanoutExt, endpoint: Endpoint
) -> None:
    @app.post("/save")
    def save() -> str:
        ext.publish_after_request("doc-1", {"saved": True})
        # Nothing has left while the view runs.
        assert ext.stats().pending == 0 and ext.stats().sent == 0
        return "saved"

    assert app.test_client().post("/save").status_code == 200
    assert endpoint.wait_for_items(1) == [
        {"channel": "doc-1", "json-object": {"saved": True}}
    ]
