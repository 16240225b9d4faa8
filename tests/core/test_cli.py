"""The ``flask fanout`` command group, through app.test_cli_runner()."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.cli import FlaskGroup

from flask_fanout import FanoutExt
from tests.helpers.endpoint import KEY_B64
from tests.helpers.endpoint import REALM
from tests.helpers.endpoint import Endpoint
from tests.helpers.endpoint import make_app


def test_publish(app: Flask, endpoint: Endpoint) -> None:
    result = app.test_cli_runner().invoke(
        args=["fanout", "publish", "comments-3", '{"added": 9}', "--id", "9"]
    )
    assert result.exit_code == 0, result.output
    assert "published to comments-3" in result.output
    # Blocking: it has arrived when the command returns.
    assert endpoint.items == [
        {"channel": "comments-3", "json-object": {"added": 9}, "id": "9"}
    ]


def test_publish_failure_exits_non_zero(app: Flask, endpoint: Endpoint) -> None:
    endpoint.fail_status = 503
    endpoint.fail_body = "realm offline"
    result = app.test_cli_runner().invoke(args=["fanout", "publish", "c", "1"])
    assert result.exit_code == 1
    assert "HTTP 503: realm offline" in result.output


def test_publish_refused(refused_url: str, ext: FanoutExt) -> None:
    app = make_app(
        FANOUT_REALM_ID=REALM,
        FANOUT_REALM_KEY=KEY_B64,
        FANOUT_PUBLISH_URL=refused_url,
        FANOUT_SUPPRESS_SEND=False,
    )
    ext.init_app(app)
    result = app.test_cli_runner().invoke(args=["fanout", "publish", "c", "1"])
    assert result.exit_code == 1
    assert "Connection refused" in result.output


def test_publish_bad_input(app: Flask, endpoint: Endpoint) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["fanout", "publish", "c", "{not json"])
    assert result.exit_code == 2
    assert "not valid JSON" in result.output
    result = runner.invoke(args=["fanout", "publish", "a/b", "1"])
    assert result.exit_code == 1
    assert "single Bayeux segment" in result.output
    assert endpoint.requests == []


def test_publish_suppressed_says_so(ext: FanoutExt) -> None:
    app = make_app(TESTING=True)
    ext.init_app(app)
    with ext.record_publishes() as published:
        result = app.test_cli_runner().invoke(args=["fanout", "publish", "c", "[1]"])
    assert result.exit_code == 0
    assert "FANOUT_SUPPRESS_SEND" in result.output
    assert [p.data for p in published] == [[1]]


def test_check(app: Flask, endpoint: Endpoint) -> None:
    result = app.test_cli_runner().invoke(args=["fanout", "check"])
    assert result.exit_code == 0, result.output
    assert f"FANOUT_REALM_ID                 {REALM}" in result.output
    assert "FANOUT_REALM_KEY                ****" in result.output
    assert f"FANOUT_PUBLISH_URL              {endpoint.base_url}" in result.output
    assert KEY_B64 not in result.output
    assert f"OK: {endpoint.base_url} accepted it (HTTP 200)" in result.output
    assert endpoint.items[0]["channel"] == "flask-fanout-check"
    assert endpoint.requests[0].claims is not None


def test_check_sends_even_when_suppressed(endpoint: Endpoint, ext: FanoutExt) -> None:
    app = make_app(
        TESTING=True,
        FANOUT_REALM_ID=REALM,
        FANOUT_REALM_KEY=KEY_B64,
        FANOUT_PUBLISH_URL=endpoint.base_url,
        FANOUT_CHANNEL_PREFIX="stage-",
    )
    ext.init_app(app)
    result = app.test_cli_runner().invoke(args=["fanout", "check"])
    assert result.exit_code == 0, result.output
    assert endpoint.items[0]["channel"] == "stage-flask-fanout-check"


def test_check_with_a_wrong_key(endpoint: Endpoint, ext: FanoutExt) -> None:
    wrong = base64.b64encode(b"W" * 32).decode()
    app = make_app(
        FANOUT_REALM_ID=REALM,
        FANOUT_REALM_KEY=wrong,
        FANOUT_PUBLISH_URL=endpoint.base_url,
    )
    ext.init_app(app)
    result = app.test_cli_runner().invoke(args=["fanout", "check"])
    assert result.exit_code == 1
    assert "HTTP 401" in result.output
    assert "check FANOUT_REALM_ID and FANOUT_REALM_KEY" in result.output
    assert wrong not in result.output


def test_check_local_realm_masks_the_dev_key(ext: FanoutExt) -> None:
    app = make_app(FANOUT_LOCAL_REALM_PORT=1)  # nothing listens on port 1
    ext.init_app(app)
    result = app.test_cli_runner().invoke(args=["fanout", "check"])
    assert "**** (local development key)" in result.output
    assert result.exit_code == 1
    assert "flask fanout realm" in result.output


def test_help_lists_the_realm_command(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["fanout", "--help"])
    assert result.exit_code == 0
    # The group's own help mentions all three words; look at the listing.
    listing = result.output.split("Commands:", 1)[1]
    names = [line.split()[0] for line in listing.splitlines() if line.strip()]
    assert names == ["check", "publish", "realm"]


@pytest.mark.parametrize("text", ["NaN", '{"n": Infinity}', "[1e999]"])
def test_non_finite_json_is_bad_json(app: Flask, endpoint: Endpoint, text: str) -> None:
    # 0.1 exited 1 with a serialisation message; bad JSON is a usage error.
    result = app.test_cli_runner().invoke(args=["fanout", "publish", "c", text])
    assert result.exit_code == 2, result.output
    assert "not valid JSON" in result.output
    assert endpoint.requests == []


def test_publish_says_how_many_subscribers_the_local_realm_reached() -> None:
    from flask_fanout.realm import LocalRealm

    with LocalRealm(port=0) as realm:
        app = make_app(
            FANOUT_LOCAL_REALM_PORT=realm.port,
            FANOUT_SUPPRESS_SEND=False,
            FANOUT_LOCAL_REALM_EMBED=False,
        )
        FanoutExt(app)
        result = app.test_cli_runner().invoke(args=["fanout", "publish", "c", "1"])
    assert result.exit_code == 0, result.output
    assert "delivered it to 0 subscribers" in result.output


def _failing_factory(**config: Any) -> Callable[[], Flask]:
    def create_app() -> Flask:
        app = make_app(**config)
        FanoutExt(app)  # raises: the app itself fails to load
        return app

    return create_app


@pytest.mark.parametrize("command", [["check"], ["publish", "c", "1"], ["realm"]])
def test_a_config_error_while_the_app_loads_is_one_line_and_exit_2(
    command: list[str],
) -> None:
    # The group is a Flask CLI plugin, so it exists although the app failed;
    # 0.1 showed a 30-line traceback ending in the message.
    factory = _failing_factory(FANOUT_REALM_ID="r", FANOUT_REALM_KEY="YWJjZA")
    group = FlaskGroup(create_app=factory)
    result = CliRunner().invoke(group, ["fanout", *command], catch_exceptions=False)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [
        "Error: FANOUT_REALM_KEY: is not valid base64 (value not shown; check "
        "its padding '=')"
    ]
    assert "Traceback" not in result.output


def test_check_on_grip_publishes_to_every_proxy() -> None:
    from tests.helpers.fastly import running_fastly_api

    with (
        running_fastly_api() as one,
        running_fastly_api(service_id="TWO", token="t2") as two,
    ):
        app = make_app(FANOUT_GRIP_URL=[one.grip_url, two.grip_url])
        FanoutExt(app)
        result = app.test_cli_runner().invoke(args=["fanout", "check"])
        assert result.exit_code == 0, result.output
        assert len(one.items) == len(two.items) == 1
    assert "FANOUT_GRIP_URL" in result.output
    assert one.token not in result.output and "t2" not in result.output
    assert f"OK: http://127.0.0.1:{one.port}/service/{one.service_id} accepted it" in (
        result.output
    )
    assert "FANOUT_BAYEUX_URL" not in result.output  # only the backend's settings
