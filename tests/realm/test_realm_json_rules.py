"""What the realm reads and writes is JSON a browser parses: UTF-8, finite numbers.

Python's json turns ``1e999`` into infinity and writes it back as
``Infinity``, which ``JSON.parse`` rejects: in 0.1 such a publish was
accepted, and long-polling subscribers lost the whole response, valid hints
included. And ``json.loads`` on bytes guesses UTF-16 and UTF-32, which JSON
over HTTP does not allow.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
import requests

from flask_fanout.realm import LocalRealm
from tests.helpers.realm import BayeuxHttp
from tests.helpers.realm import make_token

#: Spellings of numbers that are not finite for a browser, in a JSON body.
NON_FINITE = ["1e999", "-1e999", "1E400", "1e+999", "123.5e400", "-0.1E1000", "NaN",
              "Infinity", "-Infinity"]  # fmt: skip
BODY = (
    '{{"items":[{{"channel":"ok","json-object":1}},'
    '{{"channel":"n","json-object":{value}}}]}}'
)


def post_publish(realm: LocalRealm, data: bytes, **headers: str) -> requests.Response:
    headers.setdefault("Authorization", f"Bearer {make_token()}")
    headers.setdefault("Content-Type", "application/json")
    return requests.post(
        realm.publish_url + "/publish/", data=data, headers=headers, timeout=10
    )


@pytest.mark.parametrize("number", NON_FINITE)
@pytest.mark.parametrize("where", ["top", "nested"])
def test_publish_api_refuses_non_finite_numbers(
    realm: LocalRealm, bayeux: BayeuxHttp, number: str, where: str
) -> None:
    bayeux.subscribe("/n", "/ok")
    value = number if where == "top" else f'{{"a":[1,{{"b":{number}}}]}}'
    response = post_publish(realm, BODY.format(value=value).encode())
    assert response.status_code == 400, response.text
    assert "JSON" in response.json()["error"] or "browser" in response.json()["error"]
    assert realm.stats()["messages_published"] == 0
    assert bayeux.events(timeout_ms=0) == []


@pytest.mark.parametrize("number", ["1e999", "-Infinity", "NaN"])
def test_client_publishes_refuse_non_finite_numbers(
    make_realm: Any, number: str
) -> None:
    realm = make_realm(allow_client_publish=True)
    subscriber = BayeuxHttp(realm.bayeux_url)
    subscriber.handshake()
    subscriber.subscribe("/c")
    message = {"channel": "/c", "clientId": subscriber.client_id, "data": "X"}
    response = requests.post(
        realm.bayeux_url,
        data=json.dumps([message]).replace('"X"', f'{{"v":{number}}}'),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 400
    assert realm.stats()["messages_published"] == 0

    async def over_websocket() -> list[Any]:
        url = realm.bayeux_url.replace("http", "ws")
        async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
            await ws.send_str(json.dumps([message]).replace('"X"', number))
            reply: list[Any] = json.loads((await ws.receive(5)).data)
            return reply

    (reply,) = asyncio.run(over_websocket())
    assert reply["successful"] is False and reply["error"].startswith("400:")
    assert realm.stats()["messages_published"] == 0
    assert subscriber.events(timeout_ms=0) == []
    subscriber.close()


def test_the_realm_never_writes_a_non_finite_number(
    realm: LocalRealm, bayeux: BayeuxHttp
) -> None:
    bayeux.subscribe("/n")
    with pytest.raises(ValueError, match="JSON"):
        realm.publish("n", {"x": float("inf")})
    assert realm.publish("n", {"x": 1e308}) == 1
    (event,) = bayeux.events(timeout_ms=0)
    assert event["data"] == {"x": 1e308}


@pytest.mark.parametrize(
    ("encoding", "status"),
    [("utf-16", 400), ("utf-32", 400), ("utf-16-le", 400), ("utf-8-sig", 400)],
)
def test_publish_bodies_must_be_utf8(
    realm: LocalRealm, bayeux: BayeuxHttp, encoding: str, status: int
) -> None:
    bayeux.subscribe("/a")
    body = '{"items":[{"channel":"a","json-object":1}]}'.encode(encoding)
    response = post_publish(realm, body)
    assert response.status_code == status, response.text
    assert "UTF-8" in response.json()["error"] or "JSON" in response.json()["error"]
    assert bayeux.events(timeout_ms=0) == []


@pytest.mark.parametrize("charset", ["utf-16", "latin-1", "UTF-32BE"])
def test_a_charset_other_than_utf8_is_415(realm: LocalRealm, charset: str) -> None:
    body = b'{"items":[{"channel":"a","json-object":1}]}'
    response = post_publish(
        realm, body, **{"Content-Type": f"application/json; charset={charset}"}
    )
    assert response.status_code == 415
    assert "UTF-8" in response.json()["error"]
    assert realm.stats()["errors"] == {"publish_unsupported_media_type": 1}
    response = post_publish(
        realm, body, **{"Content-Type": "application/json; charset=UTF-8"}
    )
    assert response.status_code == 200


def test_bayeux_bodies_must_be_utf8_too(realm: LocalRealm) -> None:
    handshake = [
        {
            "channel": "/meta/handshake",
            "version": "1.0",
            "supportedConnectionTypes": ["long-polling"],
        }
    ]
    for data, headers in [
        (json.dumps(handshake).encode("utf-16"), {}),
        (json.dumps(handshake).encode(), {"Content-Type": "text/plain;charset=utf-16"}),
    ]:
        response = requests.post(
            realm.bayeux_url, data=data, headers=headers, timeout=10
        )
        assert response.status_code in {400, 415}
    assert realm.stats()["handshakes"] == 0
