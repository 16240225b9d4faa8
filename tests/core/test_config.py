"""Reading FANOUT_* settings: defaults, overrides, and errors that name the key."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from flask_fanout import FanoutConfigError
from flask_fanout import FanoutExt
from flask_fanout import _local
from flask_fanout._setting_rules import CLOUD_FAYE_INTEGRITY
from tests.helpers.endpoint import KEY
from tests.helpers.endpoint import KEY_B64
from tests.helpers.endpoint import make_app


def test_local_realm_defaults() -> None:
    app = make_app()
    ext = FanoutExt(app)
    with app.app_context():
        config = ext.config
    assert config.local is True
    assert config.realm_id == _local.LOCAL_REALM_ID
    assert config.realm_key == base64.b64decode(_local.LOCAL_REALM_KEY)
    assert config.publish_url == "http://127.0.0.1:7999/realm/local"
    assert config.bayeux_url == "http://127.0.0.1:7999/bayeux"
    assert config.faye_url is None
    assert config.faye_integrity is None
    assert config.transport_mode == "fallback"
    assert (config.throttle, config.poll_interval, config.poll_connected_interval) == (
        0.5,
        5.0,
        300.0,
    )
    assert config.channel_prefix == ""
    assert config.suppress_send is False
    assert (config.queue_size, config.batch_size, config.timeout) == (10000, 100, 5.0)
    assert config.local_realm_embed == "auto"
    # setdefault: app.config shows the effective values, but no key.
    assert app.config["FANOUT_PUBLISH_URL"] == config.publish_url
    assert app.config["FANOUT_CHANNEL_PREFIX"] == ""
    assert app.config["FANOUT_REALM_KEY"] is None


def test_local_realm_host_and_port() -> None:
    app = make_app(FANOUT_LOCAL_REALM_HOST="::1", FANOUT_LOCAL_REALM_PORT=8123)
    ext = FanoutExt(app)
    with app.app_context():
        assert ext.config.publish_url == "http://[::1]:8123/realm/local"
        assert ext.config.bayeux_url == "http://[::1]:8123/bayeux"


def test_cloud_defaults() -> None:
    app = make_app(FANOUT_REALM_ID="abc123", FANOUT_REALM_KEY=KEY_B64)
    ext = FanoutExt(app)
    with app.app_context():
        config = ext.config
    assert config.local is False
    assert config.realm_key == KEY
    assert config.publish_url == "https://api.fanout.io/realm/abc123"
    assert config.bayeux_url == "https://abc123.fanoutcdn.com/bayeux"
    assert config.faye_url == (
        "https://abc123.fanoutcdn.com/bayeux/static/faye-browser-1.1.2-fanout1-min.js"
    )
    assert config.faye_integrity == CLOUD_FAYE_INTEGRITY
    assert KEY_B64 not in repr(config)
    assert "realm_key" not in repr(config)


def test_custom_faye_url_has_no_default_integrity() -> None:
    app = make_app(
        FANOUT_REALM_ID="abc123",
        FANOUT_REALM_KEY=KEY_B64,
        FANOUT_FAYE_URL="https://cdn.example.com/faye.js",
    )
    ext = FanoutExt(app)
    with app.app_context():
        assert ext.config.faye_url == "https://cdn.example.com/faye.js"
        assert ext.config.faye_integrity is None


def test_suppress_send_follows_testing() -> None:
    app = make_app(TESTING=True)
    ext = FanoutExt(app)
    with app.app_context():
        assert ext.config.suppress_send is True
    app2 = make_app(TESTING=True, FANOUT_SUPPRESS_SEND=False)
    FanoutExt(app2)
    assert app2.config["FANOUT_SUPPRESS_SEND"] is False


def test_options_are_defaults_and_app_config_wins() -> None:
    ext = FanoutExt(channel_prefix="staging-", throttle=1.0)
    app = make_app(FANOUT_THROTTLE=2.0)
    ext.init_app(app)
    with app.app_context():
        assert ext.config.channel_prefix == "staging-"
        assert ext.config.throttle == 2.0


def test_unknown_option() -> None:
    with pytest.raises(TypeError, match="channel_prefx"):
        FanoutExt(channel_prefx="x-")


def test_registration() -> None:
    app = make_app()
    ext = FanoutExt(app)
    assert app.extensions["fanout"] is ext
    assert app.jinja_env.globals["fanout"] is ext
    assert "fanout" in app.cli.commands
    with app.app_context():
        assert ext.channel("comments", 123) == "comments-123"


def test_second_init_app_is_an_error() -> None:
    app = make_app()
    ext = FanoutExt(app)
    with pytest.raises(RuntimeError, match="already initialised"):
        ext.init_app(app)
    with pytest.raises(RuntimeError, match="already initialised"):
        FanoutExt(app)


def test_not_initialised() -> None:
    ext = FanoutExt()
    app = make_app()
    with app.app_context(), pytest.raises(RuntimeError, match="init_app"):
        ext.publish("a", 1)


BAD: list[tuple[dict[str, Any], str, str]] = [
    ({"FANOUT_REALM_ID": "r"}, "FANOUT_REALM_KEY", "required"),
    ({"FANOUT_REALM_ID": "r", "FANOUT_REALM_KEY": ""}, "FANOUT_REALM_KEY", "required"),
    ({"FANOUT_REALM_KEY": KEY_B64}, "FANOUT_REALM_ID", "FANOUT_REALM_KEY is set"),
    (
        {"FANOUT_REALM_ID": "a/b", "FANOUT_REALM_KEY": KEY_B64},
        "FANOUT_REALM_ID",
        "realm id",
    ),
    (
        {"FANOUT_REALM_ID": 12, "FANOUT_REALM_KEY": KEY_B64},
        "FANOUT_REALM_ID",
        "realm id",
    ),
    (
        {"FANOUT_REALM_ID": "r", "FANOUT_REALM_KEY": "not base64!"},
        "FANOUT_REALM_KEY",
        "base64",
    ),
    ({"FANOUT_REALM_ID": "r", "FANOUT_REALM_KEY": 123}, "FANOUT_REALM_KEY", "base64"),
    ({"FANOUT_PUBLISH_URL": "ftp://x/realm/r"}, "FANOUT_PUBLISH_URL", "http"),
    ({"FANOUT_PUBLISH_URL": "/realm/r"}, "FANOUT_PUBLISH_URL", "http"),
    ({"FANOUT_PUBLISH_URL": "http://x/r?a=1"}, "FANOUT_PUBLISH_URL", "query"),
    ({"FANOUT_BAYEUX_URL": "bayeux"}, "FANOUT_BAYEUX_URL", "URL"),
    ({"FANOUT_FAYE_URL": 5}, "FANOUT_FAYE_URL", "URL"),
    (
        {"FANOUT_FAYE_URL": "https://x/faye.js", "FANOUT_FAYE_INTEGRITY": "md5-abc"},
        "FANOUT_FAYE_INTEGRITY",
        "SRI",
    ),
    (
        {"FANOUT_FAYE_INTEGRITY": "sha384-abc"},
        "FANOUT_FAYE_INTEGRITY",
        "FANOUT_FAYE_URL",
    ),
    ({"FANOUT_TRANSPORT_MODE": "websocket"}, "FANOUT_TRANSPORT_MODE", "fallback"),
    ({"FANOUT_THROTTLE": -1}, "FANOUT_THROTTLE", "at least"),
    ({"FANOUT_THROTTLE": "fast"}, "FANOUT_THROTTLE", "number"),
    ({"FANOUT_POLL_INTERVAL": 0}, "FANOUT_POLL_INTERVAL", "greater than"),
    (
        {"FANOUT_POLL_CONNECTED_INTERVAL": True},
        "FANOUT_POLL_CONNECTED_INTERVAL",
        "number",
    ),
    ({"FANOUT_CHANNEL_PREFIX": "a/b-"}, "FANOUT_CHANNEL_PREFIX", "characters"),
    ({"FANOUT_CHANNEL_PREFIX": "x" * 65}, "FANOUT_CHANNEL_PREFIX", "at most"),
    ({"FANOUT_CHANNEL_PREFIX": None}, "FANOUT_CHANNEL_PREFIX", "str"),
    ({"FANOUT_SUPPRESS_SEND": "yes"}, "FANOUT_SUPPRESS_SEND", "True or False"),
    ({"FANOUT_QUEUE_SIZE": 0}, "FANOUT_QUEUE_SIZE", "between"),
    ({"FANOUT_BATCH_SIZE": True}, "FANOUT_BATCH_SIZE", "integer"),
    ({"FANOUT_BATCH_SIZE": 2.5}, "FANOUT_BATCH_SIZE", "integer"),
    ({"FANOUT_TIMEOUT": 0}, "FANOUT_TIMEOUT", "greater than"),
    ({"FANOUT_LOCAL_REALM_PORT": 70000}, "FANOUT_LOCAL_REALM_PORT", "between"),
    ({"FANOUT_LOCAL_REALM_PORT": "7999"}, "FANOUT_LOCAL_REALM_PORT", "integer"),
    ({"FANOUT_LOCAL_REALM_HOST": ""}, "FANOUT_LOCAL_REALM_HOST", "host"),
    ({"FANOUT_LOCAL_REALM_EMBED": "sometimes"}, "FANOUT_LOCAL_REALM_EMBED", "auto"),
    ({"FANOUT_LOCAL_REALM_EMBED": 1}, "FANOUT_LOCAL_REALM_EMBED", "auto"),
    # 0.2: backends, GRIP proxies, byte-bounded batches, the local realm guards.
    ({"FANOUT_BACKEND": "pusher"}, "FANOUT_BACKEND", "'bayeux' or 'grip'"),
    (
        {"FANOUT_BACKEND": "bayeux", "FANOUT_GRIP_URL": "http://127.0.0.1:5561/"},
        "FANOUT_GRIP_URL",
        "FANOUT_BACKEND is 'bayeux'",
    ),
    (
        {"FANOUT_BACKEND": "grip", "FANOUT_REALM_ID": "r", "FANOUT_REALM_KEY": KEY_B64},
        "FANOUT_REALM_ID",
        "Bayeux setting",
    ),
    ({"FANOUT_GRIP_URL": "http://127.0.0.1:5561/"}, "FANOUT_GRIP_URL", "verify-key"),
    ({"FANOUT_GRIP_URL": "ftp://x/?verify-key=k"}, "FANOUT_GRIP_URL", "http://"),
    (
        {"FANOUT_GRIP_URL": "http://u:p@x/?verify-key=k"},
        "FANOUT_GRIP_URL",
        "credentials",
    ),
    ({"FANOUT_GRIP_URL": "http://x/?verfy-key=k"}, "FANOUT_GRIP_URL", "unknown param"),
    (
        {"FANOUT_GRIP_URL": "http://x/publish/?verify-key=k"},
        "FANOUT_GRIP_URL",
        "without /publish/",
    ),
    (
        {"FANOUT_GRIP_URL": "http://x/?verify-key=base64:!!"},
        "FANOUT_GRIP_URL",
        "base64",
    ),
    (
        {"FANOUT_GRIP_URL": "http://x/?iss=a&verify-key=k"},
        "FANOUT_GRIP_URL",
        "needs key=",
    ),
    ({"FANOUT_GRIP_URL": []}, "FANOUT_GRIP_URL", "non-empty list"),
    (
        {"FANOUT_GRIP_URL": ["http://x/?verify-key=k", "http://y/?iss=a"]},
        "FANOUT_GRIP_URL[1]",
        "needs key=",
    ),
    (
        {"FANOUT_GRIP_URL": ["http://x/?verify-key=k", "http://x?verify-key=j"]},
        "FANOUT_GRIP_URL",
        "same proxy twice",
    ),
    (
        {"FANOUT_BACKEND": "grip", "FANOUT_TRANSPORT_MODE": "upgrade"},
        "FANOUT_TRANSPORT_MODE",
        "'upgrade' is a Bayeux",
    ),
    ({"FANOUT_TRANSPORT_MODE": "stream"}, "FANOUT_TRANSPORT_MODE", "bayeux backend"),
    (
        {"FANOUT_BACKEND": "grip", "FANOUT_MAX_CHANNELS": 0},
        "FANOUT_MAX_CHANNELS",
        "between",
    ),
    (
        {"FANOUT_BACKEND": "grip", "FANOUT_KEEP_ALIVE": 0.5},
        "FANOUT_KEEP_ALIVE",
        "at least 1",
    ),
    (
        {"FANOUT_BACKEND": "grip", "FANOUT_LONG_POLL_TIMEOUT": 2},
        "FANOUT_LONG_POLL_TIMEOUT",
        "at least 5",
    ),
    (
        {"FANOUT_BACKEND": "grip", "FANOUT_STREAM_URL": "events"},
        "FANOUT_STREAM_URL",
        "URL",
    ),
    ({"FANOUT_BATCH_BYTES": 100}, "FANOUT_BATCH_BYTES", "between"),
    (
        {"FANOUT_PUBLISH_URL": "http://x/realm/r/publish/"},
        "FANOUT_PUBLISH_URL",
        "without /publish",
    ),
    (
        {"FANOUT_PUBLISH_URL": "https://u:secret@x/realm/r"},
        "FANOUT_PUBLISH_URL",
        "credentials",
    ),
    ({"FANOUT_USE_LOCAL_REALM": "yes"}, "FANOUT_USE_LOCAL_REALM", "auto"),
    (
        {"FANOUT_LOCAL_REALM_HOST": "0.0.0.0"},
        "FANOUT_LOCAL_REALM_HOST",
        "beyond loopback",
    ),
    ({"FANOUT_LOCAL_REALM_HOST": "192.168.1.5"}, "FANOUT_LOCAL_REALM_HOST", "public"),
    ({"FANOUT_LOCAL_REALM_PUBLIC": 1}, "FANOUT_LOCAL_REALM_PUBLIC", "True or False"),
]


@pytest.mark.parametrize(
    ("config", "key", "fragment"),
    BAD,
    ids=[f"{k}-{i}" for i, (_, k, _f) in enumerate(BAD)],
)
def test_config_errors_name_the_key(
    config: dict[str, Any], key: str, fragment: str
) -> None:
    app = make_app(**config)
    ext = FanoutExt()
    with pytest.raises(FanoutConfigError, match=fragment) as info:
        ext.init_app(app)
    assert info.value.key == key
    assert str(info.value).startswith(f"{key}: ")
    assert "fanout" not in app.extensions
    # Nothing was written into app.config: no default outlives the fix.
    given = set(config) | {"FANOUT_USE_LOCAL_REALM"}
    assert {k for k in app.config if k.startswith("FANOUT_")} == given


def test_init_app_after_fixing_a_bad_setting() -> None:
    app = make_app(FANOUT_THROTTLE="fast")
    ext = FanoutExt()
    with pytest.raises(FanoutConfigError, match="FANOUT_THROTTLE"):
        ext.init_app(app)
    # Fixed, and now pointed at a cloud realm: the local realm's URLs,
    # computed by the failed call, must not stick.
    app.config.update(
        FANOUT_THROTTLE=1, FANOUT_REALM_ID="abc123", FANOUT_REALM_KEY=KEY_B64
    )
    ext.init_app(app)
    with app.app_context():
        assert ext.config.publish_url == "https://api.fanout.io/realm/abc123"
        assert ext.config.faye_integrity == CLOUD_FAYE_INTEGRITY
    assert app.config["FANOUT_BAYEUX_URL"] == "https://abc123.fanoutcdn.com/bayeux"


def test_bad_key_is_not_echoed() -> None:
    secret = "c2VjcmV0!!"
    app = make_app(FANOUT_REALM_ID="r", FANOUT_REALM_KEY=secret)
    with pytest.raises(FanoutConfigError) as info:
        FanoutExt(app)
    assert secret not in str(info.value)


def test_urls_lose_trailing_slash_and_relative_bayeux_is_allowed() -> None:
    app = make_app(
        FANOUT_PUBLISH_URL="http://pub.example/realm/x/", FANOUT_BAYEUX_URL="/bayeux"
    )
    ext = FanoutExt(app)
    with app.app_context():
        assert ext.config.publish_url == "http://pub.example/realm/x"
        assert ext.config.bayeux_url == "/bayeux"
