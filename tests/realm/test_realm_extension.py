"""Publishing through the extension (FanoutExt.publish) into a local realm."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from flask import Flask

from flask_fanout import FanoutExt
from flask_fanout import PublishError
from flask_fanout.realm import LocalRealm
from tests.helpers.realm import BayeuxHttp
from tests.helpers.realm import wait_for


def make_app(realm: LocalRealm, **config: Any) -> tuple[Flask, FanoutExt]:
    app = Flask(__name__)
    app.config.update(
        FANOUT_SUPPRESS_SEND=False,
        FANOUT_PUBLISH_URL=realm.publish_url,
        FANOUT_BAYEUX_URL=realm.bayeux_url,
        FANOUT_LOCAL_REALM_EMBED=False,
        FANOUT_USE_LOCAL_REALM=True,
        **config,
    )
    return app, FanoutExt(app)


def test_blocking_and_queued_publishes_arrive(
    realm: LocalRealm, bayeux: BayeuxHttp
) -> None:
    app, ext = make_app(realm)
    bayeux.subscribe("/comments-1")
    with app.app_context():
        ext.publish(ext.channel("comments", 1), {"added": 7}, blocking=True)
        for n in range(25):
            ext.publish("comments-1", n)
        assert ext.flush(10)
    got: list[Any] = []

    def received_all() -> bool:
        got.extend(e["data"] for e in bayeux.events())
        return len(got) >= 26

    wait_for(received_all)
    assert got == [{"added": 7}, *range(25)]
    assert realm.stats()["messages_published"] == 26
    with app.app_context():
        ext.close(5)


def test_channel_prefix_is_applied_on_the_wire(
    realm: LocalRealm, bayeux: BayeuxHttp
) -> None:
    app, ext = make_app(realm, FANOUT_CHANNEL_PREFIX="site1-")
    bayeux.subscribe("/site1-news")
    with app.app_context():
        ext.publish("news", "hi", blocking=True)
    assert [(e["channel"], e["data"]) for e in bayeux.events()] == [
        ("/site1-news", "hi")
    ]
    with app.app_context():
        ext.close(5)


def test_a_wrong_key_is_refused_with_401(make_realm: Any) -> None:
    realm = make_realm(realm_id="myrealm", key=base64.b64encode(b"k" * 32).decode())
    app, ext = make_app(
        realm,
        FANOUT_REALM_ID="myrealm",
        FANOUT_REALM_KEY=base64.b64encode(b"x" * 32).decode(),
    )
    with app.app_context(), pytest.raises(PublishError) as info:
        ext.publish("news", 1, blocking=True)
    assert "401" in str(info.value)
    with app.app_context():
        ext.close(5)
