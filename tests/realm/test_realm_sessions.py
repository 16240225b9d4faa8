"""Sessions are bounded and mortal: caps, batched connects, incremental expiry.

Found in 0.1: one long-polling POST holding 100 connects for 100 sessions got
one reply, and the other 99 sessions never expired; one client made 146,300
sessions in 10 s; sweeping 100,000 sessions stalled the loop for tens to
hundreds of milliseconds; ``/stats`` grew to megabytes.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import requests

from flask_fanout.realm import Limits
from flask_fanout.realm import LocalRealm
from tests.helpers.realm import BayeuxHttp
from tests.helpers.realm import wait_for

HANDSHAKE = {
    "channel": "/meta/handshake",
    "version": "1.0",
    "supportedConnectionTypes": ["long-polling", "websocket"],
}


def connect(client_id: str, kind: str = "long-polling") -> dict[str, Any]:
    return {"channel": "/meta/connect", "clientId": client_id, "connectionType": kind}


def handshakes(realm: LocalRealm, count: int) -> list[str]:
    ids = []
    with requests.Session() as http:
        for _ in range(count):
            (reply,) = http.post(realm.bayeux_url, json=[HANDSHAKE], timeout=10).json()
            ids.append(reply["clientId"])
    return ids


def test_every_connect_of_a_batch_is_answered_and_every_session_expires(
    realm: LocalRealm,
) -> None:
    ids = handshakes(realm, 100)
    messages = [{**connect(i), "advice": {"timeout": 1000}} for i in ids]
    started = time.monotonic()
    replies = requests.post(realm.bayeux_url, json=messages, timeout=20).json()
    assert time.monotonic() - started < 1.9  # one held connect, at most its timeout
    assert sorted(r["clientId"] for r in replies) == sorted(ids)
    assert all(r["successful"] for r in replies)
    stats = wait_for(lambda: (s := realm.stats())["clients"] == 0 and s, timeout=15)
    assert stats["sessions_expired"] == 100


def test_a_second_connect_for_the_same_session_ends_the_first(
    bayeux: BayeuxHttp,
) -> None:
    started = time.monotonic()
    replies = bayeux.send(
        connect(str(bayeux.client_id)), connect(str(bayeux.client_id))
    )
    assert time.monotonic() - started < 1.0
    assert [r["channel"] for r in replies] == ["/meta/connect"] * 2


def test_messages_reach_every_session_of_a_batched_connect(realm: LocalRealm) -> None:
    ids = handshakes(realm, 3)
    for client_id in ids:
        requests.post(
            realm.bayeux_url,
            json=[
                {
                    "channel": "/meta/subscribe",
                    "clientId": client_id,
                    "subscription": "/b",
                }
            ],
            timeout=10,
        )
    assert realm.publish("b", "hint") == 3
    replies = requests.post(
        realm.bayeux_url, json=[connect(i) for i in ids], timeout=10
    ).json()
    assert [r["data"] for r in replies if r["channel"] == "/b"] == ["hint"] * 3


def test_websocket_frames_hold_one_connect_too(realm: LocalRealm) -> None:
    async def main() -> None:
        url = realm.bayeux_url.replace("http", "ws")
        async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
            ids = []
            for _ in range(5):
                await ws.send_str(json.dumps([HANDSHAKE]))
                ids.append(json.loads((await ws.receive(5)).data)[0]["clientId"])
            await ws.send_str(json.dumps([connect(i, "websocket") for i in ids]))
            at_once = json.loads((await ws.receive(1)).data)
            assert len(at_once) == 4  # the first connect is held
            (held,) = json.loads((await ws.receive(5)).data)  # at its timeout
            assert {r["clientId"] for r in [*at_once, held]} == set(ids)

    asyncio.run(main())
    wait_for(lambda: realm.stats()["clients"] == 0, timeout=15)


def test_sessions_are_capped_in_total(make_realm: Any) -> None:
    realm = make_realm(limits=Limits(max_sessions=5, session_timeout=60))
    ids = handshakes(realm, 5)
    (refused,) = requests.post(realm.bayeux_url, json=[HANDSHAKE], timeout=10).json()
    assert refused["successful"] is False
    assert refused["error"] == "503::Too many sessions on this realm; retry later"
    assert refused["advice"]["reconnect"] == "retry"
    requests.post(
        realm.bayeux_url,
        json=[{"channel": "/meta/disconnect", "clientId": ids[0]}],
        timeout=10,
    )
    (again,) = requests.post(realm.bayeux_url, json=[HANDSHAKE], timeout=10).json()
    assert again["successful"] is True
    stats = realm.stats()
    assert stats["clients"] == 5 and stats["errors"]["bayeux_503"] == 1


def test_one_request_makes_one_session(realm: LocalRealm) -> None:
    replies = requests.post(realm.bayeux_url, json=[HANDSHAKE] * 50, timeout=10).json()
    assert [r["successful"] for r in replies] == [True] + [False] * 49
    assert replies[1]["error"] == "503::Too many handshakes in one request"
    assert realm.stats()["clients"] == 1


def test_subscriptions_are_capped_per_session(make_realm: Any) -> None:
    realm = make_realm(limits=Limits(max_subscriptions=3))
    client = BayeuxHttp(realm.bayeux_url)
    client.handshake()
    client.subscribe("/a", "/b")
    (reply,) = client.send(
        {
            "channel": "/meta/subscribe",
            "clientId": client.client_id,
            "subscription": ["/a", "/c", "/d"],
        }
    )
    assert reply["error"] == "403:/a:Too many subscriptions"
    client.subscribe("/a", "/c")  # already subscribed ones do not count again
    assert realm.stats()["subscriptions"] == 3
    client.close()


def test_expiring_100k_sessions_never_stalls_the_loop(make_realm: Any) -> None:
    realm = make_realm(
        limits=Limits(connect_timeout=2, session_timeout=1, max_sessions=200_000)
    )
    engine = realm.server.engine

    def make() -> int:
        for number in range(100_000):
            batch = engine.handle(
                [HANDSHAKE], link=None, connection_type="long-polling"
            )
            client_id = batch.replies[0]["clientId"]
            subscribe = {
                "channel": "/meta/subscribe",
                "clientId": client_id,
                "subscription": f"/c{number % 1000}",
            }
            engine.handle([subscribe], link=None, connection_type="long-polling")
        return len(engine.sessions)

    assert realm.call(make, timeout=120) == 100_000

    async def worst_stall() -> float:
        loop = asyncio.get_running_loop()
        worst = 0.0
        deadline = loop.time() + 20
        while engine.sessions and loop.time() < deadline:
            before = loop.time()
            await asyncio.sleep(0)
            worst = max(worst, loop.time() - before)
        return worst

    assert realm._loop is not None
    stall = asyncio.run_coroutine_threadsafe(worst_stall(), realm._loop).result(30)
    stats = realm.stats()
    assert stats["clients"] == 0 and stats["sessions_expired"] == 100_000
    assert stall < 0.025, f"the loop stalled for {stall * 1000:.1f} ms"
    print(f"worst loop stall while expiring 100,000 sessions: {stall * 1000:.1f} ms")


def test_stats_stay_small_and_cheap(make_realm: Any) -> None:
    realm = make_realm(
        limits=Limits(stats_channels=10, session_timeout=60, max_subscriptions=2000)
    )
    engine = realm.server.engine

    def make() -> None:
        for session in range(50):
            batch = engine.handle(
                [HANDSHAKE], link=None, connection_type="long-polling"
            )
            client_id = batch.replies[0]["clientId"]
            for chunk in range(10):
                patterns = [f"/{'p' * 150}-{session}-{chunk}-{k}" for k in range(100)]
                patterns.append("/popular")
                engine.handle(
                    [
                        {
                            "channel": "/meta/subscribe",
                            "clientId": client_id,
                            "subscription": patterns,
                        }
                    ],
                    link=None,
                    connection_type="long-polling",
                )

    realm.call(make, timeout=60)
    started = time.monotonic()
    response = requests.get(realm.url + "/stats", timeout=10)
    elapsed = time.monotonic() - started
    stats = response.json()
    assert len(response.content) < 8 * 1024
    assert len(stats["subscribers"]) == 10
    assert stats["subscribers"]["/popular"] == 50
    assert stats["channels"] == 50_001 and stats["subscriptions"] == 50_050
    assert elapsed < 0.2
