"""The realm embedded in the app's process (what ``flask run`` uses)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask

from flask_fanout import FanoutConfig
from flask_fanout import FanoutExt
from flask_fanout.realm import _embedded
from tests.helpers.realm import BayeuxHttp
from tests.helpers.realm import free_port


@pytest.fixture(autouse=True)
def fresh_state() -> Iterator[None]:
    _embedded._reset()
    yield
    _embedded._reset()


def config_for(port: int, **extra: Any) -> tuple[Flask, FanoutExt, FanoutConfig]:
    app = Flask(__name__)
    app.config.update(
        FANOUT_LOCAL_REALM_PORT=port,
        FANOUT_SUPPRESS_SEND=False,
        FANOUT_LOCAL_REALM_EMBED=True,
        FANOUT_USE_LOCAL_REALM=True,
        **extra,
    )
    ext = FanoutExt(app)
    with app.app_context():
        return app, ext, ext.config


def test_starts_once_and_listens() -> None:
    _, _, config = config_for(free_port())
    _embedded.ensure_embedded(config)
    realm = _embedded.embedded_realm()
    assert realm is not None
    assert realm.port == config.local_realm_port
    assert requests.get(realm.url + "/stats", timeout=10).json()["clients"] == 0
    _embedded.ensure_embedded(config)
    assert _embedded.embedded_realm() is realm


def test_port_taken_warns_once_and_returns(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        _, _, config = config_for(blocker.getsockname()[1])
        with caplog.at_level(logging.WARNING, logger="flask_fanout.realm"):
            _embedded.ensure_embedded(config)
            _embedded.ensure_embedded(config)
    assert _embedded.embedded_realm() is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "already in use" in warnings[0].getMessage()
    assert "key" not in warnings[0].getMessage().lower()


def test_first_request_embeds_and_publishes_arrive() -> None:
    port = free_port()
    app, ext, _ = config_for(port)

    @app.get("/")
    def index() -> str:
        ext.publish("hello", {"from": "view"}, blocking=True)
        return "ok"

    realm_url = f"http://127.0.0.1:{port}"
    subscriber: BayeuxHttp | None = None
    with app.test_client() as client:
        # A request with no subscriber yet starts the realm...
        assert client.get("/").status_code == 200
        realm = _embedded.embedded_realm()
        assert realm is not None and realm.url == realm_url
        subscriber = BayeuxHttp(realm.bayeux_url)
        subscriber.handshake()
        subscriber.subscribe("/hello")
        # ...and the next one's publish reaches the subscriber.
        assert client.get("/").status_code == 200
    assert [e["data"] for e in subscriber.events()] == [{"from": "view"}]
    subscriber.close()
    with app.app_context():
        ext.close(5)
