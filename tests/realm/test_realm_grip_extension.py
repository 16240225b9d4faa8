"""The real extension on the GRIP backend, end to end through the stand-in.

No ``FANOUT_GRIP_URL``: the development defaults apply, so the app publishes
to the realm with the development JWT and checks the realm's ``Grip-Sig``
with the development key, exactly the code that runs behind Pushpin.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer
from werkzeug.serving import make_server

from flask_fanout import FanoutExt
from flask_fanout.realm import LocalRealm
from tests.helpers.grip_standin import limits
from tests.helpers.realm import wait_for
from tests.helpers.stream_client import StreamClient


@dataclass
class Running:
    app: Flask
    ext: FanoutExt
    realm: LocalRealm
    origin: str

    def stream(self, query: str) -> StreamClient:
        return StreamClient(f"{self.realm.url}/_fanout/events?{query}")

    def wait_held(self, key: str, channel: str, count: int = 1) -> None:
        wait_for(
            lambda: self.realm.stats()["grip"][key].get(channel) == count,
            10,
            f"{count} held on {channel!r}",
        )


@pytest.fixture
def running() -> Iterator[Running]:
    realm = LocalRealm(port=0, limits=limits()).start()
    app = Flask("grip_e2e")
    app.config.update(
        FANOUT_BACKEND="grip",
        FANOUT_USE_LOCAL_REALM=True,
        FANOUT_LOCAL_REALM_PORT=realm.port,
        FANOUT_LOCAL_REALM_EMBED=False,
        FANOUT_SUPPRESS_SEND=False,
        FANOUT_KEEP_ALIVE=1,
        SECRET_KEY="test-only",
    )
    ext = FanoutExt(app)

    @ext.authorize_channel
    def can_read(channel: str) -> bool:
        return not channel.startswith("private-")

    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    origin = f"http://127.0.0.1:{server.server_port}"
    realm.set_origin(origin)
    try:
        yield Running(app, ext, realm, origin)
    finally:
        with app.app_context():
            ext.close(5)
        server.shutdown()
        server.server_close()
        thread.join(5)
        realm.stop()


def test_a_publish_reaches_a_raw_sse_client(running: Running) -> None:
    with running.stream("channel=x&channel=private-y") as stream:
        assert stream.wait_status() == 200
        (ready,) = stream.wait_events(1)
        assert ready.event == "ready"
        assert json.loads(ready.data) == {"channels": ["x"], "denied": ["private-y"]}
        running.wait_held("stream_subscribers", "x")
        with running.app.app_context():
            running.ext.publish("x", {"comment": 7}, blocking=True)
        message = stream.wait_for(
            lambda c: [e for e in c.events if e.event == "message"], what="a message"
        )[0]
        assert json.loads(message.data) == {"channel": "x", "data": {"comment": 7}}
        # FANOUT_KEEP_ALIVE=1: the extension's keep-alive event, written by
        # the realm after a second of silence.
        keep_alive = stream.wait_for(
            lambda c: [e for e in c.events if e.event == "keep-alive"],
            what="a keep-alive event",
        )[0]
        assert keep_alive.data == "{}"
    grip = running.realm.stats()["grip"]
    assert grip["origin"] == running.origin
    assert grip["deliveries"] >= 1


def test_a_publish_answers_a_long_poll(running: Running) -> None:
    with running.stream("channel=x&mode=poll") as poll:
        running.wait_held("response_subscribers", "x")
        with running.app.app_context():
            running.ext.publish("x", [1, 2], blocking=True)
        poll.wait_finished()
        assert poll.status == 200
        assert json.loads(poll.body) == {"hints": [{"channel": "x", "data": [1, 2]}]}
        assert poll.header("Content-Type") == "application/json"


def test_the_app_refuses_a_request_that_skipped_the_realm(running: Running) -> None:
    with StreamClient(f"{running.origin}/_fanout/events?channel=x") as direct:
        direct.wait_finished()
        assert direct.status == 403
        assert b"Grip-Sig missing" in direct.body
