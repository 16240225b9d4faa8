"""The ``flask fanout`` command group, through app.test_cli_runner()."""

from __future__ import annotations

import base64

from flask import Flask

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
