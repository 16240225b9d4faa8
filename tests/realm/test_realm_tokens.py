"""Publish tokens: a bounded lifetime and an integer ``exp``.

The extension signs tokens for 3600 s. In 0.1 the realm accepted an ``exp``
100 years (or ``10**30`` seconds) away, and a numeric string, since PyJWT
converts ``exp`` with ``int()``.
"""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
import requests

from flask_fanout.realm import Limits
from flask_fanout.realm import LocalRealm
from tests.helpers.realm import KEY


def post(realm: LocalRealm, claims: dict[str, Any]) -> requests.Response:
    token = jwt.encode({"iss": "local", **claims}, KEY, algorithm="HS256")
    return requests.post(
        realm.publish_url + "/publish/",
        json={"items": [{"channel": "a", "json-object": 1}]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


@pytest.mark.parametrize(
    ("exp", "fragment"),
    [
        (lambda now: now + 100 * 365 * 86400, "in the future"),
        (lambda now: 10**30, "in the future"),
        (lambda now: now + 3600 + 120, "in the future"),
        (lambda now: str(now + 60), "integer"),
        (lambda now: now + 60.5, "integer"),
        (lambda now: True, "Invalid token"),  # PyJWT: True is 1970
        (lambda now: None, "exp"),
        (lambda now: [now + 60], "integer"),
    ],
    ids=["100-years", "10**30", "3720s", "string", "float", "bool", "null", "list"],
)
def test_bad_exp_is_401(realm: LocalRealm, exp: Any, fragment: str) -> None:
    response = post(realm, {"exp": exp(int(time.time()))})
    assert response.status_code == 401, response.text
    assert fragment in response.json()["error"]
    assert realm.stats()["messages_published"] == 0


@pytest.mark.parametrize(
    "exp",
    [lambda now: now + 3600, lambda now: now + 3600 + 30, lambda now: now + 60.0],
    ids=["what-the-extension-signs", "within-the-leeway", "integral-float"],
)
def test_good_exp_is_accepted(realm: LocalRealm, exp: Any) -> None:
    assert post(realm, {"exp": exp(int(time.time()))}).status_code == 200


def test_the_lifetime_cap_is_a_limit(make_realm: Any) -> None:
    realm = make_realm(limits=Limits(max_token_lifetime=60))
    now = int(time.time())
    assert post(realm, {"exp": now + 100}).status_code == 200
    assert post(realm, {"exp": now + 600}).status_code == 401
