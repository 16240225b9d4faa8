"""Telling the stand-in where the app is: ``--origin``, ``LocalRealm(origin=)``,
``set_origin`` (any thread), and the embedded realm under ``flask run``."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from flask import Flask

from flask_fanout import FanoutExt
from flask_fanout.realm import LocalRealm
from flask_fanout.realm import _embedded
from flask_fanout.realm._cli import realm_command
from tests.helpers.grip_standin import GripEnv
from tests.helpers.grip_standin import OriginServer
from tests.helpers.realm import free_port


@pytest.fixture(autouse=True)
def fresh_state() -> Iterator[None]:
    _embedded._reset()
    yield
    _embedded._reset()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--origin", "127.0.0.1:5000"], "must be an http:// or https:// URL"),
        (["--origin", "http://127.0.0.1:5000/app"], "must have no path"),
        (["--origin", "http://u:p@127.0.0.1:5000"], "must not carry credentials"),
        (["--origin", "http://127.0.0.1:99999"], "is not a valid URL"),
        (["--allow-origin", "*"], "allowed origin '*' cannot work"),
        (["--allow-origin", "http://x.example/page"], "must look like http://host"),
    ],
)
def test_a_bad_origin_option_exits_2_naming_it(args: list[str], fragment: str) -> None:
    result = CliRunner().invoke(realm_command, ["--port", "0", *args])
    assert result.exit_code == 2, result.output
    assert fragment in result.output
    assert "Traceback" not in result.output


def test_local_realm_refuses_a_bad_origin() -> None:
    with pytest.raises(ValueError, match="must have no path"):
        LocalRealm(origin="http://127.0.0.1:5000/x")
    with GripEnv(origin=False) as env, pytest.raises(ValueError, match="http://"):
        env.realm.set_origin("ftp://127.0.0.1")


def test_set_origin_from_another_thread_takes_effect(
    request: pytest.FixtureRequest,
) -> None:
    with GripEnv(origin=False) as env:
        origin = OriginServer()
        request.addfinalizer(origin.close)
        setter = threading.Thread(target=env.realm.set_origin, args=(origin.url + "/",))
        setter.start()
        setter.join(5)
        assert env.realm.origin == origin.url
        stream = env.stream({"channel": "a"})
        env.wait_streams("a", 1)
        assert origin.app.wait_requests(1)[0]["path"] == "/_fanout/events"
        stream.close()


def test_ensure_embedded_passes_the_origin_and_updates_a_running_realm() -> None:
    app = Flask(__name__)
    app.config.update(
        FANOUT_BACKEND="grip",
        FANOUT_LOCAL_REALM_PORT=free_port(),
        FANOUT_LOCAL_REALM_EMBED=True,
        FANOUT_USE_LOCAL_REALM=True,
    )
    ext = FanoutExt(app)
    with app.app_context():
        config = ext.config
    _embedded.ensure_embedded(config, origin="http://127.0.0.1:5000")
    realm = _embedded.embedded_realm()
    assert realm is not None
    assert realm.origin == "http://127.0.0.1:5000"
    _embedded.ensure_embedded(config, origin="http://127.0.0.1:5001")
    assert _embedded.embedded_realm() is realm
    assert realm.origin == "http://127.0.0.1:5001"
    _embedded.ensure_embedded(config)  # no origin: left as it is
    assert realm.origin == "http://127.0.0.1:5001"
