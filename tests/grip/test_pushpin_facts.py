"""What Pushpin does with the answers and publishes Flask-Fanout sends it.

The GRIP backend, the local realm standing in for Pushpin and the browser
module are all built on these behaviours, so each is pinned here against a
real Pushpin, with the place in Pushpin's docs or source (tag ``v1.36.0`` of
https://github.com/fastly/pushpin, the version Debian ships) that says so. If
a Pushpin upgrade changes one, this file says which, before a user does.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from gripcontrol import GripPubControl
from gripcontrol import parse_grip_uri

from tests.grip.conftest import PushpinFactory
from tests.helpers.pushpin import GripOrigin
from tests.helpers.pushpin import OriginAnswer
from tests.helpers.pushpin import Pushpin
from tests.helpers.pushpin import RawResponse
from tests.helpers.pushpin import http_request
from tests.helpers.pushpin import response_hold
from tests.helpers.pushpin import stream_hold
from tests.helpers.sse import SSEClient

pytestmark = pytest.mark.timeout(60)

#: What the stream endpoint sends as its first event (docs/protocol.md).
READY = 'retry: 2000\nevent: ready\ndata: {"channels":["x"],"denied":[]}\n\n'


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    """Threads for requests that block until Pushpin answers (long-polls)."""
    with ThreadPoolExecutor(4) as executor:
        yield executor


def _message(text: str) -> str:
    return f"event: message\ndata: {text}\n\n"


def _stream_item(channel: Any, text: str) -> dict[str, Any]:
    return {"channel": channel, "formats": {"http-stream": {"content": _message(text)}}}


def _held_stream(pushpin: Pushpin, path: str = "/events", **headers: str) -> SSEClient:
    """A client on a stream the origin holds, once its first event is in."""
    client = SSEClient(f"{pushpin.url}{path}", headers=headers).connect()
    client.wait_for_event(1)
    return client


def _next_data(client: SSEClient, marker: str, pushpin: Pushpin) -> list[str]:
    """Publish ``marker``, wait for it; the data of every event after the first.

    Items on one channel reach one connection in the order they were
    published, so what did not arrive before the marker was never delivered:
    no sleep needed to show that something did *not* happen.
    """
    pushpin.publish_stream("x", _message(marker))
    client.wait_for_body(marker.encode())
    return [event.data for event in client.events[1:]]


# ---------------------------------------------------------------- (a), (d)


def test_a_published_response_merges_its_headers_over_the_held_ones(
    pushpin_factory: PushpinFactory, grip_origin: GripOrigin, pool: ThreadPoolExecutor
) -> None:
    """(a) The published ``http-response`` headers are *merged* over the
    held answer's: each published header replaces the held one of the same
    name, the held answer's other headers are kept, and ``Content-Length`` is
    the published body's.

    Source: ``src/handler/httpsession.cpp``, the ``respond()`` overload used
    for publishes ("inherit headers from the timeout response": it starts
    from ``instruct.response.headers``, removes every name the publish sets,
    then appends the published ones). So the published item need not repeat
    ``Content-Type``, and a held header it does not mention still reaches the
    client.
    """
    grip_origin.route(
        "/poll",
        response_hold(
            "p",
            timeout=30,
            headers=[("Cache-Control", "no-cache"), ("X-Origin", "kept")],
        ),
    )
    pushpin = pushpin_factory(grip_origin.port)
    mark = pushpin.handler_mark()
    answer = pool.submit(http_request, f"{pushpin.url}/poll")
    pushpin.wait_for_subscribers("p", since=mark, retry=True)
    pushpin.publish_response(
        "p",
        '{"hints":[1]}',
        code=200,
        headers={"Cache-Control": "no-store", "X-Published": "yes"},
    )
    response = answer.result(10)
    assert (response.status, response.body) == (200, b'{"hints":[1]}')
    names = [name.lower() for name, _ in response.headers]
    assert names.count("cache-control") == 1
    assert response.header("Cache-Control") == "no-store"  # replaced
    assert response.header("X-Published") == "yes"  # added
    assert response.header("X-Origin") == "kept"  # kept
    assert response.header("Content-Type") == "application/json"  # kept
    assert response.header("Content-Length") == str(len(response.body))
    assert not [name for name in names if name.startswith("grip-")]


def test_grip_timeout_is_at_least_five_seconds(
    pushpin_factory: PushpinFactory, grip_origin: GripOrigin, pool: ThreadPoolExecutor
) -> None:
    """(d) ``Grip-Timeout`` below 5 is raised to 5 s (0 included); then the
    held answer goes out as the origin wrote it, ``Grip-*`` removed. On a
    channel that had no subscriber yet, Pushpin re-sends the held request to
    the origin about 1 s after holding it, and the 5 s start again from
    that second hold: the first long-poll on a channel lasts about 6 s.

    Sources: ``src/handler/instruct.cpp``: ``MINIMUM_RESPONSE_TIMEOUT 5``,
    ``timeout = qMax(timeout, MINIMUM_RESPONSE_TIMEOUT)``, and 55 s
    (``DEFAULT_RESPONSE_TIMEOUT``) without the header;
    ``src/handler/engine.cpp``: a new channel's ``Subscription`` fires
    after ``SUBSCRIBED_DELAY`` (1000 ms) and updates its sessions, which for
    a response hold means asking the origin again (``httpsession.cpp``,
    ``doUpdate``). So ``FANOUT_LONG_POLL_TIMEOUT`` under 5 means 5 behind
    Pushpin, and the stream endpoint must answer a repeated poll the same.
    """
    timeouts = (0, 3)
    for timeout in timeouts:
        grip_origin.route(
            f"/poll{timeout}",
            response_hold(f"t{timeout}", timeout=timeout, body='{"hints":[]}'),
        )
    pushpin = pushpin_factory(grip_origin.port)
    mark = pushpin.handler_mark()

    def timed(path: str) -> tuple[float, RawResponse]:
        response = http_request(f"{pushpin.url}{path}", timeout=15)
        return time.monotonic(), response

    started = time.monotonic()
    polls = [pool.submit(timed, f"/poll{timeout}") for timeout in timeouts]
    for timeout in timeouts:
        pushpin.wait_for_subscribers(f"t{timeout}", since=mark, retry=True)
    reheld = time.monotonic()  # a little after both were held again
    for timeout, poll in zip(timeouts, polls, strict=True):
        ended, response = poll.result(20)
        assert 4.8 <= ended - reheld <= 6.5, (ended - reheld, ended - started)
        assert (response.status, response.body) == (200, b'{"hints":[]}')
        assert response.header("Content-Type") == "application/json"
        assert not [n for n, _ in response.headers if n.lower().startswith("grip-")]
        assert len(grip_origin.requests_for(f"/poll{timeout}")) == 2


# ---------------------------------------------------------------- (b), (c)


def test_a_held_stream_keeps_the_origin_headers(
    pushpin_factory: PushpinFactory, grip_origin: GripOrigin
) -> None:
    """(b) A held stream's answer keeps every header of the origin's except
    ``Grip-*`` and ``Content-Length`` (it becomes chunked), CORS included;
    and Pushpin adds no CORS of its own.

    Source: ``src/handler/instruct.cpp`` (``fromResponse`` copies the
    response headers, skipping names starting ``Grip-``),
    ``src/handler/httpsession.cpp`` (the initial response: those headers
    minus ``Content-Length``, plus CORS only with ``auto_cross_origin`` in
    ``[proxy]`` or the ``aco`` route option, both off by default:
    https://pushpin.org/docs/configuration/, ``src/proxy/domainmap.cpp``).
    So a cross-origin ``EventSource`` works exactly when the app sends the
    CORS headers itself.
    """
    cors = [
        ("Access-Control-Allow-Origin", "http://page.test"),
        ("Access-Control-Allow-Credentials", "true"),
        ("Vary", "Origin"),
        ("X-Custom", "kept"),
    ]
    grip_origin.route("/events", stream_hold("x", first=READY, headers=cors))
    grip_origin.route("/bare", stream_hold("x", first=READY))
    pushpin = pushpin_factory(grip_origin.port)
    with _held_stream(pushpin, Origin="http://page.test") as client:
        assert client.status == 200
        for name, value in [
            ("Content-Type", "text/event-stream"),
            ("Cache-Control", "no-store"),
            *cors,
        ]:
            assert client.header(name) == value, name
        assert client.header("Transfer-Encoding") == "chunked"
        assert client.header("Content-Length") is None
        assert not [n for n, _ in client.header_list if n.lower().startswith("grip-")]
        # Still held: a publish comes through after the origin's headers.
        pushpin.publish_stream("x", _message("after"))
        assert client.wait_for_event(2).data == "after"
    with _held_stream(pushpin, "/bare", Origin="http://page.test") as bare:
        assert bare.header("Access-Control-Allow-Origin") is None


@pytest.mark.parametrize("timeout", [1, 0])
def test_a_keep_alive_event_comes_after_each_idle_second(
    pushpin_factory: PushpinFactory, grip_origin: GripOrigin, timeout: int
) -> None:
    """(c) ``Grip-Keep-Alive: event: keep-alive\\ndata: {}\\n\\n;
    format=cstring; timeout=N`` (backslashes literal in the header) sends
    exactly that SSE event whenever the stream has been idle about N
    seconds; the smallest N is 1 (0 is raised to 1, not a flood).

    Sources: https://pushpin.org/docs/advanced/ ("Keep-alives": formats raw,
    cstring, base64; the timeout in seconds); ``src/handler/instruct.cpp``
    (``cstring`` unescapes ``\\n``; a keep-alive timeout under 1 becomes 1;
    55 s without ``timeout=``); ``src/handler/httpsession.cpp``
    (``setupKeepAlive`` arms the timer for N s *minus a random 0-999 ms*,
    ``KEEPALIVE_RAND_MAX``, and idle mode re-arms it on every send). So the
    gap is in (N-1, N] seconds: with ``FANOUT_KEEP_ALIVE = 20`` a keep-alive
    comes every 19-20 idle seconds.
    """
    answer = stream_hold(
        "x",
        first=READY,
        keep_alive=timeout,
        keep_alive_content="event: keep-alive\ndata: {}\n\n",
    )
    assert (
        "Grip-Keep-Alive",
        rf"event: keep-alive\ndata: {{}}\n\n; format=cstring; timeout={timeout}",
    ) in answer.headers
    grip_origin.route("/events", answer)
    pushpin = pushpin_factory(grip_origin.port)
    with _held_stream(pushpin) as client:
        events = client.wait_for_events(5, timeout=10)[:5]
        ready, *keep_alives = events
        assert ready.type == "ready"
        assert [(e.type, e.data) for e in keep_alives] == [("keep-alive", "{}")] * 4
        assert client.body.startswith(
            READY.encode() + b"event: keep-alive\ndata: {}\n\n" * 4
        )
        gaps = [b.received_at - a.received_at for a, b in itertools.pairwise(events)]
        assert max(gaps) < 1.3, gaps  # at most N (plus scheduling slack)
        # Four gaps, each drawn from (0, 1] s: a timer of 0 s would have sent
        # hundreds by now, four of them in well under 50 ms.
        assert sum(gaps) > 0.05, gaps
        assert not client.comments


# --------------------------------------------------------------------- (e)


def test_a_stream_hold_without_channels_stays_open_and_reaches_nobody(
    pushpin_factory: PushpinFactory, grip_origin: GripOrigin
) -> None:
    """(e) ``Grip-Hold: stream`` with no ``Grip-Channel`` is held anyway: the
    first event, then keep-alives for as long as the client stays, and no
    subscription, so nothing published can ever reach it.

    Source: ``src/handler/instruct.cpp`` (no check that a hold names a
    channel) and ``src/handler/httpsession.cpp``
    (``prepareToSendQueueOrHold`` holds with whatever channels there are).
    This is why the stream endpoint, when every channel is denied, answers
    *without* a hold: a held stream on no channel would be a dead
    connection the browser keeps open forever.
    """
    grip_origin.route("/events", stream_hold([], first=READY, keep_alive=1))
    pushpin = pushpin_factory(grip_origin.port)
    mark = pushpin.handler_mark()
    with _held_stream(pushpin) as client:
        assert client.header("Content-Type") == "text/event-stream"
        client.wait_for_comments(2, timeout=5)
        assert not client.eof
        assert pushpin.subscriptions(since=mark) == []
        pushpin.publish_stream("x", _message("nobody"))
        client.wait_for_comments(3, timeout=5)
        assert len(client.events) == 1 and not client.eof


def test_an_unheld_event_stream_passes_through_and_ends(
    pushpin_factory: PushpinFactory, grip_origin: GripOrigin
) -> None:
    """(e) A 200 ``text/event-stream`` answer with no ``Grip-Hold`` passes
    through unchanged (headers, ``Content-Length``, body) and the response
    ends, so an ``EventSource`` reconnects after its ``retry:``.

    Source: https://pushpin.org/docs/usage/ ("Until the backend ... responds
    with special instructions, requests and responses simply pass through");
    ``src/proxy/proxysession.cpp`` hands a response to the handler only when
    it has GRIP instructions. The stream endpoint's *unavailable* and
    *all denied* answers rely on this.
    """
    body = 'retry: 5000\nevent: unavailable\ndata: {"retry":5000}\n\n'
    grip_origin.route(
        "/events",
        OriginAnswer(
            200,
            [
                ("Content-Type", "text/event-stream"),
                ("Cache-Control", "no-store"),
                ("X-Custom", "kept"),
            ],
            body,
        ),
    )
    pushpin = pushpin_factory(grip_origin.port)
    with SSEClient(f"{pushpin.url}/events") as client:
        client.wait_for_eof()
        assert client.error is None  # ended, not cut
        assert client.status == 200
        assert client.body == body.encode()
        assert client.header("Content-Length") == str(len(body))
        assert client.header("X-Custom") == "kept"
        assert (client.events[0].type, client.retry) == ("unavailable", 5000)


# --------------------------------------------------------------------- (f)


def test_an_origin_403_passes_through_unchanged(
    pushpin_factory: PushpinFactory, grip_origin: GripOrigin
) -> None:
    """(f) An origin's 403 reaches the client as it was sent: status, headers
    and body, Pushpin adding nothing.

    Source: https://pushpin.org/docs/usage/ (responses without instructions
    pass through); ``src/proxy/proxysession.cpp`` relays such a response as
    is. The stream endpoint's refusal (a bad ``Grip-Sig``) is such a 403, and
    it must say what is wrong to whoever looks.
    """
    body = b"Grip-Sig invalid signature\n"
    grip_origin.route(
        "/events",
        OriginAnswer(
            403,
            [("Content-Type", "text/plain; charset=utf-8"), ("X-Why", "sig")],
            body,
        ),
    )
    pushpin = pushpin_factory(grip_origin.port)
    response = http_request(f"{pushpin.url}/events?channel=x")
    assert (response.status, response.body) == (403, body)
    assert response.header("Content-Type") == "text/plain; charset=utf-8"
    assert response.header("X-Why") == "sig"
    assert response.header("Content-Length") == str(len(body))
    origin_names = {"server", "date", "content-type", "x-why", "content-length"}
    assert {name.lower() for name, _ in response.headers} == origin_names


# --------------------------------------------------------------------- (g)


@pytest.fixture
def stream_pushpin(pushpin_factory: PushpinFactory, grip_origin: GripOrigin) -> Pushpin:
    """A Pushpin whose origin holds ``/events`` on channel ``x``."""
    grip_origin.route("/events", stream_hold("x", first=READY))
    return pushpin_factory(grip_origin.port)


def test_publish_takes_items_with_and_without_formats(stream_pushpin: Pushpin) -> None:
    """(g) Both item shapes are accepted on the publish port: formats under
    ``"formats"`` (what Fastly documents and Flask-Fanout sends) and format
    names as keys of the item itself (pubcontrol's shape). The answer is
    ``200 Published`` (``{"message": "Published"}`` if JSON is asked for).

    Sources: https://pushpin.org/docs/usage/ ("Publishing"); in
    ``src/handler/publishitem.cpp`` ``fromVariant`` reads ``formats`` and,
    when absent, picks ``http-response``, ``http-stream`` and ``ws-message``
    from the item itself; ``src/handler/engine.cpp``
    (``controlHttpServer_requestReady``) for the answers.
    """
    pushpin = stream_pushpin
    with _held_stream(pushpin) as client:
        wrapped = _stream_item("x", "wrapped")
        flat = {"channel": "x", "http-stream": {"content": _message("flat")}}
        assert pushpin.post_publish({"items": [wrapped]}) == (200, "Published\n")
        assert pushpin.post_publish({"items": [flat]}) == (200, "Published\n")
        assert pushpin.post_publish(
            {"items": [_stream_item("x", "json")]},
            headers={"Accept": "application/json"},
        ) == (200, '{"message":"Published"}\n')
        client.wait_for_events(4)
        assert [e.data for e in client.events[1:]] == ["wrapped", "flat", "json"]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            {"formats": {"http-stream": {"content": "x"}}},
            "publish item object does not contain 'channel'",
        ),
        (
            {"channel": 7, "formats": {"http-stream": {"content": "x"}}},
            "publish item object contains 'channel' with wrong type",
        ),
        (
            {"channel": "x", "formats": {"http-stream": {"content": 5}}},
            "'http-stream' contains 'content' with wrong type",
        ),
        ({"channel": "x", "formats": {}}, "no formats specified"),
        # A flat item whose only key is no known format has no formats at all.
        ({"channel": "x", "json-object": {"a": 1}}, "no formats specified"),
    ],
    ids=[
        "no-channel",
        "channel-not-a-string",
        "content-not-a-string",
        "empty",
        "flat-unknown",
    ],
)
def test_one_bad_item_fails_the_whole_batch(
    stream_pushpin: Pushpin, bad: dict[str, Any], message: str
) -> None:
    """(g) One malformed item makes the whole batch a ``400`` with
    ``text/plain`` ``Invalid format: <what>``, and *no* item of it is
    delivered, not even the good ones before it.

    Source: ``src/handler/engine.cpp``: ``parseItems`` parses every item
    first and returns nothing on the first error; the control server then
    answers ``400 Bad Request`` with ``"Invalid format: %1\\n"``, before
    ``handlePublishItem`` runs for any. So a batch is all-or-nothing: the
    sender must validate every item (channel rule, JSON) before batching, or
    one bad hint would drop its neighbours.
    """
    pushpin = stream_pushpin
    with _held_stream(pushpin) as client:
        status, text = pushpin.post_publish(
            {"items": [_stream_item("x", "good"), bad, _stream_item("x", "good too")]}
        )
        assert (status, text) == (400, f"Invalid format: {message}\n")
        assert _next_data(client, "marker", pushpin) == ["marker"]


def test_unknown_formats_and_odd_channels_do_not_fail_a_batch(
    stream_pushpin: Pushpin,
) -> None:
    """(g) What Pushpin does *not* refuse: an unknown format name under
    ``"formats"`` (the item is accepted and reaches nobody), and any string
    as a channel, the empty one and ``"a b/é"`` included. The good items of
    such a batch are delivered.

    Source: ``src/handler/publishitem.cpp`` (only the three known format
    names are read from ``formats``, others are ignored; ``channel`` must
    only be a string). Pushpin has no channel rule; Flask-Fanout's own
    (``flask_fanout._channels``) is the only guard.
    """
    pushpin = stream_pushpin
    mark = pushpin.handler_mark()
    with _held_stream(pushpin) as client:
        odd = [
            {"channel": "x", "formats": {"json-object": {"a": 1}}},
            _stream_item("", "empty channel"),
            _stream_item("a b/é", "odd channel"),
        ]
        batch = {"items": [_stream_item("x", "good"), *odd]}
        assert pushpin.post_publish(batch) == (200, "Published\n")
        assert _next_data(client, "marker", pushpin) == ["good", "marker"]
    logged = {(d.channel, d.receivers) for d in pushpin.deliveries(since=mark)}
    assert {("x", 1), ("x", 0), ("", 0), ("a b/é", 0)} <= logged


def test_publish_refuses_a_body_that_is_not_json(stream_pushpin: Pushpin) -> None:
    """(g) A body that is not a JSON object with ``items`` is a ``400`` too.

    Source: ``src/handler/engine.cpp`` (``controlHttpServer_requestReady``:
    "Body is not valid JSON.", "Invalid format: object does not contain
    'items'").
    """
    pushpin = stream_pushpin
    assert pushpin.post_publish("nope") == (400, "Body is not valid JSON.\n")
    assert pushpin.post_publish({"item": []}) == (
        400,
        "Invalid format: object does not contain 'items'\n",
    )


# --------------------------------------------------------------------- (h)


def test_publish_ignores_authorization(stream_pushpin: Pushpin) -> None:
    """(h) Pushpin's publish port checks no credentials: a garbage bearer
    token, and a JWT signed by gripcontrol from ``iss``/``key`` in the URI,
    are both just ignored and the items delivered.

    Source: ``src/handler/engine.cpp`` (the HTTP control server reads the
    path, ``Accept`` and the body, never ``Authorization``); the port is
    meant to be reachable only from the app's side (it binds
    ``push_in_http_addr``, 127.0.0.1 here). So a ``FANOUT_GRIP_URL`` with or
    without ``key`` works the same against Pushpin.
    """
    pushpin = stream_pushpin
    with _held_stream(pushpin) as client:
        status = pushpin.post_publish(
            {"items": [_stream_item("x", "garbage token")]},
            headers={"Authorization": "Bearer not-a-token"},
        )
        assert status == (200, "Published\n")
        signed = parse_grip_uri(
            pushpin.grip_url_with(iss="someone", key="a-key-of-32-bytes-for-hs256-ok!!")
        )
        assert signed["control_iss"] == "someone"
        GripPubControl(signed).publish_http_stream(
            "x", _message("signed"), blocking=True
        )
        client.wait_for_events(3)
        assert [e.data for e in client.events[1:]] == ["garbage token", "signed"]
        assert json.loads(client.events[0].data) == {"channels": ["x"], "denied": []}
