"""Connections are bounded: timeouts, heartbeats, a cap, and logs that cannot flood.

Found in 0.1: a TCP connection that sent nothing, or stopped halfway
through its headers, stayed open for good, as did a silent WebSocket; with a
low file-descriptor limit the realm stopped answering and asyncio wrote tens
of thousands of EMFILE tracebacks in seconds; JSONP past aiohttp's
request-line limit logged an ERROR with a traceback; a page only noticed a
dead WebSocket after Faye's 1.2 x 30 s.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
import requests

from flask_fanout.realm import Limits
from flask_fanout.realm import LocalRealm
from tests.helpers.realm import FayeNode
from tests.helpers.realm import RealmProcess
from tests.helpers.realm import publish
from tests.helpers.realm import realm_argv
from tests.helpers.realm import wait_for

QUICK = Limits(
    connect_timeout=2,
    session_timeout=2,
    request_timeout=0.5,
    websocket_heartbeat=0.5,
    websocket_idle_timeout=1.5,
)
UPGRADE = (
    b"GET /bayeux HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)


def closed_by_peer(sock: socket.socket, within: float) -> bytes:
    """Read until the realm closes ``sock``; fail after ``within`` seconds."""
    sock.settimeout(within)
    received = b""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return received
        except TimeoutError:
            break
        if not chunk:
            return received
        received += chunk
    raise AssertionError(f"still open after {within} s (got {received[:80]!r})")


@pytest.mark.parametrize(
    "sent",
    [b"", b"GET /stats HTTP/1.1\r\nHo", b"GET /stats HTTP/1.1\r\nHost: x\r\n"],
    ids=["silent", "half-a-header", "no-end-of-headers"],
)
def test_a_connection_that_never_completes_its_request_is_closed(
    make_realm: Callable[..., LocalRealm], sent: bytes
) -> None:
    realm = make_realm(limits=QUICK)
    with socket.create_connection((realm.host, realm.port)) as sock:
        sock.sendall(sent)
        started = time.monotonic()
        closed_by_peer(sock, within=5)
        assert time.monotonic() - started < 3
    wait_for(lambda: realm.stats()["connections_open"] == 0)


def test_an_idle_keep_alive_connection_is_closed(
    make_realm: Callable[..., LocalRealm],
) -> None:
    realm = make_realm(limits=QUICK)
    with socket.create_connection((realm.host, realm.port)) as sock:
        sock.sendall(b"GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        response = closed_by_peer(sock, within=5)
        assert response.startswith(b"HTTP/1.1 200 ")


def test_a_body_that_trickles_in_gets_408(
    make_realm: Callable[..., LocalRealm],
) -> None:
    realm = make_realm(limits=QUICK)
    with socket.create_connection((realm.host, realm.port)) as sock:
        sock.sendall(
            b"POST /bayeux HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n[{"
        )
        response = closed_by_peer(sock, within=5)
    assert response.startswith(b"HTTP/1.1 408 ")
    assert realm.stats()["errors"]["http_408"] == 1


def test_a_websocket_that_does_not_answer_pings_is_closed(
    make_realm: Callable[..., LocalRealm],
) -> None:
    realm = make_realm(limits=QUICK)
    with socket.create_connection((realm.host, realm.port)) as sock:
        sock.sendall(UPGRADE)
        started = time.monotonic()
        frames = closed_by_peer(sock, within=5)
        assert b" 101 " in frames.split(b"\r\n", 1)[0]
        assert b"\x89\x00" in frames  # an empty ping, never answered
        assert time.monotonic() - started < 3
    wait_for(lambda: realm.stats()["websockets_open"] == 0)


def test_a_websocket_that_never_speaks_is_closed(
    make_realm: Callable[..., LocalRealm],
) -> None:
    realm = make_realm(limits=QUICK)

    async def main() -> aiohttp.WSMessage:
        url = realm.bayeux_url.replace("http", "ws")
        async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
            return await ws.receive(10)  # aiohttp answers the pings itself

    started = time.monotonic()
    message = asyncio.run(main())
    assert message.type == aiohttp.WSMsgType.CLOSE
    assert message.data == aiohttp.WSCloseCode.GOING_AWAY
    assert 1.4 < time.monotonic() - started < 5
    assert realm.stats()["errors"]["ws_idle_closed"] == 1


def test_websocket_connects_are_held_for_the_heartbeat(
    make_realm: Callable[..., LocalRealm],
) -> None:
    realm = make_realm(limits=Limits(connect_timeout=30, websocket_heartbeat=1))

    async def main() -> tuple[float, dict[str, Any]]:
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
            (reply,) = json.loads((await ws.receive(5)).data)
            assert reply["advice"]["timeout"] == 1000
            started = time.monotonic()
            await ws.send_str(
                json.dumps(
                    {
                        "channel": "/meta/connect",
                        "clientId": reply["clientId"],
                        "connectionType": "websocket",
                    }
                )
            )
            (held,) = json.loads((await ws.receive(5)).data)
            return time.monotonic() - started, held

    elapsed, held = asyncio.run(main())
    assert 0.8 < elapsed < 3
    assert held["successful"] and held["advice"]["timeout"] == 1000


def test_a_page_notices_a_dead_websocket_within_the_heartbeat(
    faye: Callable[[str, str], FayeNode],
) -> None:
    """Faye gives up on a connect after 1.2 x its timeout: with the WebSocket
    hold at the heartbeat (2 s), a frozen realm is noticed in about 2.4 s,
    not 1.2 x connect-timeout (36 s)."""
    realm = RealmProcess(
        realm_argv(
            "--port", "0", "--connect-timeout", "30", "--websocket-heartbeat", "2"
        )
    )
    try:
        client = faye(realm.url + "/bayeux", "websocket")
        client.subscribe("/c")
        client.wait(
            lambda e: (
                e["event"] == "meta"
                and e["message"]["channel"] == "/meta/connect"
                and e["message"].get("advice", {}).get("timeout") == 2000
            ),
            timeout=10,
        )
        downs = len(client.find(lambda e: e["event"] == "down"))
        realm.proc.send_signal(signal.SIGSTOP)
        started = time.monotonic()
        try:
            client.wait(lambda e: e["event"] == "down", count=downs + 1, timeout=15)
            noticed = time.monotonic() - started
        finally:
            realm.proc.send_signal(signal.SIGCONT)
        assert noticed < 6, f"the page noticed after {noticed:.1f} s"
        assert publish(realm.url, [{"channel": "c", "json-object": "back"}]).ok
        client.wait(lambda e: e["event"] == "message", timeout=15)
        assert client.messages() == ["back"]
    finally:
        realm.kill()


def test_past_the_cap_a_connection_gets_a_clean_503(
    make_realm: Callable[..., LocalRealm], caplog: pytest.LogCaptureFixture
) -> None:
    realm = make_realm(limits=Limits(max_connections=5, request_timeout=30))
    idle = [socket.create_connection((realm.host, realm.port)) for _ in range(5)]
    try:
        wait_for(
            lambda: realm.call(lambda: realm.server.engine.stats.connections_open) == 5
        )
        with caplog.at_level(logging.WARNING, logger="flask_fanout.realm"):
            for _ in range(20):
                response = requests.get(realm.url + "/", timeout=10)
                assert response.status_code == 503
                assert "too many connections" in response.text
                assert response.headers["Retry-After"] == "5"
        warnings = [r for r in caplog.records if r.name == "flask_fanout.realm"]
        assert len(warnings) == 1 and "refusing connections" in warnings[0].getMessage()
        assert not any(r.exc_info for r in caplog.records)
    finally:
        for sock in idle:
            sock.close()
    wait_for(lambda: requests.get(realm.url + "/stats", timeout=10).ok)
    stats = realm.stats()
    assert stats["connections_refused"] == 20 and stats["connections_limit"] == 5


@pytest.mark.skipif(not hasattr(resource, "prlimit"), reason="needs prlimit (Linux)")
def test_running_out_of_file_descriptors_logs_a_line_not_a_flood() -> None:
    realm = RealmProcess(realm_argv("--port", "0"))
    socks: list[socket.socket] = []
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        # Lowered after start-up, so the cap (computed then) cannot help:
        # accept() itself fails with EMFILE.
        resource.prlimit(realm.proc.pid, resource.RLIMIT_NOFILE, (64, hard))
        for _ in range(150):
            socks.append(socket.create_connection(("127.0.0.1", realm.port), timeout=5))
        time.sleep(2)  # let accept() fail for a while: nothing to wait on
        for sock in socks:
            sock.close()
        socks.clear()
        wait_for(lambda: requests.get(realm.url + "/stats", timeout=2).ok, timeout=20)
        assert realm.terminate() == 0
        lines = realm.stderr().splitlines()
        assert "Traceback" not in realm.stderr()
        assert 1 <= len(lines) <= 4, lines
        assert "Too many open files" in lines[0] and "ulimit -n" in lines[0]
    finally:
        for sock in socks:
            sock.close()
        realm.kill()


def test_jsonp_past_the_request_line_limit_is_a_clean_400(
    realm: LocalRealm, caplog: pytest.LogCaptureFixture
) -> None:
    message = json.dumps([{"channel": "/meta/handshake", "x": "y" * 20_000}])
    with caplog.at_level(logging.DEBUG, logger="flask_fanout.realm"):
        for _ in range(5):
            response = requests.get(
                realm.bayeux_url, params={"message": message, "jsonp": "cb"}, timeout=10
            )
            assert response.status_code == 400
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING and records[0].exc_info is None
    assert "malformed request" in records[0].getMessage()


def test_the_cap_follows_the_open_file_limit() -> None:
    from flask_fanout.realm._connections import connection_cap

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert connection_cap(10**9) < soft
    assert connection_cap(3) == 3
