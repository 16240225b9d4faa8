"""Publishing to a real endpoint: wire format, JWT, batching, latency, fork."""

from __future__ import annotations

import base64
import gc
import os
import subprocess
import sys
import threading
import time
import warnings
from typing import Any

import jwt
import pytest
from flask import Flask

from flask_fanout import FanoutExt
from flask_fanout import Publish
from flask_fanout import PublishStats
from flask_fanout import signals
from tests.helpers.endpoint import KEY_B64
from tests.helpers.endpoint import REALM
from tests.helpers.endpoint import Endpoint
from tests.helpers.endpoint import make_app


def test_non_blocking_from_a_view(
    app: Flask, ext: FanoutExt, endpoint: Endpoint
) -> None:
    @app.post("/comments")
    def add() -> str:
        ext.publish("comments-1", {"added": 7})
        return "ok"

    assert app.test_client().post("/comments").status_code == 200
    with app.app_context():
        assert ext.flush(10)
        assert ext.stats().sent == 1
    items = endpoint.wait_for_items(1)
    assert items == [{"channel": "comments-1", "json-object": {"added": 7}}]
    claims = endpoint.requests[0].claims
    assert claims is not None
    assert claims["iss"] == REALM
    assert 3500 < claims["exp"] - time.time() <= 3600


def test_blocking_outside_a_request(
    app: Flask, ext: FanoutExt, endpoint: Endpoint
) -> None:
    with app.app_context():
        ext.publish("events", [1, "two", None], blocking=True)
        # Blocking means it has arrived by the time publish() returns.
        assert endpoint.items == [
            {"channel": "events", "json-object": [1, "two", None]}
        ]
        assert ext.stats().sent == 1


def test_short_realm_key_signs_without_a_warning(ext: FanoutExt) -> None:
    # Fanout chooses the key's length; PyJWT warns on every encode with a key
    # under 32 bytes, which under ``-W error`` (as here) would raise.
    short = b"sixteen byte key"
    app = make_app(
        FANOUT_REALM_ID=REALM,
        FANOUT_REALM_KEY=base64.b64encode(short).decode(),
        TESTING=True,
    )
    ext.init_app(app)
    with app.app_context():
        [endpoint] = ext._state().sender.lanes
        headers, _ = endpoint.endpoint.auth()
        token = headers["Authorization"].removeprefix("Bearer ")
    with pytest.warns(jwt.InsecureKeyLengthWarning):  # only PyJWT's check warns
        claims = jwt.decode(
            token,
            short,
            algorithms=["HS256"],
            issuer=REALM,
            options={"require": ["exp", "iss"]},
        )
    assert set(claims) == {"iss", "exp"}
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "HS256", "typ": "JWT"}


def test_id_prev_id_and_prefix(endpoint: Endpoint, ext: FanoutExt, app: Flask) -> None:
    app2 = Flask("prefixed")
    app2.config.update(app.config)
    app2.config["FANOUT_CHANNEL_PREFIX"] = "staging-"
    ext.init_app(app2)
    try:
        with app2.app_context(), ext.record_publishes() as published:
            ext.publish("doc", {"v": 2}, id="2", prev_id="1", blocking=True)
            ext.publish("doc", {"v": 3})
            assert ext.flush(10)
        items = endpoint.wait_for_items(2)
        assert items[0] == {
            "channel": "staging-doc",
            "json-object": {"v": 2},
            "id": "2",
            "prev-id": "1",
        }
        assert items[1] == {"channel": "staging-doc", "json-object": {"v": 3}}
        # Records carry the logical channel.
        assert published == [
            Publish("doc", {"v": 2}, "2", "1"),
            Publish("doc", {"v": 3}),
        ]
    finally:
        with app2.app_context():
            ext.close(10)


def test_data_is_snapshotted_at_publish_time(
    app: Flask, ext: FanoutExt, endpoint: Endpoint
) -> None:
    endpoint.gate.clear()
    data: dict[str, Any] = {"n": 1}
    with app.app_context():
        ext.publish("c", {"first": True})
        endpoint.wait_held()
        ext.publish("c", data)  # stays queued while the first is held
        data["n"] = 2
        endpoint.gate.set()
        assert ext.flush(10)
    assert endpoint.wait_for_items(2)[1]["json-object"] == {"n": 1}


def test_burst_of_1000_in_order(endpoint: Endpoint, ext: FanoutExt) -> None:
    app = Flask("burst")
    app.config.update(
        FANOUT_REALM_ID=REALM,
        FANOUT_REALM_KEY=KEY_B64,
        FANOUT_PUBLISH_URL=endpoint.base_url,
        FANOUT_SUPPRESS_SEND=False,
        FANOUT_BATCH_SIZE=50,
    )
    ext.init_app(app)
    try:
        with app.app_context():
            for i in range(1000):
                ext.publish("burst", {"i": i})
            assert ext.flush(30)
            stats = ext.stats()
        assert (stats.sent, stats.failed, stats.dropped, stats.pending) == (
            1000,
            0,
            0,
            0,
        )
        items = endpoint.wait_for_items(1000)
        assert [item["json-object"]["i"] for item in items] == list(range(1000))
        sizes = [len(r.body["items"]) for r in endpoint.requests]
        assert sum(sizes) == 1000
        assert max(sizes) <= 50
        assert len(sizes) >= 20  # batched, at most 50 per POST
    finally:
        with app.app_context():
            ext.close(10)


def test_slow_endpoint_does_not_slow_the_view(
    app: Flask, ext: FanoutExt, endpoint: Endpoint
) -> None:
    @app.post("/slow")
    def slow() -> str:
        ext.publish("slow", {"x": 1})
        return "ok"

    client = app.test_client()
    endpoint.gate.clear()  # the endpoint holds every answer until released
    client.post("/slow")
    endpoint.wait_held()
    # The endpoint is now stalled (for up to 30 s); views must not notice.
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        assert client.post("/slow").status_code == 200
        timings.append(time.perf_counter() - started)
    assert max(timings) < 0.5, timings  # generous: the stall is 30 s
    assert len(endpoint.items) == 0
    endpoint.gate.set()
    with app.app_context():
        assert ext.flush(10)
    assert len(endpoint.wait_for_items(21)) == 21


def test_flush_times_out_while_the_endpoint_stalls(
    app: Flask, ext: FanoutExt, endpoint: Endpoint
) -> None:
    endpoint.gate.clear()
    with app.app_context():
        ext.publish("a", 1)
        endpoint.wait_held()
        ext.publish("a", 2)
        assert ext.flush(0.05) is False
        assert ext.stats().pending == 2
        endpoint.gate.set()
        assert ext.flush(10) is True
        assert ext.stats().pending == 0


def test_published_signal(app: Flask, ext: FanoutExt, endpoint: Endpoint) -> None:
    received: list[tuple[Flask, list[Publish]]] = []

    def on_published(sender: Flask, publishes: list[Publish], **extra: Any) -> None:
        received.append((sender, publishes))

    with signals.published.connected_to(on_published, app), app.app_context():
        ext.publish("a", 1)
        assert ext.flush(10)
        ext.publish("b", 2, blocking=True)
    assert [(s, [p.channel for p in ps]) for s, ps in received] == [
        (app, ["a"]),
        (app, ["b"]),
    ]


def test_sender_restarts_after_close(
    app: Flask, ext: FanoutExt, endpoint: Endpoint
) -> None:
    with app.app_context():
        ext.publish("a", 1)
        assert ext.close(10)
        ext.publish("a", 2)
        assert ext.flush(10)
    assert [i["json-object"] for i in endpoint.wait_for_items(2)] == [1, 2]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_fork_safety(app: Flask, ext: FanoutExt, endpoint: Endpoint) -> None:
    with app.app_context():
        ext.publish("parent", 1)  # starts the parent's sender thread
        assert ext.flush(10)
        with warnings.catch_warnings():
            # 3.12+ warns about fork() in a multi-threaded process; the point
            # of this test is exactly that the child copes.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 1
            try:
                # The child starts afresh (the counters too), before any publish.
                fresh = ext.stats() == PublishStats(0, 0, 0, 0)
                ext.publish("child", 2)
                code = 0 if fresh and ext.flush(10) and ext.stats().sent == 1 else 1
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        ext.publish("parent", 3)
        assert ext.flush(10)
    channels = sorted(
        i["channel"] + str(i["json-object"]) for i in endpoint.wait_for_items(3)
    )
    assert channels == ["child2", "parent1", "parent3"]


def test_queued_publishes_are_flushed_at_exit(endpoint: Endpoint) -> None:
    script = f"""
from flask import Flask
from flask_fanout import FanoutExt
app = Flask("exiting")
app.config.update(
    FANOUT_REALM_ID={REALM!r},
    FANOUT_REALM_KEY={KEY_B64!r},
    FANOUT_PUBLISH_URL={endpoint.base_url!r},
)
fanout = FanoutExt(app)
with app.app_context():
    for i in range(300):
        fanout.publish("bye", i)
# no flush: the interpreter exits with publishes still queued
"""
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", script], capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert [i["json-object"] for i in endpoint.wait_for_items(300)] == list(range(300))


def test_sender_thread_ends_with_the_app(endpoint: Endpoint, ext: FanoutExt) -> None:
    app: Flask | None = Flask("short-lived")
    assert app is not None
    app.config.update(
        FANOUT_REALM_ID=REALM,
        FANOUT_REALM_KEY=KEY_B64,
        FANOUT_PUBLISH_URL=endpoint.base_url,
        FANOUT_SUPPRESS_SEND=False,
    )
    before = set(threading.enumerate())
    ext.init_app(app)
    with app.app_context():
        ext.publish("a", 1)
        assert ext.flush(10)
    (sender,) = [
        t
        for t in set(threading.enumerate()) - before
        if t.name == "flask-fanout-sender"
    ]
    del app
    gc.collect()
    sender.join(10)
    assert not sender.is_alive()
