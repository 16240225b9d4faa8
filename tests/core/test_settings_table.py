"""The settings table itself, the backend choice, and the local realm's guards."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from typing import Any

import pytest
from flask import Flask

from flask_fanout import FanoutConfig
from flask_fanout import FanoutConfigError
from flask_fanout import FanoutConfigWarning
from flask_fanout import FanoutExt
from flask_fanout._settings import SETTINGS
from tests.helpers.endpoint import KEY_B64
from tests.helpers.endpoint import make_app
from tests.helpers.grip import proxy_uri

CONFIG_ELEMENT = re.compile(r'id="flask-fanout-config">(.*?)</script>', re.S)


def test_every_field_is_a_setting_or_derived_and_every_option_a_field() -> None:
    fields = {f.name: f for f in dataclasses.fields(FanoutConfig)}
    settings = {s.field for s in SETTINGS}
    derived = {n for n, f in fields.items() if "derived" in f.metadata}
    assert settings | derived == set(fields)
    assert derived == {"local"}
    assert len({s.key for s in SETTINGS}) == len(SETTINGS)
    for row in SETTINGS:
        assert row.key.startswith("FANOUT_")
        assert row.meaning and row.default
        assert set(row.backends) <= {"bayeux", "grip"}
    # FanoutExt's keyword options are the field names, no more, no fewer.
    with pytest.raises(TypeError, match="expected some of: backend, "):
        FanoutExt(nope=1)


def test_an_unknown_key_warns_once_naming_the_closest() -> None:
    app = make_app(FANOUT_REALMID="abc")
    with pytest.warns(FanoutConfigWarning, match="did you mean FANOUT_REALM_ID"):
        FanoutExt(app)
    # Once per key and process.
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FanoutExt(make_app("again", FANOUT_REALMID="abc"))


def test_the_backend_follows_the_grip_url() -> None:
    bayeux_app = make_app("b")
    grip_app = make_app("g", FANOUT_GRIP_URL=proxy_uri("http://127.0.0.1:5561"))
    bayeux, grip = FanoutExt(bayeux_app), FanoutExt(grip_app)
    for app, ext, name in ((bayeux_app, bayeux, "bayeux"), (grip_app, grip, "grip")):
        with app.app_context():
            assert ext.config.backend == name
    with grip_app.app_context():
        config = grip.config
        assert config.local is False
        assert config.publish_url is None and config.bayeux_url is None
        assert [p.control_uri for p in config.grip_url or ()] == [
            "http://127.0.0.1:5561"
        ]


def test_grip_without_a_proxy_is_the_local_realm() -> None:
    app = make_app(FANOUT_BACKEND="grip")
    ext = FanoutExt(app)
    with app.app_context():
        config = ext.config
    assert config.local
    [proxy] = config.grip_url or ()
    assert proxy.control_uri == "http://127.0.0.1:7999"
    assert proxy.iss == "local"
    # The development key never lands in app.config.
    assert app.config["FANOUT_GRIP_URL"] is None


def _page_settings(app: Flask, host: str) -> dict[str, object]:
    @app.get("/page")
    def page() -> str:
        return str(app.extensions["fanout"].script())

    html = app.test_client().get("/page", headers={"Host": host}).get_data(as_text=True)
    result: dict[str, object] = json.loads(CONFIG_ELEMENT.search(html).group(1))  # type: ignore[union-attr]
    return result


@pytest.mark.parametrize("backend", ["bayeux", "grip"])
def test_a_wildcard_bind_is_advertised_on_the_pages_own_host(backend: str) -> None:
    # In 0.1 pages were told to connect to http://0.0.0.0:7999/bayeux.
    app = make_app(
        FANOUT_BACKEND=backend,
        FANOUT_LOCAL_REALM_HOST="0.0.0.0",
        FANOUT_LOCAL_REALM_PUBLIC=True,
    )
    FanoutExt(app)
    settings = _page_settings(app, "192.168.1.20:5000")
    key = "bayeuxUrl" if backend == "bayeux" else "streamUrl"
    path = "/bayeux" if backend == "bayeux" else "/_fanout/events"
    assert settings[key] == f"http://192.168.1.20:7999{path}"
    assert settings["backend"] == backend


def test_grip_pages_get_only_browser_settings() -> None:
    app = make_app(FANOUT_GRIP_URL=proxy_uri("http://127.0.0.1:5561"))
    FanoutExt(app)
    settings = _page_settings(app, "example.test")
    assert settings == {
        "backend": "grip",
        "streamUrl": "/_fanout/events",
        "maxChannels": 20,
        "keepAlive": 20000,
        "longPollTimeout": 25000,
        "transportMode": "fallback",
        "throttle": 500,
        "pollInterval": 5000,
        "pollConnectedInterval": 300000,
        "channelPrefix": "",
        "nonce": None,
        "lazy": True,
    }


def test_the_local_realm_is_refused_outside_development(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # In 0.1 an app deployed without FANOUT_REALM_ID, under gunicorn, logged
    # nothing and every page fell back to 5-second polling.
    monkeypatch.delenv("FLASK_RUN_FROM_CLI", raising=False)
    monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)
    with pytest.raises(FanoutConfigError) as info:
        FanoutExt(make_app(FANOUT_USE_LOCAL_REALM="auto"))
    assert info.value.key == "FANOUT_USE_LOCAL_REALM"
    assert "FANOUT_REALM_ID" in str(info.value)
    with pytest.raises(FanoutConfigError, match="FANOUT_GRIP_URL"):
        FanoutExt(make_app(FANOUT_USE_LOCAL_REALM="auto", FANOUT_BACKEND="grip"))
    with pytest.raises(FanoutConfigError):
        FanoutExt(make_app(FANOUT_USE_LOCAL_REALM=False, TESTING=True))


@pytest.mark.parametrize(
    ("env", "config"),
    [
        ({}, {"TESTING": True}),
        ({}, {"DEBUG": True}),
        ({"FLASK_RUN_FROM_CLI": "true"}, {}),
        ({"WERKZEUG_RUN_MAIN": "true"}, {}),
        ({}, {"FANOUT_USE_LOCAL_REALM": True}),
    ],
    ids=["testing", "debug", "flask-cli", "reloader", "intended"],
)
def test_the_local_realm_is_fine_in_development(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], config: dict[str, object]
) -> None:
    monkeypatch.delenv("FLASK_RUN_FROM_CLI", raising=False)
    monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings: dict[str, Any] = {"FANOUT_USE_LOCAL_REALM": "auto", **config}
    app = make_app(**settings)
    app.debug = bool(config.get("DEBUG"))
    FanoutExt(app)


def test_a_configured_realm_needs_no_permission() -> None:
    FanoutExt(
        make_app(
            FANOUT_USE_LOCAL_REALM="auto", FANOUT_REALM_ID="r", FANOUT_REALM_KEY=KEY_B64
        )
    )


def test_start_up_says_which_backend_in_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "flask_fanout")
    FanoutExt(make_app("one"))
    FanoutExt(make_app("two", FANOUT_GRIP_URL=proxy_uri("http://127.0.0.1:5561")))
    lines = [r.getMessage() for r in caplog.records if r.name == "flask_fanout"]
    assert lines == [
        "Flask-Fanout on app 'one': Bayeux backend on the local realm",
        "Flask-Fanout on app 'two': GRIP backend via http://127.0.0.1:5561",
    ]
