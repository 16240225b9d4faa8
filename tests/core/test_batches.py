"""Batches bounded by bytes as well as count, and one bad item isolated."""

from __future__ import annotations

import json

import pytest
from flask import Flask

from flask_fanout import FanoutExt
from flask_fanout import InvalidPublishError
from flask_fanout import Publish
from flask_fanout import PublishError
from flask_fanout import signals
from tests.helpers.endpoint import Endpoint
from tests.helpers.endpoint import sending_app


def test_batches_stay_below_the_byte_limit(ext: FanoutExt, endpoint: Endpoint) -> None:
    # 200 hints of 12 KB: 2.4 MB. The realm refuses bodies over 1 MiB; in
    # 0.1 this made 100-item batches of 1.2 MB, and all of them were lost.
    endpoint.max_body = 1 << 20
    endpoint.gate.clear()  # let the queue fill before the first answer
    for app in sending_app(ext, endpoint.base_url, FANOUT_BATCH_BYTES=900_000):
        with app.app_context():
            for n in range(200):
                ext.publish("big", {"n": n, "pad": "x" * 12_000})
            endpoint.gate.set()
            assert ext.flush(20)
            stats = ext.stats()
    assert (stats.sent, stats.failed) == (200, 0)
    assert [r.status for r in endpoint.requests] == [200] * len(endpoint.requests)
    sizes = [len(json.dumps(r.body)) for r in endpoint.requests]
    assert max(sizes) <= 900_000
    assert [i["json-object"]["n"] for i in endpoint.items] == list(range(200))


def test_an_item_too_big_for_any_batch_is_refused_at_publish(
    ext: FanoutExt, endpoint: Endpoint
) -> None:
    for app in sending_app(ext, endpoint.base_url, FANOUT_BATCH_BYTES=4096):
        with app.app_context(), pytest.raises(InvalidPublishError) as info:
            ext.publish("big", {"pad": "x" * 5000})
    message = str(info.value)
    assert "'big'" in message
    assert "FANOUT_BATCH_BYTES (4096)" in message
    assert "bytes on the wire" in message
    assert endpoint.requests == []


def test_one_refused_item_does_not_take_its_batch_with_it(
    ext: FanoutExt, endpoint: Endpoint
) -> None:
    endpoint.refuse_channel = "poison"
    failed: list[tuple[PublishError, list[Publish]]] = []

    def on_failure(
        sender: Flask, error: PublishError, publishes: list[Publish]
    ) -> None:
        failed.append((error, publishes))

    endpoint.gate.clear()
    for app in sending_app(ext, endpoint.base_url):
        with signals.publish_failed.connected_to(on_failure, app), app.app_context():
            for n in range(12):
                ext.publish("poison" if n == 5 else "ok", {"n": n})
            endpoint.gate.set()
            assert ext.flush(10)
            stats = ext.stats()
    # 11 of 12 were lost in 0.1; now only the bad one is.
    assert (stats.sent, stats.failed) == (11, 1)
    assert sorted(i["json-object"]["n"] for i in endpoint.items) == [
        n for n in range(12) if n != 5
    ]
    [(error, publishes)] = failed
    assert error.status == 400
    assert [p.data for p in publishes] == [{"n": 5}]


def test_isolation_is_bounded(ext: FanoutExt, endpoint: Endpoint) -> None:
    # Every item refused: the sender gives up splitting after a bounded
    # number of extra requests instead of one request per item and more.
    from flask_fanout._sender import MAX_ISOLATION_REQUESTS

    endpoint.refuse_channel = "poison"
    endpoint.gate.clear()
    for app in sending_app(ext, endpoint.base_url):
        with app.app_context():
            for n in range(100):
                ext.publish("poison", {"n": n})
            endpoint.gate.set()
            assert ext.flush(10)
            stats = ext.stats()
    assert (stats.sent, stats.failed) == (0, 100)
    # At most two batches (the first publish may leave alone, before the
    # others are queued), each split at most MAX_ISOLATION_REQUESTS times.
    assert len(endpoint.requests) <= 2 * (1 + MAX_ISOLATION_REQUESTS)


def test_server_errors_fail_the_batch_whole(ext: FanoutExt, endpoint: Endpoint) -> None:
    endpoint.fail_status = 503
    endpoint.gate.clear()
    for app in sending_app(ext, endpoint.base_url):
        with app.app_context():
            for n in range(10):
                ext.publish("c", {"n": n})
            endpoint.gate.set()
            assert ext.flush(10)
            assert ext.stats().failed == 10
    # Not split: a 503 says nothing about any one item.
    assert len(endpoint.requests) <= 2
