"""The realm publish API: what pubcontrol sends, and what it must refuse."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import requests

from flask_fanout.realm import LocalRealm
from tests.helpers.realm import KEY
from tests.helpers.realm import BayeuxHttp
from tests.helpers.realm import make_token
from tests.helpers.realm import publish
from tests.helpers.realm import wait_for

ITEM: dict[str, Any] = {"channel": "things", "json-object": {"n": 1}}


def post(realm: LocalRealm, body: Any, **headers: str) -> requests.Response:
    headers.setdefault("Authorization", f"Bearer {make_token()}")
    data = body if isinstance(body, bytes) else None
    return requests.post(
        realm.publish_url + "/publish/",
        data=data,
        json=None if data is not None else body,
        headers=headers,
        timeout=10,
    )


def test_both_item_shapes_are_delivered(realm: LocalRealm, bayeux: BayeuxHttp) -> None:
    bayeux.subscribe("/a", "/b")
    response = publish(
        realm.url,
        [
            {"channel": "a", "json-object": {"x": 1}, "id": "1", "prev-id": "0"},
            {"channel": "b", "formats": {"json-object": [1, 2]}},
        ],
    )
    assert response.status_code == 200
    assert response.json() == {"published": 2, "delivered": 2}
    events = bayeux.events()
    assert [(e["channel"], e["data"]) for e in events] == [
        ("/a", {"x": 1}),
        ("/b", [1, 2]),
    ]


def test_scalar_values_and_no_trailing_slash(
    realm: LocalRealm, bayeux: BayeuxHttp
) -> None:
    bayeux.subscribe("/a")
    response = requests.post(
        realm.publish_url + "/publish",
        json={"items": [{"channel": "a", "json-object": None}]},
        headers={"Authorization": f"Bearer {make_token()}"},
        timeout=10,
    )
    assert response.status_code == 200
    assert [e["data"] for e in bayeux.events()] == [None]


def test_stats_count_published(realm: LocalRealm) -> None:
    assert publish(realm.url, [ITEM, ITEM]).status_code == 200
    assert realm.stats()["messages_published"] == 2


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-jwt",
        "Bearer " + make_token(key=b"x" * 32),
        "Bearer " + make_token(exp_in=-120),
        "Bearer " + make_token(realm="other"),
        "Bearer " + make_token(claims={"exp": None}),
        "Bearer " + make_token(claims={"iss": None}),
    ],
    ids=[
        "missing",
        "empty",
        "bearer-only",
        "bearer-blank",
        "basic",
        "garbage",
        "wrong-key",
        "expired",
        "wrong-iss",
        "no-exp",
        "no-iss",
    ],
)
def test_bad_tokens_are_401(realm: LocalRealm, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = requests.post(
        realm.publish_url + "/publish/",
        json={"items": [ITEM]},
        headers=headers,
        timeout=10,
    )
    assert response.status_code == 401
    assert "error" in response.json()


def test_none_algorithm_is_refused(realm: LocalRealm) -> None:
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=")
    claims = base64.urlsafe_b64encode(b'{"iss":"local","exp":9999999999}').rstrip(b"=")
    token = (header + b"." + claims + b".").decode()
    assert (
        post(realm, {"items": [ITEM]}, Authorization=f"Bearer {token}").status_code
        == 401
    )


def test_wrong_realm_in_path_is_401(realm: LocalRealm) -> None:
    response = publish(realm.url, [ITEM], realm="other", token=make_token("local"))
    assert response.status_code == 401


def test_custom_realm_and_key(make_realm: Any) -> None:
    key = b"0123456789abcdef"  # short keys are the realm owner's choice
    other = make_realm(realm_id="myrealm", key=base64.b64encode(key).decode())
    assert publish(
        other.url, [ITEM], realm="myrealm", token=make_token("myrealm", key)
    ).ok
    assert (
        publish(
            other.url, [ITEM], realm="myrealm", token=make_token("myrealm", KEY)
        ).status_code
        == 401
    )


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"not json", "JSON"),
        (b"\xff\xfe", "JSON"),
        (b"[]", "items"),
        (b'"items"', "items"),
        (b'{"items": {}}', "items"),
        (b'{"item": []}', "items"),
        (b'{"items": [1]}', "not an object"),
        (b'{"items": [{"json-object": 1}]}', "channel"),
        (b'{"items": [{"channel": 5, "json-object": 1}]}', "channel"),
        (b'{"items": [{"channel": "a"}]}', "json-object"),
        (
            b'{"items": [{"channel": "a", "formats": {"http-stream": {}}}]}',
            "'http-stream' does not contain 'content'",
        ),
        (b'{"items": [{"channel": "a", "formats": []}]}', "json-object"),
        (b'{"items": [{"channel": "/a", "json-object": 1}]}', "channel"),
        (b'{"items": [{"channel": "a/b", "json-object": 1}]}', "channel"),
        (b'{"items": [{"channel": "meta", "json-object": 1}]}', "channel"),
        (b'{"items": [{"channel": "a*", "json-object": 1}]}', "channel"),
        (b'{"items": [{"channel": "", "json-object": 1}]}', "channel"),
        (b'{"items": [{"channel": "caf\\u00e9", "json-object": 1}]}', "channel"),
        (b'{"items": [' + b"[" * 100 + b"]" * 100 + b"]}", "nested"),
        (b'{"items": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}", "JSON"),
    ],
)
def test_bad_bodies_are_400(realm: LocalRealm, body: bytes, fragment: str) -> None:
    response = post(realm, body, **{"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"]


def test_nothing_is_published_when_one_item_is_bad(
    realm: LocalRealm, bayeux: BayeuxHttp
) -> None:
    bayeux.subscribe("/a")
    response = publish(
        realm.url, [{"channel": "a", "json-object": 1}, {"channel": "/bad"}]
    )
    assert response.status_code == 400
    assert bayeux.events(timeout_ms=0) == []
    assert realm.stats()["messages_published"] == 0


def test_size_limit_is_413(realm: LocalRealm) -> None:
    big = {"items": [{"channel": "a", "json-object": "x" * (2 << 20)}]}
    assert post(realm, big).status_code == 413
    stats = wait_for(lambda: realm.stats()["errors"].get("publish_too_large"))
    assert stats == 1


def test_size_limit_applies_to_chunked_bodies(realm: LocalRealm) -> None:
    def chunks() -> Any:
        for _ in range(40):
            yield b"x" * 65536

    response = requests.post(
        realm.publish_url + "/publish/",
        data=chunks(),
        headers={"Authorization": f"Bearer {make_token()}"},
        timeout=10,
    )
    assert response.status_code == 413


def test_too_many_items_is_413(realm: LocalRealm) -> None:
    assert publish(realm.url, [ITEM] * 1001).status_code == 413


def test_get_is_405(realm: LocalRealm) -> None:
    assert requests.get(realm.publish_url + "/publish/", timeout=10).status_code == 405
