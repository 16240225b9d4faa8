"""Bayeux over a raw WebSocket (aiohttp's client)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest

from flask_fanout.realm import LocalRealm
from tests.helpers.realm import BayeuxHttp
from tests.helpers.realm import publish
from tests.helpers.realm import wait_for

HANDSHAKE = {
    "channel": "/meta/handshake",
    "version": "1.0",
    "supportedConnectionTypes": ["websocket"],
}


def ws_url(realm: LocalRealm) -> str:
    return realm.bayeux_url.replace("http://", "ws://")


async def receive(ws: aiohttp.ClientWebSocketResponse, timeout: float = 5) -> list[Any]:
    msg = await ws.receive(timeout)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    value: list[Any] = json.loads(msg.data)
    return value


async def ws_session(realm: LocalRealm, ws: aiohttp.ClientWebSocketResponse) -> str:
    await ws.send_str(json.dumps([HANDSHAKE]))
    (reply,) = await receive(ws)
    assert reply["successful"] is True
    client_id: str = reply["clientId"]
    return client_id


def subscribe(client_id: str, channel: str) -> dict[str, Any]:
    return {
        "channel": "/meta/subscribe",
        "clientId": client_id,
        "subscription": channel,
    }


def connect(client_id: str, timeout_ms: int | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {
        "channel": "/meta/connect",
        "clientId": client_id,
        "connectionType": "websocket",
    }
    if timeout_ms is not None:
        message["advice"] = {"timeout": timeout_ms}
    return message


def test_push_over_websocket(realm: LocalRealm) -> None:
    async def main() -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(ws_url(realm)) as ws,
        ):
            client_id = await ws_session(realm, ws)
            await ws.send_str(
                json.dumps([subscribe(client_id, "/a"), connect(client_id, 0)])
            )
            replies = await receive(ws)
            assert [r["channel"] for r in replies] == [
                "/meta/subscribe",
                "/meta/connect",
            ]
            assert all(r["successful"] for r in replies)
            started = time.monotonic()
            await ws.send_str(json.dumps([connect(client_id)]))  # held
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(
                None,
                lambda: publish(realm.url, [{"channel": "a", "json-object": {"v": 1}}]),
            )
            (event,) = await receive(ws)
            assert event["channel"] == "/a" and event["data"] == {"v": 1}
            assert time.monotonic() - started < 1.5
            (held,) = await receive(ws, timeout=5)  # the held connect, at its timeout
            assert held["channel"] == "/meta/connect" and held["successful"] is True
            assert time.monotonic() - started > 1.5
            stats = await loop.run_in_executor(None, realm.stats)
            assert stats["clients_by_transport"] == {"websocket": 1}
            assert stats["websockets_open"] == 1

    asyncio.run(main())


def test_new_connect_answers_the_held_one(realm: LocalRealm) -> None:
    async def main() -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(ws_url(realm)) as ws,
        ):
            client_id = await ws_session(realm, ws)
            await ws.send_str(json.dumps([connect(client_id)]))
            await ws.send_str(json.dumps([connect(client_id, 0)]))
            first = await receive(ws, timeout=1)
            second = await receive(ws, timeout=1)
            assert [m[0]["channel"] for m in (first, second)] == ["/meta/connect"] * 2

    asyncio.run(main())


def test_bad_frames_get_bayeux_errors_and_the_socket_lives(realm: LocalRealm) -> None:
    async def main() -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(ws_url(realm)) as ws,
        ):
            for frame in [
                "nope",
                "[1]",
                "7",
                '{"channel": 5}',
                "[" * 10000 + "]" * 10000,
            ]:
                await ws.send_str(frame)
                (reply,) = await receive(ws)
                assert reply["successful"] is False
                assert reply["error"].split(":")[0] in {"400", "402"}
            await ws.send_bytes(b"\x00\x01")
            (reply,) = await receive(ws)
            assert reply["error"].startswith("400:")
            await ws_session(realm, ws)

    asyncio.run(main())


def test_lone_surrogates_neither_crash_the_socket_nor_the_publish(
    realm: LocalRealm,
) -> None:
    # "\ud800" is valid JSON but cannot be UTF-8 encoded raw: echoing it in
    # a reply killed the socket, and fanning it out to a WebSocket subscriber
    # made the publish API answer 500 halfway through its recipients.
    async def main() -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(ws_url(realm)) as ws,
        ):
            client_id = await ws_session(realm, ws)
            await ws.send_str(
                json.dumps([{"channel": "/meta/x\ud800", "clientId": client_id}])
            )
            (reply,) = await receive(ws)
            # As Faye's server answers an unknown meta channel.
            assert reply["error"] == "403:/meta/x\ud800:Forbidden channel"
            await ws.send_str(
                json.dumps([subscribe(client_id, "/s"), connect(client_id, 0)])
            )
            assert all(r["successful"] for r in await receive(ws))
            loop = asyncio.get_running_loop()
            response = await loop.run_in_executor(
                None,
                lambda: publish(realm.url, [{"channel": "s", "json-object": "\ud800"}]),
            )
            assert response.status_code == 200, response.text
            (event,) = await receive(ws)
            assert event["data"] == "\ud800"

    asyncio.run(main())


def test_oversized_frame_closes_only_that_socket(realm: LocalRealm) -> None:
    async def main() -> None:
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(ws_url(realm)) as ws:
                await ws.send_str("[" + " " * (200 * 1024) + "]")
                msg = await ws.receive(5)
                assert msg.type in {aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED}
            async with http.ws_connect(ws_url(realm)) as ws:
                await ws_session(realm, ws)

    asyncio.run(main())


def test_no_websocket_refuses_the_upgrade(make_realm: Any) -> None:
    realm = make_realm(websocket=False)

    async def main() -> None:
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await http.ws_connect(ws_url(realm))
            assert info.value.status == 403

    asyncio.run(main())


def test_a_session_outlives_its_socket(realm: LocalRealm) -> None:
    """A client whose socket dies falls back to polling with the same session."""

    async def main() -> str:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(ws_url(realm)) as ws,
        ):
            client_id = await ws_session(realm, ws)
            await ws.send_str(
                json.dumps([subscribe(client_id, "/a"), connect(client_id, 0)])
            )
            await receive(ws)
            return client_id

    client_id = asyncio.run(main())
    wait_for(lambda: realm.stats()["websockets_open"] == 0)
    assert realm.publish("a", 1) == 1
    poller = BayeuxHttp(realm.bayeux_url)
    poller.client_id = client_id
    assert [e["data"] for e in poller.events(timeout_ms=0)] == [1]
    poller.close()
