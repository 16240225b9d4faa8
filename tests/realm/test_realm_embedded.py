"""The realm embedded in the app's process (what ``flask run`` uses)."""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from flask_fanout import FanoutConfig
from flask_fanout import FanoutExt
from flask_fanout.realm import _embedded
from tests.helpers.realm import BayeuxHttp
from tests.helpers.realm import free_port
from tests.helpers.realm import wait_for

APPS = Path(__file__).resolve().parents[1] / "helpers" / "apps"


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


def test_the_start_is_announced_once_with_both_urls(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    _, _, config = config_for(port)
    with caplog.at_level(logging.INFO, logger="flask_fanout.realm"):
        _embedded.ensure_embedded(config)
        _embedded.ensure_embedded(config)
    (record,) = [r for r in caplog.records if "local realm" in r.getMessage()]
    base = f"http://127.0.0.1:{port}"
    assert record.getMessage() == (
        f" * Flask-Fanout local realm: publish {base}/realm/local/publish/, "
        f"Bayeux {base}/bayeux"
    )


def test_flask_run_shows_where_the_embedded_realm_listens() -> None:
    """Under ``flask run``, with logging left as it is, the line is seen."""
    app_port, realm_port = free_port(), free_port()
    env = {
        **os.environ,
        "REALM_PORT": str(realm_port),
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(APPS), os.environ.get("PYTHONPATH")])
        ),
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "embedded_app",
            "run",
            "--port",
            str(app_port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(
        target=lambda: list(map(lines.put, server.stderr or [])), daemon=True
    )
    reader.start()
    try:
        wait_for(
            lambda: _get(f"http://127.0.0.1:{app_port}/") == 200,
            timeout=30,
            what="flask run to answer",
        )
        deadline = time.monotonic() + 10
        seen: list[str] = []
        while not any("Flask-Fanout local realm" in line for line in seen):
            assert time.monotonic() < deadline, seen
            with contextlib.suppress(queue.Empty):
                seen.append(lines.get(timeout=0.5))
        (line,) = [line for line in seen if "Flask-Fanout local realm" in line]
        assert f"http://127.0.0.1:{realm_port}/realm/local/publish/" in line
        assert f"http://127.0.0.1:{realm_port}/bayeux" in line
    finally:
        server.terminate()
        server.wait(15)
        reader.join(5)
        if server.stderr is not None:
            server.stderr.close()


def _get(url: str) -> int | None:
    try:
        return requests.get(url, timeout=2).status_code
    except requests.ConnectionError:
        return None


def test_a_public_host_with_the_dev_key_is_refused_not_embedded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The app opted in, but the realm is still asked without the opt-in:
    # it refuses on its own, whatever the caller checked.
    _, _, config = config_for(
        free_port(), FANOUT_LOCAL_REALM_HOST="0.0.0.0", FANOUT_LOCAL_REALM_PUBLIC=True
    )
    with caplog.at_level(logging.WARNING, logger="flask_fanout.realm"):
        _embedded.ensure_embedded(config)
    assert _embedded.embedded_realm() is None
    (record,) = caplog.records
    assert record.levelno == logging.ERROR
    assert "public development key" in record.getMessage()


def test_the_embedded_realm_uses_the_configured_key_as_bytes() -> None:
    key = b"e" * 32
    _, _, config = config_for(
        free_port(),
        FANOUT_REALM_ID="emb",
        FANOUT_REALM_KEY=base64.b64encode(key).decode(),
        FANOUT_PUBLISH_URL="http://127.0.0.1:1/realm/emb",
        FANOUT_BAYEUX_URL="http://127.0.0.1:1/bayeux",
    )
    _embedded.ensure_embedded(config)
    realm = _embedded.embedded_realm()
    assert realm is not None and realm.server.settings.key == key
