"""Safe outside loopback: the public development key, and the Host header.

The development key is printed in our docs, so a realm using it beyond
loopback lets anyone publish: 0.1 started on ``--host 0.0.0.0`` without a
word. And it answered any ``Host``, which leaves a loopback realm open to DNS
rebinding (a page on ``attacker.example`` re-resolved to ``127.0.0.1``).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
from typing import Any

import aiohttp
import pytest
import requests

from flask_fanout import _local
from flask_fanout.realm import LocalRealm
from tests.helpers.realm import FAST
from tests.helpers.realm import make_token

OWN_KEY = b"o" * 32


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        ("LocalHost.", True),
        ("app.localhost", True),
        ("", False),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("10.0.0.1", False),
        ("fe80::1", False),
        ("no-such-host.invalid", False),
    ],
)
def test_is_loopback_host(host: str, loopback: bool) -> None:
    assert _local.is_loopback_host(host) is loopback


def test_public_dev_key_problem() -> None:
    dev = _local.LOCAL_REALM_KEY_BYTES
    assert _local.public_dev_key_problem("127.0.0.1", dev) is None
    assert _local.public_dev_key_problem("0.0.0.0", OWN_KEY) is None
    for host in ("0.0.0.0", "192.168.1.20", "", "::"):
        problem = _local.public_dev_key_problem(host, dev)
        assert problem is not None and "public development key" in problem
    assert _local.decode_realm_key(_local.LOCAL_REALM_KEY) == dev


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::"])
def test_local_realm_refuses_a_public_bind_with_the_dev_key(host: str) -> None:
    with pytest.raises(ValueError, match="allow_public_dev_key=True"):
        LocalRealm(host=host)
    LocalRealm(host=host, key=OWN_KEY)  # constructing binds nothing


def test_opting_in_starts_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="flask_fanout.realm"):
        realm = LocalRealm(host="0.0.0.0", allow_public_dev_key=True, limits=FAST)
    with realm:
        port = realm.port
        assert requests.get(f"http://127.0.0.1:{port}/stats", timeout=10).ok
    (record,) = caplog.records
    assert record.levelno == logging.WARNING and "DANGER" in record.getMessage()


def get(realm: LocalRealm, path: str, host: str) -> requests.Response:
    return requests.get(realm.url + path, headers={"Host": host}, timeout=10)


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.0.0.1:7999",
        "localhost",
        "localhost:5000",
        "app.localhost:5000",
        "[::1]:7999",
        "192.168.1.20:7999",
    ],
)
def test_loopback_realm_answers_its_own_names(realm: LocalRealm, host: str) -> None:
    assert get(realm, "/stats", host).status_code == 200


@pytest.mark.parametrize(
    "host", ["attacker.example", "attacker.example:7999", "127.0.0.1.nip.io", "x"]
)
def test_other_hosts_get_421_everywhere(realm: LocalRealm, host: str) -> None:
    response = get(realm, "/stats", host)
    assert response.status_code == 421
    assert "--allowed-host" in response.text and "DNS rebinding" in response.text
    handshake = [
        {
            "channel": "/meta/handshake",
            "version": "1.0",
            "supportedConnectionTypes": ["long-polling"],
        }
    ]
    assert (
        requests.post(
            realm.bayeux_url, json=handshake, headers={"Host": host}, timeout=10
        ).status_code
        == 421
    )
    assert (
        requests.post(
            realm.publish_url + "/publish/",
            json={"items": [{"channel": "a", "json-object": 1}]},
            headers={"Host": host, "Authorization": f"Bearer {make_token()}"},
            timeout=10,
        ).status_code
        == 421
    )

    async def upgrade() -> int:
        url = realm.bayeux_url.replace("http", "ws")
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await http.ws_connect(url, headers={"Host": host})
            return info.value.status

    assert asyncio.run(upgrade()) == 421
    stats = realm.stats()
    assert stats["handshakes"] == 0 and stats["messages_published"] == 0
    assert stats["errors"]["http_421"] == 4


def test_allowed_hosts_add_names(make_realm: Any) -> None:
    realm = make_realm(allowed_hosts=("dev.example.test", "Other.Test."))
    assert get(realm, "/stats", "dev.example.test:7999").status_code == 200
    assert get(realm, "/stats", "other.test").status_code == 200
    assert get(realm, "/stats", "attacker.example").status_code == 421
    anything = make_realm(allowed_hosts=("*",))
    assert get(anything, "/stats", "attacker.example").status_code == 200


def test_a_wildcard_bind_answers_the_machines_names() -> None:
    with LocalRealm(host="0.0.0.0", key=base64.b64encode(OWN_KEY).decode()) as realm:
        name = socket.gethostname()
        url = f"http://127.0.0.1:{realm.port}/stats"
        for host in (name, f"{name}:{realm.port}", socket.getfqdn()):
            assert requests.get(url, headers={"Host": host}, timeout=10).ok, host
        response = requests.get(url, headers={"Host": "attacker.example"}, timeout=10)
        assert response.status_code == 421
