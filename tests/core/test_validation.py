"""Validation: bad data, ids and channels raise in the caller, naming the channel."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import json
import math
import uuid
from typing import Any

import pytest
from flask import Flask
from flask.json.provider import DefaultJSONProvider

from flask_fanout import FanoutExt
from flask_fanout import InvalidChannelError
from flask_fanout import InvalidPublishError


class Unserialisable:
    pass


circular: list[Any] = []
circular.append(circular)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({1, 2}, "set is not JSON serializable"),
        (Unserialisable(), "Unserialisable"),
        (math.nan, "Out of range float"),
        ({"x": math.inf}, "Out of range float"),
        (b"bytes", "bytes"),
        (circular, "Circular"),
    ],
)
def test_unserialisable_data(
    app: Flask, ext: FanoutExt, data: Any, fragment: str
) -> None:
    with app.app_context(), ext.record_publishes() as published:
        with pytest.raises(InvalidPublishError, match=fragment) as info:
            ext.publish("comments-9", data)
        assert "comments-9" in str(info.value)
        assert info.value.channel == "comments-9"
        assert isinstance(info.value, TypeError)
        assert isinstance(info.value, ValueError)
        assert ext.stats().pending == 0
    assert published == []


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"id": 5}, "id must be"),
        ({"id": ""}, "id must be"),
        ({"prev_id": b"x"}, "prev_id must be"),
        ({"prev_id": ["1"]}, "prev_id must be"),
    ],
)
def test_bad_ids(
    app: Flask, ext: FanoutExt, kwargs: dict[str, Any], fragment: str
) -> None:
    with app.app_context(), pytest.raises(InvalidPublishError, match=fragment):
        ext.publish("c", 1, **kwargs)


@pytest.mark.parametrize("name", ["", "/comments", "a/b", "*", "a b", "x" * 129, None])
def test_bad_channels_raise_in_the_view(app: Flask, ext: FanoutExt, name: Any) -> None:
    @app.post("/bad")
    def bad() -> str:
        ext.publish(name, 1)
        return "unreachable"

    app.config["PROPAGATE_EXCEPTIONS"] = True
    with pytest.raises(InvalidChannelError):
        app.test_client().post("/bad")
    with app.app_context():
        assert ext.stats().pending == 0


def test_data_goes_through_the_apps_json_provider(
    app: Flask, ext: FanoutExt, endpoint: Any
) -> None:
    @dataclasses.dataclass
    class Point:
        x: int

    ident = uuid.UUID("2f1e5c3e-8d2b-4c6a-9f00-1a2b3c4d5e6f")
    when = datetime.datetime(2026, 12, 2, 10, 0, tzinfo=datetime.UTC)
    with app.app_context():
        ext.publish(
            "c", {"id": ident, "at": when, "p": Point(3), "d": decimal.Decimal("1.5")}
        )
        assert ext.flush(10)
    [item] = endpoint.wait_for_items(1)
    assert item["json-object"] == {
        "id": str(ident),
        "at": "Wed, 02 Dec 2026 10:00:00 GMT",
        "p": {"x": 3},
        "d": "1.5",
    }


def test_a_custom_provider_is_used_and_still_checked(ext: FanoutExt) -> None:
    class Shouting(DefaultJSONProvider):
        def dumps(self, obj: Any, **kwargs: Any) -> str:
            if obj == "bad":
                return '{"x": Infinity}'
            return json.dumps({"shout": obj})

    from tests.helpers.endpoint import make_app

    app = make_app(TESTING=True)
    app.json = Shouting(app)
    ext.init_app(app)
    with app.app_context(), ext.record_publishes() as published:
        ext.publish("c", "hi")
        with pytest.raises(InvalidPublishError, match="Infinity"):
            ext.publish("c", "bad")
    assert len(published) == 1


@pytest.mark.parametrize("value", [1e999, -1e999, float("inf"), float("nan")])
def test_non_finite_numbers_are_refused(
    app: Flask, ext: FanoutExt, value: float
) -> None:
    with app.app_context(), pytest.raises(InvalidPublishError, match="comments-1"):
        ext.publish("comments-1", {"n": [value]})
