"""Testing support: suppressed sending and record_publishes()."""

from __future__ import annotations

from flask import Flask

from flask_fanout import FanoutExt
from flask_fanout import Publish
from flask_fanout import signals
from tests.helpers.endpoint import KEY_B64
from tests.helpers.endpoint import REALM
from tests.helpers.endpoint import Endpoint
from tests.helpers.endpoint import make_app


def test_testing_apps_record_instead_of_sending(
    endpoint: Endpoint, ext: FanoutExt
) -> None:
    app = make_app(
        TESTING=True,
        FANOUT_REALM_ID=REALM,
        FANOUT_REALM_KEY=KEY_B64,
        FANOUT_PUBLISH_URL=endpoint.base_url,
    )
    ext.init_app(app)

    @app.post("/x")
    def view() -> str:
        ext.publish("comments-1", {"a": 1}, id="1")
        ext.publish("comments-1", {"a": 2}, blocking=True)
        return "ok"

    with ext.record_publishes() as published:
        app.test_client().post("/x")
    assert published == [
        Publish("comments-1", {"a": 1}, id="1"),
        Publish("comments-1", {"a": 2}),
    ]
    with app.app_context():
        assert ext.flush(1)
        stats = ext.stats()
    assert (stats.sent, stats.pending) == (0, 0)
    assert endpoint.requests == []


def test_records_in_send_mode_too(
    app: Flask, ext: FanoutExt, endpoint: Endpoint
) -> None:
    with app.app_context(), ext.record_publishes() as published:
        ext.publish("a", 1)
        ext.publish("b", 2, blocking=True)
        assert ext.flush(10)
    assert [p.channel for p in published] == ["a", "b"]
    assert len(endpoint.wait_for_items(2)) == 2


def test_accepted_signal_fires_in_both_modes(ext: FanoutExt) -> None:
    app = make_app(TESTING=True)
    ext.init_app(app)
    seen: list[Publish] = []

    def receiver(sender: Flask, publish: Publish) -> None:
        seen.append(publish)

    with signals.publish_accepted.connected_to(receiver, app), app.app_context():
        ext.publish("a", 1)
    assert seen == [Publish("a", 1)]


def test_record_is_scoped(ext: FanoutExt) -> None:
    one, two = make_app("one", TESTING=True), make_app("two", TESTING=True)
    ext.init_app(one)
    ext.init_app(two)
    other_ext = FanoutExt()
    three = make_app("three", TESTING=True)
    other_ext.init_app(three)
    with ext.record_publishes() as everything, ext.record_publishes(two) as only_two:
        for app, target in ((one, ext), (two, ext), (three, other_ext)):
            with app.app_context():
                target.publish(app.name, 1)
    assert [p.channel for p in everything] == ["one", "two"]
    assert [p.channel for p in only_two] == ["two"]


def test_recording_stops_with_the_block(ext: FanoutExt) -> None:
    app = make_app(TESTING=True)
    ext.init_app(app)
    with app.app_context():
        with ext.record_publishes() as published:
            ext.publish("a", 1)
        ext.publish("b", 2)
    assert [p.channel for p in published] == ["a"]
