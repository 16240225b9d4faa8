"""The test harness itself: real Pushpin instances, the raw SSE clients, the proxies.

Every GRIP test stands on these, so they are checked against a real Pushpin
here: side-by-side instances, hold and deliver, ``Grip-Sig`` checked with
PyJWT, restarts on the same ports, clean stops after a crash, and the two
misbehaving proxies doing what the browser tests rely on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jwt
import psutil
import pytest
from flask import Flask
from gripcontrol import GripPubControl
from gripcontrol import parse_grip_uri
from werkzeug.serving import WSGIRequestHandler
from werkzeug.serving import make_server

from flask_fanout import FanoutExt
from tests.grip.conftest import PushpinFactory
from tests.helpers.grip import grip_app
from tests.helpers.ports import port_is_free
from tests.helpers.proxies import BufferingProxy
from tests.helpers.proxies import StreamKillingProxy
from tests.helpers.pushpin import SERVICES
from tests.helpers.pushpin import GripOrigin
from tests.helpers.pushpin import OriginAnswer
from tests.helpers.pushpin import OriginRequest
from tests.helpers.pushpin import Pushpin
from tests.helpers.pushpin import PushpinError
from tests.helpers.pushpin import http_request
from tests.helpers.pushpin import response_hold
from tests.helpers.pushpin import stream_hold
from tests.helpers.sse import AsyncSSEClient
from tests.helpers.sse import SSEClient
from tests.helpers.sse import SSEComment
from tests.helpers.sse import SSEEvent
from tests.helpers.sse import SSEParser
from tests.helpers.sse import client_session
from tests.helpers.sse import connect_many

pytestmark = pytest.mark.timeout(60)


def _events(request: OriginRequest) -> OriginAnswer:
    channels = request.query.get("channel", [])
    first = f"retry: 2000\nevent: ready\ndata: {json.dumps({'channels': channels})}\n\n"
    return stream_hold(channels, first=first, keep_alive=None)


@pytest.fixture
def origin(grip_origin: GripOrigin) -> GripOrigin:
    """The scripted origin answering ``/events?channel=…`` with an SSE hold."""
    grip_origin.route("/events", _events)
    return grip_origin


def _stream(pushpin: Pushpin, *channels: str) -> SSEClient:
    query = "&".join(f"channel={c}" for c in channels)
    return SSEClient(f"{pushpin.url}/events?{query}").connect()


def _alive(pids: list[int]) -> list[int]:
    """The PIDs that are still running processes (zombies count as gone)."""
    alive = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
    return alive


def _message(text: str) -> str:
    return f"event: message\ndata: {text}\n\n"


# ------------------------------------------------------------------ Pushpin


def test_hold_and_deliver_with_a_verified_grip_sig(
    pushpin_factory: PushpinFactory, origin: GripOrigin
) -> None:
    pushpin = pushpin_factory(origin.port)
    with _stream(pushpin, "x") as client:
        ready = client.wait_for_event(1)
        assert (ready.type, json.loads(ready.data)) == ("ready", {"channels": ["x"]})
        assert client.status == 200
        assert client.header("Content-Type") == "text/event-stream"
        assert not [k for k, _ in client.header_list if k.lower().startswith("grip-")]
        pushpin.publish_stream("x", _message("hello"))
        assert client.wait_for_event(2).data == "hello"
    (request,) = origin.requests_for("/events")
    # What Pushpin signs: HS256 over {iss, exp = now + 1 h}, with our key.
    assert request.claims is not None
    assert request.claims["iss"] == pushpin.sig_iss
    assert 3500 < request.claims["exp"] - time.time() <= 3600
    assert jwt.get_unverified_header(request.headers["grip-sig"])["alg"] == "HS256"
    assert pushpin.startup_seconds is not None and pushpin.startup_seconds < 10


def test_two_instances_side_by_side(
    pushpin_factory: PushpinFactory, origin: GripOrigin
) -> None:
    first, second = pushpin_factory(origin.port), pushpin_factory(origin.port)
    assert not set(first.ports.all()) & set(second.ports.all())
    assert first.run_dir != second.run_dir
    with _stream(first, "x") as one, _stream(second, "x") as two:
        one.wait_for_event(1)
        two.wait_for_event(1)
        first.publish_stream("x", _message("only first"))
        second.publish_stream("x", _message("only second"))
        assert one.wait_for_event(2).data == "only first"
        assert two.wait_for_event(2).data == "only second"
        assert len(one.events) == len(two.events) == 2


def test_a_custom_key_and_issuer_sign_grip_sig(pushpin_factory: PushpinFactory) -> None:
    key, iss = b"another key, long enough for HS256 ok", "edge-7"
    with GripOrigin(sig_key=key, sig_iss=iss) as right, GripOrigin() as wrong:
        for server in (right, wrong):
            server.route("/events", _events)
        good = pushpin_factory(right.port, sig_key=key, sig_iss=iss)
        bad = pushpin_factory(wrong.port, sig_key=key, sig_iss=iss)
        with _stream(good, "x") as client:
            client.wait_for_event(1)
        with _stream(bad, "x") as refused:
            refused.wait_for_eof()
        # The origin's 403 comes through, and nothing was held.
        assert refused.status == 403
        assert b"Grip-Sig" in refused.body
        assert not bad.subscriptions("x")
        (request,) = wrong.requests_for("/events")
        assert request.sig_error is not None and "Signature" in request.sig_error


def test_gripcontrol_publishes_through_the_grip_url(
    pushpin_factory: PushpinFactory, origin: GripOrigin
) -> None:
    pushpin = pushpin_factory(origin.port)
    config = parse_grip_uri(pushpin.grip_url)
    assert config == {
        "control_uri": pushpin.control_url,
        "verify_key": pushpin.sig_key,
        "verify_iss": pushpin.sig_iss,
    }
    with _stream(pushpin, "x") as client:
        client.wait_for_event(1)
        GripPubControl(config).publish_http_stream(
            "x", _message("via gripcontrol"), blocking=True
        )
        assert client.wait_for_event(2).data == "via gripcontrol"


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def test_the_extension_works_behind_pushpin_given_only_its_grip_url(
    pushpin_factory: PushpinFactory,
) -> None:
    """:attr:`Pushpin.grip_url` is all an app needs: the stream endpoint
    accepts the instance's Grip-Sig, and publishes reach its clients."""
    # Pushpin needs the origin's port before the app can have Pushpin's URL,
    # so the server starts with nothing behind it (404s, as the probe wants).
    apps: list[Flask] = []

    def dispatch(environ: Any, start_response: Any) -> Any:
        if not apps:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"no app yet\n"]
        return apps[0](environ, start_response)

    server = make_server(
        "127.0.0.1", 0, dispatch, threaded=True, request_handler=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    ext = FanoutExt()
    try:
        pushpin = pushpin_factory(server.server_port)
        app = grip_app(pushpin.grip_url)
        ext.init_app(app)
        apps.append(app)
        with SSEClient(f"{pushpin.url}/_fanout/events?channel=a") as client:
            ready = client.wait_for_event(1)
            assert (client.status, ready.type) == (200, "ready")
            assert json.loads(ready.data)["channels"] == ["a"]
            with app.app_context():
                ext.publish("a", {"n": 1}, blocking=True)
            hint = client.wait_for_event(2)
            assert (hint.type, json.loads(hint.data)) == (
                "message",
                {"channel": "a", "data": {"n": 1}},
            )
    finally:
        if apps:
            with apps[0].app_context():
                ext.close(5)
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_waiting_for_subscribers_in_the_handler_log(
    pushpin_factory: PushpinFactory, origin: GripOrigin
) -> None:
    pushpin = pushpin_factory(origin.port)
    mark = pushpin.handler_mark()
    clients = [_stream(pushpin, "x", "y") for _ in range(3)]
    try:
        # No client's first event is awaited: the log says when they're held.
        subs = pushpin.wait_for_subscribers("x", 3, since=mark)
        assert {s.channel for s in subs} == {"x"}
        pushpin.wait_for_subscribers("y", 3, since=mark)
        publish_mark = pushpin.handler_mark()
        pushpin.publish_stream("y", _message("to all"))
        assert pushpin.wait_for_delivery("y", since=publish_mark).receivers == 3
        for client in clients:
            assert client.wait_for_event(2).data == "to all"
    finally:
        for client in clients:
            client.close()


def test_restart_keeps_the_ports_and_cuts_open_streams(
    pushpin_factory: PushpinFactory, origin: GripOrigin
) -> None:
    pushpin = pushpin_factory(origin.port)
    ports, url, grip_url = pushpin.ports, pushpin.url, pushpin.grip_url
    with _stream(pushpin, "x") as before:
        before.wait_for_event(1)
        pushpin.restart()
        before.wait_for_eof()
    assert (pushpin.ports, pushpin.url, pushpin.grip_url) == (ports, url, grip_url)
    with _stream(pushpin, "x") as after:
        after.wait_for_event(1)
        pushpin.publish_stream("x", _message("after restart"))
        assert after.wait_for_event(2).data == "after restart"


def test_stop_frees_every_port_and_process(
    pushpin_factory: PushpinFactory, origin: GripOrigin
) -> None:
    pushpin = pushpin_factory(origin.port)
    pids = pushpin.child_pids
    assert len(pids) == len(SERVICES) == 4
    pushpin.stop()
    assert not pushpin.running
    assert all(port_is_free(port) for port in pushpin.ports.all())
    assert not _alive(pids)
    assert not list(pushpin.run_dir.glob("*.pid"))
    pushpin.stop()  # idempotent


def test_a_killed_runner_leaves_children_that_stop_cleans_up(
    pushpin_factory: PushpinFactory, origin: GripOrigin
) -> None:
    pushpin = pushpin_factory(origin.port)
    pushpin.kill(children=False)
    # What SIGKILL to the runner does: its children keep serving.
    pids = pushpin.child_pids
    assert len(pids) == 4 and _alive(pids) == pids
    assert not port_is_free(pushpin.ports.http)
    with _stream(pushpin, "x") as orphaned:
        orphaned.wait_for_event(1)
        pushpin.stop()
        orphaned.wait_for_eof()
    assert not _alive(pids)
    assert all(port_is_free(port) for port in pushpin.ports.all())


def test_kill_is_abrupt_and_the_instance_comes_back(
    pushpin_factory: PushpinFactory, origin: GripOrigin
) -> None:
    pushpin = pushpin_factory(origin.port)
    ports, pids = pushpin.ports, pushpin.child_pids
    with _stream(pushpin, "x") as client:
        client.wait_for_event(1)
        pushpin.kill()
        client.wait_for_eof()
    assert not pushpin.running and not _alive(pids)
    assert all(port_is_free(port) for port in pushpin.ports.all())
    pushpin.stop()  # nothing left to stop: a no-op
    pushpin.start()  # "Pushpin down, then back", same ports
    assert pushpin.ports == ports
    with _stream(pushpin, "x") as again:
        again.wait_for_event(1)


def test_a_pushpin_that_never_gets_ready_fails_with_its_logs(
    pushpin_binary: str, grip_origin: GripOrigin
) -> None:
    # Without the handler nothing answers /publish/: never ready.
    broken = Pushpin(
        grip_origin.port,
        config={"runner": {"services": "condure,zurl,pushpin-proxy"}},
        ready_timeout=1.0,
    )
    try:
        with pytest.raises(
            PushpinError, match=r"(?s)not ready after 1.0s.*--- condure"
        ):
            broken.start()
        assert not broken.running
        assert not broken.child_pids
    finally:
        broken.close()


# ----------------------------------------------------------- the SSE client


def _parse(*chunks: bytes) -> list[SSEEvent | SSEComment]:
    parser = SSEParser()
    return [record for chunk in chunks for record in parser.feed(chunk, 0.0)]


def test_parser_follows_the_whatwg_rules() -> None:
    records = _parse(
        # A BOM, CRLF, "data:" with no space.
        b"\xef\xbb\xbfdata: one\r\ndata:two\r\n\r",
        # A CR split from its LF, CR line ends, a bare "data" field.
        b"\n: keep-alive\rid: 7\revent: tick\rdata\r\r",
        # An id with a NUL and a retry that isn't digits: both ignored.
        b"retry: 1500\nretry: soon\nid: a\x00b\ndata: \xc3\xa9",
        # UTF-8 split across chunks; no data, no event; an unfinished event.
        b"\xe2\x82\xac\n\nevent: empty\n\ndata: tail",
    )
    assert records == [
        SSEEvent("message", "one\ntwo", "", None, 0.0),
        SSEComment(" keep-alive", 0.0),
        SSEEvent("tick", "", "7", "7", 0.0),
        SSEEvent("message", "\u00e9\u20ac", "7", None, 0.0),
    ]


def test_parser_keeps_retry_and_last_event_id() -> None:
    parser = SSEParser()
    parser.feed(b"retry: 1500\nid: 3\ndata: x\n\nid\ndata: y\n\n")
    assert (parser.retry, parser.last_event_id) == (1500, "")


def test_client_sees_comments_ids_and_retry_through_pushpin(
    pushpin_factory: PushpinFactory, grip_origin: GripOrigin
) -> None:
    grip_origin.route("/ka", stream_hold("x", first="retry: 2000\n\n", keep_alive=1))
    pushpin = pushpin_factory(grip_origin.port)
    with SSEClient(f"{pushpin.url}/ka", cookies={"session": "abc"}) as client:
        comments = client.wait_for_comments(2)
        assert [c.text for c in comments[:2]] == ["", ""]
        assert comments[0].received_at <= comments[1].received_at
        pushpin.publish_stream(
            "x", "id: 9\r\nevent: multi\r\ndata: a\r\ndata: b\r\n\r\n"
        )
        event = client.wait_for_event(1)
        assert (event.type, event.data, event.id, event.last_event_id) == (
            "multi",
            "a\nb",
            "9",
            "9",
        )
        assert client.retry == 2000
    (request,) = grip_origin.requests_for("/ka")
    assert request.header("cookie") == "session=abc"
    assert request.header("accept") == "text/event-stream"


def test_async_client_holds_many_streams(
    pushpin_factory: PushpinFactory, origin: GripOrigin
) -> None:
    pushpin = pushpin_factory(origin.port)
    count = 50

    async def scenario() -> list[float]:
        async with client_session() as session:
            mark = pushpin.handler_mark()
            clients = await connect_many(
                [f"{pushpin.url}/events?channel=many"] * count, session=session
            )
            try:
                await asyncio.gather(*(c.wait_for_event(1) for c in clients))
                await asyncio.to_thread(
                    pushpin.wait_for_subscribers, "many", count, since=mark
                )
                sent = time.monotonic()
                await asyncio.to_thread(
                    pushpin.publish_stream, "many", _message("fan-out")
                )
                events = await asyncio.gather(*(c.wait_for_event(2) for c in clients))
                assert {e.data for e in events} == {"fan-out"}
                assert all(c.status == 200 for c in clients)
                return [e.received_at - sent for e in events]
            finally:
                await asyncio.gather(*(c.close() for c in clients))

    latencies = asyncio.run(scenario())
    assert len(latencies) == count and max(latencies) < 5


def test_async_client_sees_the_end_of_a_stream(
    pushpin_factory: PushpinFactory, origin: GripOrigin
) -> None:
    pushpin = pushpin_factory(origin.port)

    async def scenario() -> AsyncSSEClient:
        async with client_session() as session:
            client = await AsyncSSEClient(
                f"{pushpin.url}/events?channel=x", session=session
            ).connect()
            await client.wait_for_event(1)
            await asyncio.to_thread(
                pushpin.publish,
                {"channel": "x", "formats": {"http-stream": {"action": "close"}}},
            )
            await client.wait_for_eof()
            await client.close()
            return client

    client = asyncio.run(scenario())
    assert client.eof and client.error is None and client.retry == 2000


# ------------------------------------------------------------------ proxies


def test_buffering_proxy_starves_streams_but_passes_long_polls(
    pushpin_factory: PushpinFactory, origin: GripOrigin
) -> None:
    origin.route("/poll", response_hold("p", timeout=30))
    pushpin = pushpin_factory(origin.port)
    with BufferingProxy(pushpin.ports.http) as proxy:
        mark = pushpin.handler_mark()
        with SSEClient(f"{proxy.url}/events?channel=x") as stream:
            assert stream.status == 200  # the headers went through...
            pushpin.wait_for_subscribers("x", since=mark)
            pushpin.publish_stream("x", _message("held back"))
            deadline = time.monotonic() + 10
            while b"held back" not in b"".join(e.held for e in proxy.exchanges):
                assert time.monotonic() < deadline, "the proxy never got the event"
                time.sleep(0.02)
            assert stream.body == b""  # ...but never a byte of the body
            assert proxy.streams_held == 1 and proxy.bytes_held > 0

            # A held long-poll ends, so its answer goes through whole.
            with ThreadPoolExecutor(1) as pool:
                poll = pool.submit(http_request, f"{proxy.url}/poll?channel=p")
                pushpin.wait_for_subscribers("p", since=mark, retry=True)
                pushpin.publish_response("p", '{"hints":[1]}')
                answer = poll.result(10)
                assert (answer.status, answer.body) == (200, b'{"hints":[1]}')

            # Short answers pass too.
            with SSEClient(f"{proxy.url}/nowhere") as missing:
                missing.wait_for_eof()
                assert missing.status == 404
    assert "/poll?channel=p" in proxy.paths


def test_buffering_proxy_flushes_at_its_threshold(
    pushpin_factory: PushpinFactory, origin: GripOrigin
) -> None:
    pushpin = pushpin_factory(origin.port)
    with (
        BufferingProxy(pushpin.ports.http, threshold=4096) as proxy,
        SSEClient(f"{proxy.url}/events?channel=x") as stream,
    ):
        pushpin.wait_for_subscribers("x")
        pushpin.publish_stream("x", _message("x" * 5000))
        assert stream.wait_for_event(2).data == "x" * 5000
        assert proxy.flushes >= 1


def test_stream_killing_proxy_cuts_refuses_and_lets_through(
    pushpin_factory: PushpinFactory, origin: GripOrigin
) -> None:
    origin.route("/page", OriginAnswer(200, [("Content-Type", "text/plain")], "page"))
    pushpin = pushpin_factory(origin.port)
    with StreamKillingProxy(pushpin.ports.http) as proxy:
        streams = [_stream_via(proxy, "x") for _ in range(2)]
        for stream in streams:
            stream.wait_for_event(1)
        assert proxy.streams_open == 2
        assert proxy.kill_streams(then="reset") == 2
        for stream in streams:
            stream.wait_for_eof()
            assert stream.error is not None  # cut, not ended
            stream.close()

        # Refused by reset: no response at all. Plain requests still pass.
        with pytest.raises(OSError):
            _stream_via(proxy, "x")
        with SSEClient(f"{proxy.url}/page") as page:
            page.wait_for_eof()
            assert (page.status, page.body) == (200, b"page")

        proxy.set_policy("reject")
        with _stream_via(proxy, "x") as rejected:
            rejected.wait_for_eof()
            assert rejected.status == 502
        assert proxy.streams_refused == 2

        proxy.set_policy("allow")
        with _stream_via(proxy, "x") as again:
            again.wait_for_event(1)
            pushpin.publish_stream("x", _message("back"))
            assert again.wait_for_event(2).data == "back"
    assert (proxy.streams_opened, proxy.streams_killed) == (3, 2)


def test_stream_killing_proxy_can_freeze_streams(
    pushpin_factory: PushpinFactory, origin: GripOrigin
) -> None:
    pushpin = pushpin_factory(origin.port)
    with StreamKillingProxy(pushpin.ports.http) as proxy:
        with _stream_via(proxy, "x") as stream:
            stream.wait_for_event(1)
            assert proxy.stall_streams() == 1
            mark = pushpin.handler_mark()
            pushpin.publish_stream("x", _message("frozen"))
            assert pushpin.wait_for_delivery("x", since=mark).receivers == 1
            deadline = time.monotonic() + 10
            while proxy.bytes_dropped == 0:
                assert time.monotonic() < deadline, "the proxy never got the event"
                time.sleep(0.02)
            assert len(stream.events) == 1 and not stream.eof
        # A new stream now hangs: headers never come.
        hung = SSEClient(f"{proxy.url}/events?channel=x", timeout=1)
        with pytest.raises(TimeoutError):
            hung.connect()
        hung.close()
        assert proxy.streams_refused == 1


def _stream_via(proxy: StreamKillingProxy, channel: str) -> SSEClient:
    return SSEClient(f"{proxy.url}/events?channel={channel}").connect()
