"""Bad input: always a 4xx or a Bayeux error, never a 5xx, never a crash.

Seeded random fuzzing of the Bayeux and publish endpoints, slow clients
that never read, and memory after many connect/disconnect cycles.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import psutil
import pytest
import requests

from flask_fanout.realm import Limits
from flask_fanout.realm import LocalRealm
from tests.helpers.realm import BayeuxHttp
from tests.helpers.realm import RealmProcess
from tests.helpers.realm import make_token
from tests.helpers.realm import publish
from tests.helpers.realm import wait_for

FUZZ = Limits(connect_timeout=0.2, session_timeout=5.0)
CHANNELS = [
    "/meta/handshake",
    "/meta/connect",
    "/meta/subscribe",
    "/meta/unsubscribe",
    "/meta/disconnect",
    "/meta/nope",
    "/meta",
    "/a",
    "/a/b",
    "/**",
    "/a/*",
    "",
    "a",
    "/",
    "//",
    "/service/x",
    "/caf\u00e9",
    "/" + "x" * 1000,
]


def junk(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(10 if depth < 4 else 6)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False])
    if choice == 2:
        return rng.choice([0, -1, 2**63, 1.5, float("1e308")])
    if choice == 3:
        return rng.choice(
            ["", "x", "\u0000", "/meta/connect", "websocket", "\ud7ff" * 10]
        )
    if choice == 4:
        return rng.choice(CHANNELS)
    if choice == 5:
        return "".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(rng.randrange(20)))
    if choice in (6, 7):
        return [junk(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {
        rng.choice(["channel", "data", "id", "x"]): junk(rng, depth + 1)
        for _ in range(3)
    }


def message(rng: random.Random, client_id: str) -> Any:
    if rng.random() < 0.05:
        return junk(rng)
    msg: dict[str, Any] = {"channel": rng.choice(CHANNELS)}
    fields: dict[str, Callable[[], Any]] = {
        "clientId": lambda: client_id if rng.random() < 0.6 else junk(rng),
        "version": lambda: rng.choice(["1.0", junk(rng)]),
        "supportedConnectionTypes": lambda: rng.choice(
            [["long-polling"], ["websocket", "x"], [], junk(rng)]
        ),
        "connectionType": lambda: rng.choice(
            ["long-polling", "websocket", "x", junk(rng)]
        ),
        "subscription": lambda: rng.choice([*CHANNELS, junk(rng), ["/a", "/b"], []]),
        "advice": lambda: rng.choice(
            [{"timeout": 0}, {"timeout": "x"}, {"timeout": -5}, junk(rng)]
        ),
        "id": lambda: junk(rng),
        "data": lambda: junk(rng),
        "ext": lambda: junk(rng),
    }
    for name, make in fields.items():
        if rng.random() < 0.5:
            msg[name] = make()
    return msg


def assert_bayeux_answer(response: requests.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code == 200:
        replies = response.json()
        assert isinstance(replies, list) and all(isinstance(r, dict) for r in replies)


def test_fuzz_bayeux_http_and_jsonp(make_realm: Callable[..., LocalRealm]) -> None:
    realm = make_realm(limits=FUZZ)
    good = BayeuxHttp(realm.bayeux_url)
    good.handshake()
    good.subscribe("/a")
    rng = random.Random(1234)
    http = requests.Session()
    valid = BayeuxHttp(realm.bayeux_url)
    client_id = valid.handshake()["clientId"]
    for number in range(400):
        batch = [message(rng, client_id) for _ in range(rng.randrange(1, 4))]
        body = batch if rng.random() < 0.8 else batch[0]
        if number % 5 == 4:
            response = http.get(
                realm.bayeux_url,
                params={"message": json.dumps(body), "jsonp": "cb"},
                timeout=10,
            )
            assert response.status_code < 500
            if response.status_code == 200:
                assert response.text.startswith("/**/cb(")
        else:
            assert_bayeux_answer(http.post(realm.bayeux_url, json=body, timeout=10))
        if number % 50 == 0:
            client_id = valid.handshake()["clientId"]
    http.close()
    valid.close()
    # The well-behaved client still receives.
    assert realm.publish("a", "still here") >= 1
    assert "still here" in [e["data"] for e in good.events()]
    good.close()


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\xff\xfe\x00",
        b"{",
        b"[1, 2",
        b"null",
        b"42",
        b'"/meta/handshake"',
        b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
        b"[" * 50_000 + b"]" * 50_000,
        b"message=",
        b"message=%7B",
        b"message",
        b"[" + b'{"channel":"/meta/handshake"},' * 200 + b"{}]",
        b"x" * 70_000,
        json.dumps([{"channel": "/a", "data": "x" * 70_000}]).encode(),
    ],
)
def test_bad_bayeux_bodies(realm: LocalRealm, body: bytes) -> None:
    for content_type in ("application/json", "application/x-www-form-urlencoded"):
        response = requests.post(
            realm.bayeux_url,
            data=body,
            headers={"Content-Type": content_type},
            timeout=10,
        )
        assert response.status_code < 500
        if response.status_code == 200:
            assert all(r.get("successful") is False for r in response.json())
        else:
            assert response.status_code in {400, 413}


def test_fuzz_websocket_frames(make_realm: Callable[..., LocalRealm]) -> None:
    realm = make_realm(limits=FUZZ)
    rng = random.Random(99)

    async def main() -> None:
        url = realm.bayeux_url.replace("http", "ws")
        async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
            await ws.send_str(
                json.dumps(
                    {
                        "channel": "/meta/handshake",
                        "version": "1.0",
                        "supportedConnectionTypes": ["websocket"],
                    }
                )
            )
            client_id = json.loads((await ws.receive(5)).data)[0]["clientId"]
            for _ in range(300):
                frame = [message(rng, client_id) for _ in range(rng.randrange(1, 3))]
                await ws.send_str(json.dumps(frame))
            await ws.send_str(
                json.dumps(
                    {
                        "channel": "/meta/handshake",
                        "version": "1.0",
                        "supportedConnectionTypes": ["websocket"],
                        "id": "end",
                    }
                )
            )
            deadline = time.monotonic() + 20
            while True:
                msg = await ws.receive(max(0.1, deadline - time.monotonic()))
                assert msg.type == aiohttp.WSMsgType.TEXT, msg
                if any(r.get("id") == "end" for r in json.loads(msg.data)):
                    break

    asyncio.run(main())
    assert realm.stats()["errors_total"] > 0


def test_fuzz_publish_api(realm: LocalRealm) -> None:
    rng = random.Random(7)
    token = make_token()
    http = requests.Session()
    for _ in range(200):
        items = [
            rng.choice(
                [
                    {"channel": junk(rng), "json-object": junk(rng)},
                    {"channel": "ok", "formats": junk(rng)},
                    {"channel": "ok", "json-object": junk(rng)},
                    junk(rng),
                ]
            )
            for _ in range(rng.randrange(3))
        ]
        body = {"items": items} if rng.random() < 0.8 else junk(rng)
        response = http.post(
            realm.publish_url + "/publish/",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert response.status_code in {200, 400}, response.text
    for _ in range(50):
        bogus = base64.urlsafe_b64encode(rng.randbytes(rng.randrange(1, 80))).decode()
        fake = rng.choice(
            [bogus, token[:-3] + "abc", token + ".x", ".".join([bogus] * 3)]
        )
        response = http.post(
            realm.publish_url + "/publish/",
            json={"items": []},
            headers={"Authorization": f"Bearer {fake}"},
            timeout=10,
        )
        assert response.status_code == 401
    http.close()


def ws_client_frame(text: str) -> bytes:
    payload = text.encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x81, 0x80 | length)
    else:
        header = struct.pack("!BBH", 0x81, 0x80 | 126, length)
    return header + mask + masked


def raw_ws_subscriber(realm: LocalRealm, channel: str) -> socket.socket:
    """A WebSocket Bayeux subscriber on a raw socket that then never reads."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((realm.host, realm.port))
    sock.sendall(
        b"GET /bayeux HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        buffer += sock.recv(4096)
    assert b" 101 " in buffer.split(b"\r\n")[0]
    handshake = {
        "channel": "/meta/handshake",
        "version": "1.0",
        "supportedConnectionTypes": ["websocket"],
    }
    sock.sendall(ws_client_frame(json.dumps([handshake])))
    buffer = buffer.split(b"\r\n\r\n", 1)[1]
    while b"clientId" not in buffer or not buffer.rstrip().endswith(b"}]"):
        buffer += sock.recv(4096)
    client_id = json.loads(buffer[buffer.index(b"[") :])[0]["clientId"]
    sock.sendall(
        ws_client_frame(
            json.dumps(
                [
                    {
                        "channel": "/meta/subscribe",
                        "clientId": client_id,
                        "subscription": channel,
                    },
                    {
                        "channel": "/meta/connect",
                        "clientId": client_id,
                        "connectionType": "websocket",
                    },
                ]
            )
        )
    )
    return sock


def test_slow_clients_are_cut_off_and_others_keep_receiving(
    make_realm: Callable[..., LocalRealm],
) -> None:
    realm = make_realm(limits=Limits(connect_timeout=30, max_ws_buffer=256 * 1024))
    slow = [raw_ws_subscriber(realm, "/big") for _ in range(3)]
    wait_for(lambda: realm.stats()["subscribers"].get("/big") == 3)

    received: list[int] = []

    async def fast_reader(ready: asyncio.Event, total: int) -> None:
        url = realm.bayeux_url.replace("http", "ws")
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(url, max_msg_size=0) as ws,
        ):
            await ws.send_str(
                json.dumps(
                    {
                        "channel": "/meta/handshake",
                        "version": "1.0",
                        "supportedConnectionTypes": ["websocket"],
                    }
                )
            )
            client_id = json.loads((await ws.receive(5)).data)[0]["clientId"]
            await ws.send_str(
                json.dumps(
                    [
                        {
                            "channel": "/meta/subscribe",
                            "clientId": client_id,
                            "subscription": "/big",
                        },
                        {
                            "channel": "/meta/connect",
                            "clientId": client_id,
                            "connectionType": "websocket",
                        },
                    ]
                )
            )
            await ws.receive(5)
            ready.set()
            while len(received) < total:
                msg = await ws.receive(20)
                assert msg.type == aiohttp.WSMsgType.TEXT
                received.extend(
                    m["data"]["n"] for m in json.loads(msg.data) if "data" in m
                )

    async def main() -> None:
        ready = asyncio.Event()
        total = 200
        reader = asyncio.create_task(fast_reader(ready, total))
        await asyncio.wait_for(ready.wait(), 10)
        loop = asyncio.get_running_loop()
        blob = "x" * 60_000
        for start in range(0, total, 10):
            items = [
                {"channel": "big", "json-object": {"n": n, "blob": blob}}
                for n in range(start, start + 10)
            ]
            response = await loop.run_in_executor(None, publish, realm.url, items)
            assert response.status_code == 200
        await asyncio.wait_for(reader, 30)

    asyncio.run(main())
    assert received == list(range(200))
    stats = realm.stats()
    assert stats["errors"].get("slow_client_dropped") == 3
    assert stats["websockets_open"] == 0
    assert stats["subscribers"] == {"/big": 1}  # only the fast reader's session
    for sock in slow:
        sock.close()


def test_a_cut_off_client_must_re_handshake(
    make_realm: Callable[..., LocalRealm],
) -> None:
    # Cutting a socket off discards the frames already buffered for it, which
    # were counted as delivered. Its session must go too, so that the client's
    # next connect gets 401, re-handshakes, and the app refetches; before, the
    # session lived on and those hints were lost without a trace.
    realm = make_realm(limits=Limits(connect_timeout=30, max_ws_buffer=64 * 1024))
    sock = raw_ws_subscriber(realm, "/big")
    wait_for(lambda: realm.stats()["subscribers"].get("/big") == 1)
    (client_id,) = realm.call(lambda: list(realm.server.engine.sessions))
    blob = "x" * 32_000
    wait_for(
        lambda: (
            realm.publish("big", blob) == 0
            or realm.stats()["errors"].get("slow_client_dropped")
        ),
        what="the slow client to be cut off",
    )
    stats = realm.stats()
    assert stats["errors"]["slow_client_dropped"] == 1
    assert stats["clients"] == 0 and stats["subscribers"] == {}
    client = BayeuxHttp(realm.bayeux_url)
    client.client_id = client_id
    (reply,) = client.connect(timeout_ms=0)
    assert reply["error"].startswith("401:")
    assert reply["advice"]["reconnect"] == "handshake"
    client.close()
    sock.close()


def test_slow_long_poll_client_overflows_its_queue(
    make_realm: Callable[..., LocalRealm],
) -> None:
    realm = make_realm(
        limits=Limits(connect_timeout=2, session_timeout=30, max_queue=10)
    )
    client = BayeuxHttp(realm.bayeux_url)
    client.handshake()
    client.subscribe("/q")
    for n in range(11):
        realm.publish("q", n)
    stats = realm.stats()
    assert stats["errors"]["queue_overflow"] == 1
    assert stats["clients"] == 0
    (reply,) = client.connect()
    assert reply["error"].startswith("401:")  # the client re-handshakes and refetches
    client.close()


def test_memory_returns_to_baseline_after_10000_cycles(
    realm_process: Callable[..., RealmProcess],
) -> None:
    realm = realm_process("--port", "0", "--session-timeout", "1")
    process = psutil.Process(realm.proc.pid)
    url = realm.url + "/bayeux"
    ws_url = url.replace("http", "ws")
    handshake = {
        "channel": "/meta/handshake",
        "version": "1.0",
        "supportedConnectionTypes": ["websocket", "long-polling"],
    }

    async def ws_cycle(http: aiohttp.ClientSession) -> None:
        async with http.ws_connect(ws_url) as ws:
            await ws.send_str(json.dumps([handshake]))
            client_id = json.loads((await ws.receive(5)).data)[0]["clientId"]
            await ws.send_str(
                json.dumps(
                    [
                        {
                            "channel": "/meta/subscribe",
                            "clientId": client_id,
                            "subscription": "/m",
                        },
                        {
                            "channel": "/meta/connect",
                            "clientId": client_id,
                            "connectionType": "websocket",
                            "advice": {"timeout": 0},
                        },
                        {"channel": "/meta/disconnect", "clientId": client_id},
                    ]
                )
            )
            await ws.receive(5)

    async def poll_cycle(http: aiohttp.ClientSession) -> None:
        async with http.post(url, json=[handshake]) as response:
            client_id = (await response.json())[0]["clientId"]
        messages = [
            {"channel": "/meta/subscribe", "clientId": client_id, "subscription": "/m"}
        ]
        if client_id[-1] in "01234567":  # half disconnect, half are left to expire
            messages.append({"channel": "/meta/disconnect", "clientId": client_id})
        async with http.post(url, json=messages) as response:
            assert response.status == 200

    async def run(cycles: int) -> None:
        connector = aiohttp.TCPConnector(limit=32)
        async with aiohttp.ClientSession(connector=connector) as http:
            queue = iter(range(cycles))

            async def worker() -> None:
                for number in queue:
                    await (ws_cycle(http) if number % 2 else poll_cycle(http))

            await asyncio.gather(*(worker() for _ in range(32)))

    def settled() -> dict[str, Any] | None:
        stats = realm.stats()
        return (
            stats if stats["clients"] == 0 and stats["websockets_open"] == 0 else None
        )

    asyncio.run(run(1000))  # warm up allocator pools and caches
    wait_for(settled, timeout=20)
    baseline = process.memory_info().rss
    started = time.monotonic()
    asyncio.run(run(10_000))
    elapsed = time.monotonic() - started
    stats = wait_for(settled, timeout=20)
    after = process.memory_info().rss
    assert stats["handshakes"] == 11_000
    assert stats["subscribers"] == {}
    growth = (after - baseline) / 2**20
    mib = 2**20
    rss = f"RSS {baseline / mib:.1f} -> {after / mib:.1f} MiB"
    print(f"10,000 cycles in {elapsed:.1f}s; {rss}")
    assert growth < 8, f"RSS grew by {growth:.1f} MiB"
