"""Publish-to-SSE latency through the local realm standing in for Pushpin.

Starts a standalone realm (``python -m flask_fanout.realm --origin ...``, its
own process, so it does not share a GIL with the clients) in front of the
test GRIP origin (``tests/helpers/apps/grip_origin.py``, werkzeug in this
process; it is only asked when a stream opens), opens ``--subscribers`` raw
SSE clients on one channel (``curl -N`` in Python: one socket and one reader
thread each), then publishes ``--publishes`` GRIP items one at a time,
each once the previous one has reached every subscriber.

For each publish: from just before the ``POST /publish/`` until the *last*
subscriber has read the event, and until the *first* has (one clock, the
machine's monotonic one). Median and nearest-rank p99.

Usage (from the repository root)::

    .venv/bin/python -m benchmarks.grip_standin_latency                  # 1 and 100
    .venv/bin/python -m benchmarks.grip_standin_latency --subscribers 500
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import requests

from benchmarks._stats import summary
from tests.helpers.apps.grip_origin import hint_item
from tests.helpers.apps.grip_origin import publish_token
from tests.helpers.grip_standin import OriginServer
from tests.helpers.realm import RealmProcess
from tests.helpers.realm import realm_argv
from tests.helpers.stream_client import StreamClient


def _wait(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.001)


def _everywhere(clients: list[StreamClient], count: int) -> Callable[[], bool]:
    return lambda: all(len(c.events) >= count for c in clients)


def measure(realm: RealmProcess, subscribers: int, publishes: int) -> None:
    channel = f"bench-{subscribers}"
    clients = [
        StreamClient(f"{realm.url}/_fanout/events?channel={channel}", timeout=30)
        for _ in range(subscribers)
    ]
    try:
        for client in clients:
            client.wait_events(1, timeout=30)
        _wait(
            lambda: (
                realm.stats()["grip"]["stream_subscribers"].get(channel) == subscribers
            ),
            f"{subscribers} streams held",
        )
        http = requests.Session()
        headers = {"Authorization": f"Bearer {publish_token()}"}
        last: list[float] = []
        first: list[float] = []
        for number in range(publishes):
            want = number + 2  # the ready event, then one per publish
            body = {"items": [hint_item(channel, {"n": number})]}
            start = time.monotonic()
            answer = http.post(
                f"{realm.url}/publish/", json=body, headers=headers, timeout=30
            )
            answer.raise_for_status()
            _wait(_everywhere(clients, want), f"publish {number} everywhere")
            arrived = [c.events[want - 1].received_at for c in clients]
            last.append((max(arrived) - start) * 1000)
            first.append((min(arrived) - start) * 1000)
        for name, series in (("first", first), ("last", last)):
            result = summary(series)
            print(
                f"subscribers={subscribers:>5}  to the {name:<5} subscriber: "
                f"median {result.median:7.2f} ms  p99 {result.p99:7.2f} ms  "
                f"({result.samples} publishes)"
            )
    finally:
        for client in clients:
            client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--subscribers", type=int, action="append", help="repeatable (default 1, 100)"
    )
    parser.add_argument("--publishes", type=int, default=200)
    args = parser.parse_args()
    origin = OriginServer()
    realm = RealmProcess(realm_argv("--port", "0", "--origin", origin.url))
    try:
        for subscribers in args.subscribers or [1, 100]:
            measure(realm, subscribers, args.publishes)
    finally:
        realm.terminate()
        origin.close()


if __name__ == "__main__":
    main()
