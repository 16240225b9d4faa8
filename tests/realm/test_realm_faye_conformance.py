"""Conformance with a client no one here wrote: npm faye's Node client.

Each test runs once over WebSocket and once over long-polling (the client
with ``disable('websocket')``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from flask_fanout.realm import LocalRealm
from tests.helpers.realm import FayeNode
from tests.helpers.realm import RealmProcess
from tests.helpers.realm import publish
from tests.helpers.realm import wait_for

TRANSPORTS = ["websocket", "long-polling"]
Faye = Callable[[str, str], FayeNode]


def item(channel: str, value: Any) -> dict[str, Any]:
    return {"channel": channel, "json-object": value}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_subscribe_receive_unsubscribe(
    realm: LocalRealm, faye: Faye, transport: str
) -> None:
    client = faye(realm.bayeux_url, transport)
    client.subscribe("/c")
    assert realm.stats()["clients_by_transport"] == {transport: 1}
    assert publish(realm.url, [item("c", {"n": 1}), item("c", [1, "two"])]).ok
    client.wait(lambda e: e["event"] == "message", count=2)
    assert client.messages("/c") == [{"n": 1}, [1, "two"]]

    client.command(op="unsubscribe", channel="/c")
    wait_for(lambda: realm.stats()["subscribers"] == {}, what="unsubscribe")
    client.subscribe("/d")
    assert (
        publish(realm.url, [item("c", "lost"), item("d", "kept")]).json()["delivered"]
        == 1
    )
    client.wait(lambda e: e["event"] == "message" and e["subscription"] == "/d")
    assert client.messages() == [{"n": 1}, [1, "two"], "kept"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_wildcards(
    make_realm: Callable[..., LocalRealm], faye: Faye, transport: str
) -> None:
    realm = make_realm(allow_client_publish=True)
    client = faye(realm.bayeux_url, transport)
    for pattern in ("/w/*", "/w/**", "/*"):
        client.subscribe(pattern)
    publisher = faye(realm.bayeux_url, transport)
    publisher.command(op="publish", channel="/w/x", data=1)
    publisher.command(op="publish", channel="/w/x/y", data=2)
    publisher.wait(lambda e: e["event"] == "published", count=2)
    assert publish(realm.url, [item("w", 3)]).ok
    client.wait(lambda e: e["event"] == "message", count=4)
    got = sorted(
        (e["subscription"], e["data"])
        for e in client.find(lambda e: e["event"] == "message")
    )
    # Faye calls every matching subscription's callback for each message.
    assert got == [("/*", 3), ("/w/*", 1), ("/w/**", 1), ("/w/**", 2)]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_browser_side_publish_is_refused(
    realm: LocalRealm, faye: Faye, transport: str
) -> None:
    client = faye(realm.bayeux_url, transport)
    client.subscribe("/c")
    client.command(op="publish", channel="/c", data={"evil": True})
    (error,) = client.wait(lambda e: e["event"] == "publish_error")
    assert error["code"] == 403
    assert realm.stats()["messages_published"] == 0
    assert client.messages() == []


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_recovery_after_realm_restart(
    realm_process: Callable[..., RealmProcess], faye: Faye, transport: str
) -> None:
    first = realm_process("--port", "0", "--connect-timeout", "2")
    client = faye(first.url + "/bayeux", transport)
    client.subscribe("/c")
    assert publish(first.url, [item("c", "before")]).ok
    client.wait(lambda e: e["event"] == "message")

    first.kill()
    second = realm_process("--port", str(first.port), "--connect-timeout", "2")
    # The old clientId is unknown to the new realm: 401 + handshake advice,
    # then Faye re-handshakes and re-subscribes by itself.
    client.wait(
        lambda e: (
            e["event"] == "meta"
            and e["message"]["channel"] == "/meta/handshake"
            and e["message"]["successful"]
        ),
        count=2,
        timeout=30,
    )
    client.wait(
        lambda e: (
            e["event"] == "meta"
            and e["message"]["channel"] == "/meta/subscribe"
            and e["message"]["successful"]
        ),
        count=2,
        timeout=30,
    )
    assert client.find(
        lambda e: (
            e["event"] == "meta" and e["message"].get("error", "").startswith("401:")
        )
    ), "expected a 401 Unknown client before the re-handshake"
    wait_for(lambda: second.stats()["subscribers"] == {"/c": 1}, what="resubscribed")
    assert publish(second.url, [item("c", "after")]).json()["delivered"] == 1
    client.wait(lambda e: e["event"] == "message", count=2)
    assert client.messages() == ["before", "after"]
