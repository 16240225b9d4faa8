"""A standalone realm standing in for Pushpin in front of several gunicorn workers.

Any worker's publish reaches every stream, whichever worker answered the
stream's request: the streams are held in the one realm, not in a worker.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import time
from collections.abc import Callable

import requests

from tests.helpers.realm import Gunicorn
from tests.helpers.realm import RealmProcess
from tests.helpers.realm import free_port
from tests.helpers.stream_client import StreamClient

WORKERS = 3
STREAMS = 6


def test_any_workers_publish_reaches_streams_held_for_any_worker(
    realm_process: Callable[..., RealmProcess],
) -> None:
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    realm = realm_process("--port", "0", "--origin", origin)
    streams: list[StreamClient] = []
    with Gunicorn(
        "tests.helpers.apps.grip_origin:app",
        port,
        workers=WORKERS,
        env={**os.environ, "GRIP_REALM_URL": realm.url},
        probe_path="/pid",
    ):
        try:
            deadline = time.monotonic() + 60
            streams = [
                StreamClient(f"{realm.url}/_fanout/events?channel=g")
                for _ in range(STREAMS)
            ]
            for stream in streams:
                assert stream.wait_status() == 200
                stream.wait_events(1)  # "ready": held from here on
            while realm.stats()["grip"]["stream_subscribers"].get("g") != STREAMS:
                assert time.monotonic() < deadline, realm.stats()["grip"]
                time.sleep(0.01)
            held_by = {stream.header("X-Origin-Pid") for stream in streams}

            def publish(number: int) -> int:
                answer = requests.post(
                    f"{origin}/publish",
                    json={"channel": "g", "data": number},
                    headers={"Connection": "close"},
                    timeout=10,
                )
                assert answer.status_code == 200, answer.text
                body = answer.json()
                assert body["status"] == 200, body
                assert body["result"] == {"published": 1, "delivered": STREAMS}
                pid: int = body["pid"]
                return pid

            pids: set[int] = set()
            sent = 0
            with concurrent.futures.ThreadPoolExecutor(6) as pool:
                while len(pids) < 2:
                    assert time.monotonic() < deadline, f"only workers {pids} published"
                    pids.update(pool.map(publish, range(sent, sent + 12)))
                    sent += 12
            for stream in streams:
                stream.wait_events(1 + sent)
                got = sorted(json.loads(m)["data"] for m in stream.messages())
                assert got == list(range(sent))
            grip = realm.stats()["grip"]
            assert grip["publishes"] == sent
            assert grip["deliveries"] == sent * STREAMS
            assert len(pids) >= 2
            # The app's own headers reached the browsers with the held streams.
            assert None not in held_by
        finally:
            for stream in streams:
                stream.close()
