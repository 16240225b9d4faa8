"""Publish-to-SSE latency through a real Pushpin and through the local realm
standing in for it, measured in the same run with the same raw clients.

Both proxies sit in front of the test GRIP origin
(``tests/helpers/apps/grip_origin.py``, werkzeug in this process; it is only
asked when a stream opens). Pushpin is Debian's, started by the test harness
with a private config and run directory on free ports and without Debian's
delivery throttle; the realm is ``python -m flask_fanout.realm --origin``.
Each runs in processes of its own, so neither shares a GIL with the clients.

For each proxy and each ``--subscribers`` count: that many raw SSE clients
(``curl -N`` in Python: one socket and one reader thread each) on one
channel, then ``--publishes`` GRIP items POSTed to the proxy's ``/publish/``
one at a time, each once the previous one reached every subscriber. Timed
from just before the POST until the *last* subscriber has read the event,
and until the *first* has (one monotonic clock). Median and nearest-rank
p99, and the ratio realm / Pushpin.

Usage (from the repository root)::

    .venv/bin/python -m benchmarks.grip_latency                  # 1 and 100
    .venv/bin/python -m benchmarks.grip_latency --subscribers 500
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

from benchmarks._stats import Summary
from benchmarks._stats import summary
from tests.helpers.apps.grip_origin import DEV_ISS
from tests.helpers.apps.grip_origin import DEV_KEY
from tests.helpers.apps.grip_origin import hint_item
from tests.helpers.apps.grip_origin import publish_token
from tests.helpers.grip_standin import OriginServer
from tests.helpers.pushpin import Pushpin
from tests.helpers.realm import RealmProcess
from tests.helpers.realm import realm_argv
from tests.helpers.stream_client import StreamClient


@dataclass(frozen=True)
class _Target:
    name: str
    #: Where clients open ``/_fanout/events`` and where items are POSTed.
    url: str
    publish_url: str


def _wait(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.0005)


def _has(client: StreamClient, number: int) -> bool:
    """``client``'s last event is the hint numbered ``number``."""
    events = client.events
    if len(events) < 2:  # the ready event comes first
        return False
    data = json.loads(events[-1].data).get("data")
    return isinstance(data, dict) and data.get("n") == number


def _everywhere(clients: list[StreamClient], number: int) -> Callable[[], bool]:
    return lambda: all(_has(c, number) for c in clients)


def measure(
    target: _Target, subscribers: int, publishes: int
) -> tuple[Summary, Summary]:
    """(to the first, to the last subscriber) over ``publishes`` publishes."""
    channel = f"bench-{subscribers}"
    clients = [
        StreamClient(f"{target.url}/_fanout/events?channel={channel}", timeout=30)
        for _ in range(subscribers)
    ]
    http = requests.Session()
    headers = {"Authorization": f"Bearer {publish_token()}"}

    def publish(number: int) -> float:
        body = {"items": [hint_item(channel, {"n": number})]}
        start = time.monotonic()
        answer = http.post(target.publish_url, json=body, headers=headers, timeout=30)
        answer.raise_for_status()
        return start

    try:
        for client in clients:
            client.wait_events(1, timeout=30)
        # A proxy subscribes a stream to its channel a little after the
        # stream's first event: warm up until every client gets hints.
        number = -1
        deadline = time.monotonic() + 30
        while True:
            publish(number)
            try:
                _wait(_everywhere(clients, number), "warm-up", 0.5)
                break
            except SystemExit:
                if time.monotonic() > deadline:
                    raise
            number -= 1
        last: list[float] = []
        first: list[float] = []
        for number in range(publishes):
            start = publish(number)
            _wait(_everywhere(clients, number), f"publish {number}")
            arrived = [c.events[-1].received_at for c in clients]
            last.append((max(arrived) - start) * 1000)
            first.append((min(arrived) - start) * 1000)
        return summary(first), summary(last)
    finally:
        for client in clients:
            client.close()


def _row(target: str, subscribers: int, which: str, result: Summary) -> str:
    return (
        f"{target:<8} subscribers={subscribers:>5}  to the {which:<5} subscriber: "
        f"median {result.median:7.2f} ms  p99 {result.p99:7.2f} ms  "
        f"({result.samples} publishes)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--subscribers", type=int, action="append", help="repeatable (default 1, 100)"
    )
    parser.add_argument("--publishes", type=int, default=200)
    args = parser.parse_args()
    origin = OriginServer()
    port = int(origin.url.rsplit(":", 1)[1])
    pushpin = Pushpin(port, sig_key=DEV_KEY, sig_iss=DEV_ISS).start()
    realm = RealmProcess(realm_argv("--port", "0", "--origin", origin.url))
    targets = [
        _Target("pushpin", pushpin.url, pushpin.publish_url),
        _Target("realm", realm.url, f"{realm.url}/publish/"),
    ]
    try:
        for subscribers in args.subscribers or [1, 100]:
            results = {t.name: measure(t, subscribers, args.publishes) for t in targets}
            for name, (first, last) in results.items():
                print(_row(name, subscribers, "first", first))
                print(_row(name, subscribers, "last", last))
            pushpin_last, realm_last = results["pushpin"][1], results["realm"][1]
            print(
                f"realm / pushpin, to the last subscriber: median "
                f"{realm_last.median / pushpin_last.median:.2f}x, p99 "
                f"{realm_last.p99 / pushpin_last.p99:.2f}x"
            )
    finally:
        realm.terminate()
        pushpin.close()
        origin.close()


if __name__ == "__main__":
    main()
