"""Several apps in one process, one extension object (the factory pattern)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from flask import Flask

from flask_fanout import FanoutExt
from tests.helpers.endpoint import KEY_B64
from tests.helpers.endpoint import REALM
from tests.helpers.endpoint import Endpoint
from tests.helpers.endpoint import make_app
from tests.helpers.endpoint import running_endpoint


@pytest.fixture
def second_endpoint() -> Iterator[Endpoint]:
    with running_endpoint() as ep:
        yield ep


def test_two_apps_side_by_side(
    endpoint: Endpoint, second_endpoint: Endpoint, ext: FanoutExt
) -> None:
    apps = []
    for name, ep, prefix in (("a", endpoint, "a-"), ("b", second_endpoint, "b-")):
        app = make_app(
            name,
            FANOUT_REALM_ID=REALM,
            FANOUT_REALM_KEY=KEY_B64,
            FANOUT_PUBLISH_URL=ep.base_url,
            FANOUT_CHANNEL_PREFIX=prefix,
            FANOUT_SUPPRESS_SEND=False,
        )
        ext.init_app(app)

        @app.post("/p")
        def view() -> str:
            ext.publish("news", ext.config.channel_prefix)
            return "ok"

        apps.append(app)
    try:
        for app in apps:
            app.test_client().post("/p")
        for app in apps:
            with app.app_context():
                assert ext.flush(10)
        assert endpoint.wait_for_items(1) == [
            {"channel": "a-news", "json-object": "a-"}
        ]
        assert second_endpoint.wait_for_items(1) == [
            {"channel": "b-news", "json-object": "b-"}
        ]
    finally:
        for app in apps:
            with app.app_context():
                ext.close(10)


def test_per_app_config_and_state(ext: FanoutExt) -> None:
    one = make_app("one", FANOUT_CHANNEL_PREFIX="one-")
    two = make_app("two", FANOUT_CHANNEL_PREFIX="two-", TESTING=True)
    ext.init_app(one)
    ext.init_app(two)
    with one.app_context():
        assert ext.config.channel_prefix == "one-"
        assert ext.config.suppress_send is False
    with two.app_context():
        assert ext.config.channel_prefix == "two-"
        assert ext.config.suppress_send is True


def test_state_goes_away_with_the_app(ext: FanoutExt) -> None:
    app: Flask | None = make_app("gone", TESTING=True)
    assert app is not None
    ext.init_app(app)
    assert len(ext._states) == 1
    del app
    gc.collect()
    assert len(ext._states) == 0
