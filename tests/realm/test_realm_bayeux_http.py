"""Bayeux 1.0 over raw HTTP: long-polling, forms, CORS and JSONP."""

from __future__ import annotations

import json
import socket
import time
import urllib.parse
from typing import Any

import pytest
import requests

from flask_fanout.realm import Limits
from flask_fanout.realm import LocalRealm
from tests.helpers.realm import BayeuxHttp
from tests.helpers.realm import make_token
from tests.helpers.realm import publish
from tests.helpers.realm import wait_for


def test_handshake_reply(realm: LocalRealm) -> None:
    client = BayeuxHttp(realm.bayeux_url)
    reply = client.handshake()
    client.close()
    assert reply["channel"] == "/meta/handshake"
    assert reply["version"] == "1.0"
    assert reply["id"] == "h"
    assert set(reply["supportedConnectionTypes"]) >= {"websocket", "long-polling"}
    assert reply["advice"] == {"reconnect": "retry", "interval": 0, "timeout": 2000}
    assert len(reply["clientId"]) >= 16


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (
            {
                "channel": "/meta/handshake",
                "supportedConnectionTypes": ["long-polling"],
            },
            "402",
        ),
        ({"channel": "/meta/handshake", "version": "1.0"}, "402"),
        (
            {
                "channel": "/meta/handshake",
                "version": "1.0",
                "supportedConnectionTypes": ["x"],
            },
            "301",
        ),
    ],
)
def test_bad_handshakes(realm: LocalRealm, message: dict[str, Any], code: str) -> None:
    client = BayeuxHttp(realm.bayeux_url)
    (reply,) = client.send(message)
    client.close()
    assert reply["successful"] is False
    assert reply["error"].startswith(code + ":")


def test_connect_with_timeout_zero_is_answered_at_once(bayeux: BayeuxHttp) -> None:
    started = time.monotonic()
    (reply,) = bayeux.connect(timeout_ms=0)
    assert reply["successful"] is True
    assert time.monotonic() - started < 1.0


def test_connect_is_held_until_the_timeout(bayeux: BayeuxHttp) -> None:
    started = time.monotonic()
    (reply,) = bayeux.connect()
    elapsed = time.monotonic() - started
    assert reply["successful"] is True
    assert reply["advice"]["timeout"] == 2000
    assert 1.5 < elapsed < 5


def test_held_connect_returns_when_a_message_arrives(
    realm: LocalRealm, bayeux: BayeuxHttp
) -> None:
    bayeux.subscribe("/news")
    timer = threading_timer(
        0.3, lambda: publish(realm.url, [{"channel": "news", "json-object": 7}])
    )
    started = time.monotonic()
    replies = bayeux.connect()
    timer.join()
    assert time.monotonic() - started < 1.8
    assert {"channel": "/news", "data": 7} in [
        {"channel": r["channel"], "data": r.get("data")} for r in replies
    ]


def threading_timer(delay: float, fn: Any) -> Any:
    import threading

    timer = threading.Timer(delay, fn)
    timer.start()
    return timer


def test_subscribe_with_connect_in_one_request(
    realm: LocalRealm, bayeux: BayeuxHttp
) -> None:
    started = time.monotonic()
    replies = bayeux.send(
        {
            "channel": "/meta/subscribe",
            "clientId": bayeux.client_id,
            "subscription": "/x",
            "id": 5,
        },
        {
            "channel": "/meta/connect",
            "clientId": bayeux.client_id,
            "connectionType": "long-polling",
            "advice": {"timeout": 0},
        },
    )
    assert time.monotonic() - started < 1.0
    assert [r["channel"] for r in replies] == ["/meta/subscribe", "/meta/connect"]
    assert replies[0] == {
        "channel": "/meta/subscribe",
        "id": 5,
        "clientId": bayeux.client_id,
        "subscription": "/x",
        "successful": True,
    }


def test_wildcards(realm: LocalRealm) -> None:
    clients = {}
    for pattern in ["/a", "/a/*", "/a/**", "/**", "/*"]:
        client = BayeuxHttp(realm.bayeux_url)
        client.handshake()
        client.subscribe(pattern)
        clients[pattern] = client
    assert realm.publish("a", 1) == 3  # /a, /* and /**
    got = {
        pattern: [e["data"] for e in c.events(timeout_ms=0)]
        for pattern, c in clients.items()
    }
    assert got == {"/a": [1], "/a/*": [], "/a/**": [], "/**": [1], "/*": [1]}
    for client in clients.values():
        client.close()


def test_wildcards_on_deep_channels(make_realm: Any) -> None:
    realm = make_realm(allow_client_publish=True)
    clients = {}
    for pattern in ["/a/b", "/a/*", "/a/**", "/**", "/*", "/a/b/*"]:
        client = BayeuxHttp(realm.bayeux_url)
        client.handshake()
        client.subscribe(pattern)
        clients[pattern] = client
    publisher = clients["/a/b"]
    (reply,) = publisher.send(
        {
            "channel": "/a/b",
            "clientId": publisher.client_id,
            "data": {"deep": True},
            "id": "p",
        }
    )
    assert reply["successful"] is True
    got = {p: [e["data"] for e in c.events(timeout_ms=0)] for p, c in clients.items()}
    hit = [{"deep": True}]
    assert got == {
        "/a/b": hit,
        "/a/*": hit,
        "/a/**": hit,
        "/**": hit,
        "/*": [],
        "/a/b/*": [],
    }
    for client in clients.values():
        client.close()


def test_unsubscribe(realm: LocalRealm, bayeux: BayeuxHttp) -> None:
    bayeux.subscribe("/a", "/b")
    (reply,) = bayeux.send(
        {
            "channel": "/meta/unsubscribe",
            "clientId": bayeux.client_id,
            "subscription": "/a",
        }
    )
    assert reply["successful"] is True
    assert realm.stats()["subscribers"] == {"/b": 1}
    realm.publish("a", 1)
    realm.publish("b", 2)
    assert [e["data"] for e in bayeux.events(timeout_ms=0)] == [2]


def test_subscribe_list(realm: LocalRealm, bayeux: BayeuxHttp) -> None:
    (reply,) = bayeux.send(
        {
            "channel": "/meta/subscribe",
            "clientId": bayeux.client_id,
            "subscription": ["/a", "/b"],
        }
    )
    assert reply["successful"] is True
    assert realm.stats()["subscribers"] == {"/a": 1, "/b": 1}


@pytest.mark.parametrize(
    ("subscription", "code"),
    [
        ("/meta/connect", "403"),
        ("/meta/**", "403"),
        ("no-slash", "405"),
        ("/a//b", "405"),
        ("/a/**/b", "405"),
        ("/a*", "405"),
        ("/caf\u00e9", "405"),
        ("/" + "a" * 300, "405"),
        (5, "402"),
        ([], "402"),
        (None, "402"),
    ],
)
def test_bad_subscriptions(bayeux: BayeuxHttp, subscription: Any, code: str) -> None:
    (reply,) = bayeux.send(
        {
            "channel": "/meta/subscribe",
            "clientId": bayeux.client_id,
            "subscription": subscription,
        }
    )
    assert reply["successful"] is False
    assert reply["error"].split(":")[0] == code


def test_unknown_client_is_told_to_handshake(realm: LocalRealm) -> None:
    client = BayeuxHttp(realm.bayeux_url)
    client.client_id = "nope"
    (reply,) = client.connect()
    client.close()
    assert reply["successful"] is False
    assert reply["error"] == "401:nope:Unknown client"
    assert reply["advice"]["reconnect"] == "handshake"


def test_disconnect(realm: LocalRealm, bayeux: BayeuxHttp) -> None:
    bayeux.subscribe("/a")
    (reply,) = bayeux.send(
        {"channel": "/meta/disconnect", "clientId": bayeux.client_id}
    )
    assert reply["successful"] is True
    assert realm.stats()["clients"] == 0
    assert realm.stats()["subscribers"] == {}
    (reply,) = bayeux.connect()
    assert reply["error"].startswith("401:")


def test_sessions_that_stop_connecting_expire(
    realm: LocalRealm, bayeux: BayeuxHttp
) -> None:
    bayeux.subscribe("/a")
    assert realm.stats()["clients"] == 1
    stats = wait_for(lambda: (s := realm.stats())["clients"] == 0 and s, timeout=10)
    assert stats["sessions_expired"] == 1
    assert stats["subscribers"] == {}
    (reply,) = bayeux.connect()
    assert reply["error"].startswith("401:")


def test_a_connecting_session_does_not_expire(
    realm: LocalRealm, bayeux: BayeuxHttp
) -> None:
    deadline = time.monotonic() + 5  # session_timeout is 2 s
    while time.monotonic() < deadline:
        (reply,) = bayeux.connect()
        assert reply["successful"] is True


def test_client_publish_is_refused_by_default(
    realm: LocalRealm, bayeux: BayeuxHttp
) -> None:
    bayeux.subscribe("/a")
    (reply,) = bayeux.send(
        {"channel": "/a", "clientId": bayeux.client_id, "data": 1, "id": "9"}
    )
    assert reply["successful"] is False
    assert reply["error"].startswith("403:/a:")
    assert reply["id"] == "9"
    assert bayeux.events(timeout_ms=0) == []


def test_client_publish_when_allowed(make_realm: Any) -> None:
    realm = make_realm(allow_client_publish=True)
    client = BayeuxHttp(realm.bayeux_url)
    client.handshake()
    client.subscribe("/a")
    (reply,) = client.send(
        {"channel": "/a", "clientId": client.client_id, "data": {"hi": 1}}
    )
    assert reply["successful"] is True
    assert [e["data"] for e in client.events(timeout_ms=0)] == [{"hi": 1}]
    (reply,) = client.send({"channel": "/a", "clientId": "nope", "data": 1})
    assert reply["error"].startswith("401:")
    client.close()


def test_form_encoded_long_polling(realm: LocalRealm) -> None:
    message = [
        {
            "channel": "/meta/handshake",
            "version": "1.0",
            "supportedConnectionTypes": ["long-polling"],
        }
    ]
    for content_type in (
        "application/x-www-form-urlencoded",
        "text/plain;charset=UTF-8",
    ):
        response = requests.post(
            realm.bayeux_url,
            data="message=" + urllib.parse.quote(json.dumps(message)),
            headers={"Content-Type": content_type},
            timeout=10,
        )
        assert response.status_code == 200
        assert response.json()[0]["successful"] is True


def test_cors_preflight_and_post(realm: LocalRealm) -> None:
    origin = "http://127.0.0.1:5000"
    response = requests.options(
        realm.bayeux_url,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,pragma",
        },
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == origin
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    allowed = {
        h.strip().lower()
        for h in response.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert {"content-type", "pragma"} <= allowed
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    message = [
        {
            "channel": "/meta/handshake",
            "version": "1.0",
            "supportedConnectionTypes": ["long-polling"],
        }
    ]
    response = requests.post(
        realm.bayeux_url,
        data="message=" + urllib.parse.quote(json.dumps(message)),
        headers={"Origin": origin, "Content-Type": "text/plain", "Pragma": "no-cache"},
        timeout=10,
    )
    assert response.headers["Access-Control-Allow-Origin"] == origin
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    client_id = response.json()[0]["clientId"]
    connect = [
        {
            "channel": "/meta/connect",
            "clientId": client_id,
            "connectionType": "cross-origin-long-polling",
            "advice": {"timeout": 0},
        }
    ]
    requests.post(
        realm.bayeux_url, json=connect, headers={"Origin": origin}, timeout=10
    )
    assert realm.stats()["clients_by_transport"] == {"cross-origin-long-polling": 1}


def jsonp(
    realm: LocalRealm, messages: Any, callback: str | None = "cb"
) -> requests.Response:
    params = {"message": json.dumps(messages)}
    if callback is not None:
        params["jsonp"] = callback
    return requests.get(realm.bayeux_url, params=params, timeout=10)


def test_jsonp(realm: LocalRealm) -> None:
    handshake = {
        "channel": "/meta/handshake",
        "version": "1.0",
        "supportedConnectionTypes": ["callback-polling"],
    }
    response = jsonp(realm, [handshake], "__jp0.x_1$")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/javascript")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.text.startswith("/**/__jp0.x_1$([") and response.text.endswith(
        "]);"
    )
    body = json.loads(response.text[len("/**/__jp0.x_1$(") : -2])
    client_id = body[0]["clientId"]
    connect = {
        "channel": "/meta/connect",
        "clientId": client_id,
        "connectionType": "callback-polling",
        "advice": {"timeout": 0},
    }
    response = jsonp(realm, connect, None)
    assert response.text.startswith("/**/jsonpcallback([")
    assert realm.stats()["clients_by_transport"] == {"callback-polling": 1}


@pytest.mark.parametrize(
    "callback",
    [
        "",
        "1abc",
        "a-b",
        "a..b",
        "a.",
        "alert(1)",
        "a;b",
        "x" * 200,
        "caf\u00e9",
        "a b",
        "<script>",
    ],
)
def test_jsonp_bad_callbacks(realm: LocalRealm, callback: str) -> None:
    response = jsonp(realm, [{"channel": "/meta/handshake"}], callback)
    assert response.status_code == 400
    assert callback not in response.text or callback == ""


def test_get_without_message_and_eventsource_probe(realm: LocalRealm) -> None:
    assert requests.get(realm.bayeux_url, timeout=10).status_code == 400
    assert requests.get(realm.bayeux_url + "/abc123", timeout=10).status_code == 404
    assert requests.put(realm.bayeux_url, timeout=10).status_code == 405


def test_stats_endpoint(realm: LocalRealm, bayeux: BayeuxHttp) -> None:
    bayeux.subscribe("/a")
    realm.publish("a", 1)
    stats = requests.get(realm.url + "/stats", timeout=10).json()
    assert stats["clients"] == 1
    assert stats["clients_by_transport"] == {}
    assert stats["clients_pending"] == 1
    bayeux.connect(timeout_ms=0)
    stats = requests.get(realm.url + "/stats", timeout=10).json()
    assert stats["clients_by_transport"] == {"long-polling": 1}
    assert stats["clients_pending"] == 0
    assert stats["clients"] == 1
    assert stats["subscribers"] == {"/a": 1}
    assert stats["messages_published"] == 1
    assert stats["messages_delivered"] == 1
    assert stats["errors"] == {}


def test_faye_browser_client_is_served(realm: LocalRealm) -> None:
    response = requests.get(
        realm.bayeux_url + "/static/faye-browser-min.js", timeout=10
    )
    if response.status_code == 404:
        assert "make js" in response.text
        pytest.skip("JS build has not run")
    assert response.status_code == 200
    assert "javascript" in response.headers["Content-Type"]
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Faye" in response.text


def test_huge_advice_timeout_is_capped_not_a_500(bayeux: BayeuxHttp) -> None:
    # 10**400 is valid JSON but too large for a float: it used to raise
    # OverflowError and answer 500. A bool is not a timeout either.
    started = time.monotonic()
    (reply,) = bayeux.connect(timeout_ms=10**400)
    assert reply["successful"] is True
    assert 1.5 < time.monotonic() - started < 5  # held for the realm's limit
    started = time.monotonic()
    (reply,) = bayeux.connect(timeout_ms=True)
    assert reply["successful"] is True
    assert time.monotonic() - started > 1.5


def test_lone_surrogates_reach_long_polling_subscribers(
    realm: LocalRealm, bayeux: BayeuxHttp
) -> None:
    # "\ud800" is valid JSON; written out raw it cannot be UTF-8 encoded, and
    # the connect that drained it used to fail with a 500, losing the hint.
    bayeux.subscribe("/s")
    response = requests.post(
        f"{realm.url}/realm/local/publish/",
        data='{"items":[{"channel":"s","json-object":"\\ud800x"}]}',
        headers={"Authorization": f"Bearer {make_token()}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    (event,) = bayeux.events(timeout_ms=0)
    assert event["data"] == "\ud800x"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(
    realm: LocalRealm, bayeux: BayeuxHttp, constant: str
) -> None:
    # Python's json accepts them but browsers' JSON.parse does not, so one
    # such hint would break every subscriber's client.
    bayeux.subscribe("/n")
    response = requests.post(
        f"{realm.url}/realm/local/publish/",
        data='{"items":[{"channel":"n","json-object":' + constant + "}]}",
        headers={"Authorization": f"Bearer {make_token()}"},
        timeout=10,
    )
    assert response.status_code == 400
    response = requests.post(
        realm.bayeux_url,
        data=json.dumps(
            {
                "channel": "/meta/connect",
                "clientId": bayeux.client_id,
                "connectionType": "long-polling",
                "advice": {"timeout": "T"},
            }
        ).replace('"T"', constant),
        timeout=10,
    )
    assert response.status_code == 400
    assert realm.stats()["messages_published"] == 0


def test_messages_for_a_client_that_left_a_held_connect_are_kept(
    make_realm: Any,
) -> None:
    realm = make_realm(limits=Limits(connect_timeout=5, session_timeout=30))
    client = BayeuxHttp(realm.bayeux_url)
    client.handshake()
    client.subscribe("/kept")
    body = json.dumps(
        [
            {
                "channel": "/meta/connect",
                "clientId": client.client_id,
                "connectionType": "long-polling",
            }
        ]
    ).encode()
    engine = realm.server.engine
    runner = realm.server._runner
    assert runner is not None and runner.server is not None
    server = runner.server
    with socket.create_connection((realm.host, realm.port)) as sock:
        sock.sendall(
            b"POST /bayeux HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        wait_for(
            lambda: realm.call(lambda: engine.sessions[client.client_id].held),
            what="the connect to be held",
        )

    def hung_up() -> bool:
        # The held request's handler runs on; its connection is gone.
        return any(
            p.transport is None or p.transport.is_closing() for p in server.connections
        )

    wait_for(lambda: realm.call(hung_up), what="the realm to see the hang-up")
    assert realm.publish("kept", {"n": 1}) == 1
    # The abandoned connect no longer keeps the session alive ...
    wait_for(
        lambda: realm.call(lambda: not engine.sessions[client.client_id].held),
        what="the abandoned connect to end",
    )
    # ... and the hint was not written to the dead connection.
    assert client.events(timeout_ms=0) == [
        {"channel": "/kept", "data": {"n": 1}, "id": "1"}
    ]
    client.close()
