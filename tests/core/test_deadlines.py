"""FANOUT_TIMEOUT bounds a whole request; answers are read only so far."""

from __future__ import annotations

import time

import psutil
import pytest

from flask_fanout import FanoutExt
from flask_fanout import PublishError
from tests.helpers.endpoint import Endpoint
from tests.helpers.endpoint import sending_app


@pytest.mark.parametrize(
    ("phase", "words"),
    [("headers", "waiting for the answer's headers"), ("body", "reading the answer")],
)
def test_a_dripping_endpoint_cannot_hold_a_blocking_publish(
    ext: FanoutExt, endpoint: Endpoint, phase: str, words: str
) -> None:
    # One byte every 0.4 s: each read is quick, the whole answer is not.
    # In 0.1, with FANOUT_TIMEOUT=3 and 1.5 s per byte, this took 56 s and
    # ended in "cannot reach ...: ChunkedEncodingError".
    endpoint.drip = 0.4
    endpoint.drip_phase = phase
    for app in sending_app(ext, endpoint.base_url, FANOUT_TIMEOUT=1.5):
        with app.app_context():
            started = time.monotonic()
            with pytest.raises(PublishError) as info:
                ext.publish("c", {}, blocking=True)
            elapsed = time.monotonic() - started
    assert elapsed < 1.5 + 0.5
    assert info.value.status is None
    assert "within 1.5 s (FANOUT_TIMEOUT)" in info.value.message
    assert words in info.value.message


def test_a_dripping_endpoint_cannot_stall_the_sender(
    ext: FanoutExt, endpoint: Endpoint
) -> None:
    # In 0.1 flush(15) returned False with 50 pending.
    endpoint.drip = 0.4
    for app in sending_app(
        ext, endpoint.base_url, FANOUT_TIMEOUT=1, FANOUT_BATCH_SIZE=10
    ):
        with app.app_context():
            for n in range(50):
                ext.publish("c", {"n": n})
            started = time.monotonic()
            assert ext.flush(15)
            elapsed = time.monotonic() - started
            stats = ext.stats()
    assert (stats.failed, stats.pending) == (50, 0)
    # Five batches of ten, each given up after one second.
    assert elapsed < 5 * 1 + 2


def test_a_huge_error_body_is_not_read_into_memory(
    ext: FanoutExt, endpoint: Endpoint
) -> None:
    # A 500 with a 100 MiB body drove the app's RSS to 748 MiB in 0.1.
    endpoint.fail_status = 500
    endpoint.huge_body = 100 << 20
    process = psutil.Process()
    for app in sending_app(ext, endpoint.base_url, FANOUT_TIMEOUT=10):
        with app.app_context():
            before = process.memory_info().rss
            with pytest.raises(PublishError) as info:
                ext.publish("c", {}, blocking=True)
            grown = process.memory_info().rss - before
    assert info.value.status == 500
    assert len(info.value.message) <= 300
    assert grown < 20 << 20
