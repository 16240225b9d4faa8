"""The template helpers and the blueprint serving the bundled browser files.

The integrity hashes are checked against the bytes the blueprint actually
serves (a hand-typed or stale SRI hash silently breaks every page), and every
helper is rendered with a known realm key to prove the key never reaches HTML.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask import render_template_string
from flask.testing import FlaskClient
from flask_talisman import Talisman
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.test import Client

from flask_fanout import FanoutExt
from flask_fanout import _static
from flask_fanout._assets import register_assets
from flask_fanout._assets import render_script
from flask_fanout._settings import FanoutConfig
from flask_fanout.backends.bayeux import BAYEUX

IMMUTABLE = "public, max-age=31536000, immutable"
CDN_FAYE = (
    "https://myrealm.fanoutcdn.com/bayeux/static/faye-browser-1.1.2-fanout1-min.js"
)
CDN_SRI = "sha384-/9uLm3UDnP3tBHstjgZiqLa7fopVRjYmFinSBjz+FPS/ibb2C4aowhIttvYIGGt9"
SCRIPT_SRC = re.compile(r"<script src=\"([^\"]+)\"([^>]*)></script>")
CONFIG_ELEMENT = re.compile(
    r'<script type="application/json" id="flask-fanout-config">(.*?)</script>', re.S
)


def make_config(**overrides: Any) -> FanoutConfig:
    """A local-realm config, built directly so these tests pin only this module."""
    values: dict[str, Any] = {
        "backend": "bayeux",
        "local_realm_public": False,
        "use_local_realm": "auto",
        "grip_url": None,
        "stream_url": None,
        "max_channels": None,
        "keep_alive": None,
        "long_poll_timeout": None,
        "batch_bytes": 256 * 1024,
        "realm_id": "local",
        "realm_key": b"k" * 32,
        "local": True,
        "publish_url": "http://127.0.0.1:7999/realm/local",
        "bayeux_url": "http://127.0.0.1:7999/bayeux",
        "faye_url": None,
        "faye_integrity": None,
        "transport_mode": "fallback",
        "throttle": 0.5,
        "poll_interval": 5.0,
        "poll_connected_interval": 300.0,
        "channel_prefix": "",
        "suppress_send": True,
        "queue_size": 10000,
        "batch_size": 100,
        "timeout": 5.0,
        "local_realm_host": "127.0.0.1",
        "local_realm_port": 7999,
        "local_realm_embed": "auto",
    }
    values.update(overrides)
    return FanoutConfig(**values)


@pytest.fixture
def app() -> Flask:
    app = Flask(__name__)
    register_assets(app)
    return app


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as client:
        yield client


def render(app: Flask, config: FanoutConfig, path: str = "/", **kwargs: Any) -> str:
    with app.test_request_context(path):
        return str(render_script(config, BAYEUX, **kwargs))


def path_of(url: str) -> str:
    """A URL without its ``?v=`` cache-busting digest."""
    return url.split("?", 1)[0]


def scripts(markup: str) -> list[tuple[str, dict[str, str]]]:
    """``(src, attributes)`` of every external script tag, in order."""
    found = []
    for src, rest in SCRIPT_SRC.findall(markup):
        attrs = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        for flag in ("defer", "async"):
            if re.search(rf"\b{flag}\b", rest):
                attrs[flag] = ""
        unescaped = {k: html.unescape(v) for k, v in attrs.items()}
        found.append((html.unescape(src), unescaped))
    return found


def config_json(markup: str) -> dict[str, Any]:
    match = CONFIG_ELEMENT.search(markup)
    assert match, markup
    return json.loads(match.group(1))  # type: ignore[no-any-return]


def sri_of(body: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode()


# ------------------------------------------------------------------ SRI


def test_module_integrity_is_the_hash_of_the_served_bytes(
    app: Flask, client: FlaskClient
) -> None:
    [(src, attrs)] = scripts(render(app, make_config()))
    assert path_of(src) == f"/_fanout/static/{_static.module_filename('bayeux')}"
    response = client.get(src)
    assert response.status_code == 200
    assert attrs["integrity"] == sri_of(response.data)
    assert attrs["crossorigin"] == "anonymous"
    assert "defer" in attrs


def test_eager_faye_comes_first_with_its_own_integrity(
    app: Flask, client: FlaskClient
) -> None:
    markup = render(app, make_config(), lazy=False)
    (faye_src, faye_attrs), (module_src, _) = scripts(markup)
    assert path_of(faye_src) == f"/_fanout/static/{_static.faye_filename()}"
    assert path_of(module_src).endswith(_static.module_filename("bayeux"))
    assert faye_attrs["integrity"] == sri_of(client.get(faye_src).data)
    assert faye_attrs["crossorigin"] == "anonymous"
    assert config_json(markup)["lazy"] is False


def test_lazy_by_default_renders_no_faye_tag_but_tells_the_module_where_it_is(
    app: Flask, client: FlaskClient
) -> None:
    markup = render(app, make_config())
    assert [src for src, _ in scripts(markup) if "faye" in src] == []
    settings = config_json(markup)
    assert settings["lazy"] is True
    assert path_of(settings["fayeUrl"]) == f"/_fanout/static/{_static.faye_filename()}"
    assert settings["fayeIntegrity"] == sri_of(client.get(settings["fayeUrl"]).data)


def test_urls_carry_a_digest_of_the_content(app: Flask, client: FlaskClient) -> None:
    """A rebuilt file gets a new URL even when its version did not change."""
    markup = render(app, make_config(), lazy=False)
    for src, _ in scripts(markup):
        digest = src.split("?v=", 1)[1]
        body = client.get(src).data
        assert digest == hashlib.sha256(body).hexdigest()[:12]


def test_config_element_comes_before_the_module() -> None:
    app = Flask(__name__)
    register_assets(app)
    markup = render(app, make_config())
    assert markup.index('id="flask-fanout-config"') < markup.index("<script src=")


def test_cloud_realm_uses_the_configured_cdn_faye() -> None:
    app = Flask(__name__)
    register_assets(app)
    config = make_config(
        realm_id="myrealm",
        local=False,
        bayeux_url="https://myrealm.fanoutcdn.com/bayeux",
        faye_url=CDN_FAYE,
        faye_integrity=CDN_SRI,
    )
    markup = render(app, config, lazy=False)
    (faye_src, faye_attrs), _ = scripts(markup)
    assert faye_src == CDN_FAYE
    assert faye_attrs["integrity"] == CDN_SRI
    settings = config_json(markup)
    assert settings["fayeUrl"] == CDN_FAYE
    assert settings["fayeIntegrity"] == CDN_SRI
    assert settings["bayeuxUrl"] == "https://myrealm.fanoutcdn.com/bayeux"


def test_configured_integrity_overrides_the_bundled_hash(app: Flask) -> None:
    wrong = "sha384-" + "A" * 64
    settings = config_json(render(app, make_config(faye_integrity=wrong)))
    assert settings["fayeIntegrity"] == wrong
    assert path_of(settings["fayeUrl"]).endswith(_static.faye_filename())


def test_client_settings_are_rendered_in_milliseconds(
    app: Flask,
) -> None:
    config = make_config(
        throttle=0.25,
        poll_interval=2.5,
        poll_connected_interval=60.0,
        transport_mode="upgrade",
        channel_prefix="staging-",
    )
    settings = config_json(render(app, config))
    assert (
        path_of(settings.pop("fayeUrl")) == f"/_fanout/static/{_static.faye_filename()}"
    )
    assert settings == {
        "backend": "bayeux",
        # The local realm is advertised on the host the page was asked on.
        "bayeuxUrl": "http://localhost:7999/bayeux",
        "fayeIntegrity": _static.sri(_static.faye_filename()),
        "transportMode": "upgrade",
        "throttle": 250,
        "pollInterval": 2500,
        "pollConnectedInterval": 60000,
        "channelPrefix": "staging-",
        "nonce": None,
        "lazy": True,
    }


# --------------------------------------------------------------- caching


@pytest.mark.parametrize(
    "filename",
    [
        *(_static.module_filename(b) for b in ("bayeux", "grip")),
        *(_static.esm_filename(b) for b in ("bayeux", "grip")),
        _static.faye_filename(),
    ],
)
def test_versioned_files_are_cached_forever(client: FlaskClient, filename: str) -> None:
    response = client.get(f"/_fanout/static/{filename}")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == IMMUTABLE
    assert response.data == _static.static_path(filename).read_bytes()
    assert "javascript" in response.content_type


def test_revalidation_answers_not_modified(client: FlaskClient) -> None:
    url = f"/_fanout/static/{_static.module_filename('bayeux')}"
    etag = client.get(url).headers["ETag"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304


@pytest.mark.parametrize(
    "filename",
    [
        "flask-fanout.d.ts",
        "faye-LICENSE.txt",
        "flask-fanout-0.0.0-not-this-version.min.js",
        "flask-fanout-0.0.1.min.js",
        "faye-browser-9.9.9.min.js",
        "nothing-here.js",
        "../_static.py",
        "%2e%2e/_static.py",
        "sub/dir/flask-fanout.min.js",
        ".hidden",
    ],
)
def test_anything_but_a_versioned_shipped_file_is_404(
    client: FlaskClient, filename: str
) -> None:
    response = client.get(f"/_fanout/static/{filename}")
    assert response.status_code == 404
    assert "immutable" not in response.headers.get("Cache-Control", "")


def test_the_apps_own_static_folder_does_not_shadow_ours(tmp_path: Any) -> None:
    (tmp_path / "app.css").write_text("body {}")
    (tmp_path / _static.module_filename("bayeux")).write_text("not ours")
    app = Flask(__name__, static_folder=str(tmp_path), static_url_path="/static")
    register_assets(app)
    client = app.test_client()
    own = client.get("/static/app.css")
    assert own.data == b"body {}"
    own.close()
    ours = client.get(f"/_fanout/static/{_static.module_filename('bayeux')}")
    assert (
        ours.data == _static.static_path(_static.module_filename("bayeux")).read_bytes()
    )


def test_registering_twice_is_harmless(app: Flask) -> None:
    register_assets(app)
    assert "fanout" in app.blueprints


# ---------------------------------------------------------------- nonce


def test_no_nonce_when_none_is_given_or_available(app: Flask) -> None:
    markup = render(app, make_config(), lazy=False)
    assert "nonce=" not in markup
    assert config_json(markup)["nonce"] is None


def test_nonce_from_the_argument_goes_on_every_tag_and_into_the_config(
    app: Flask,
) -> None:
    markup = render(app, make_config(), nonce="abc123", lazy=False)
    tags = scripts(markup)
    assert len(tags) == 2
    assert all(attrs["nonce"] == "abc123" for _, attrs in tags)
    assert config_json(markup)["nonce"] == "abc123"


def test_nonce_is_escaped(app: Flask) -> None:
    markup = render(app, make_config(), nonce='x"><script>alert(1)</script>')
    assert "<script>alert(1)" not in markup
    [(_, attrs)] = scripts(markup)
    assert attrs["nonce"] == 'x"><script>alert(1)</script>'


def _talisman_app(template: str) -> Flask:
    """An app behind Flask-Talisman's nonce CSP whose ``/`` renders ``template``."""
    app = Flask(__name__)
    app.testing = True
    FanoutExt(app)
    Talisman(
        app,
        force_https=False,
        content_security_policy={"script-src": "'strict-dynamic'"},
        content_security_policy_nonce_in=["script-src"],
    )

    @app.get("/")
    def index() -> str:
        return render_template_string(template)

    return app


def test_nonce_from_flask_talisman_matches_its_csp_header() -> None:
    app = _talisman_app("{{ fanout.script(lazy=False) }}")
    response = app.test_client().get("/")
    policy = response.headers["Content-Security-Policy"]
    header_nonce = re.search(r"'nonce-([^']+)'", policy)
    assert header_nonce
    markup = response.get_data(as_text=True)
    tags = scripts(markup)
    assert len(tags) == 2
    assert {attrs["nonce"] for _, attrs in tags} == {header_nonce.group(1)}
    assert config_json(markup)["nonce"] == header_nonce.group(1)


def test_explicit_nonce_wins_over_talisman() -> None:
    app = _talisman_app("{{ fanout.script(nonce='mine') }}")
    [(_, attrs)] = scripts(app.test_client().get("/").get_data(as_text=True))
    assert attrs["nonce"] == "mine"


# -------------------------------------------------------------- escaping


def test_config_json_cannot_break_out_of_its_script_element(app: Flask) -> None:
    evil = "</script><script>alert(1)</script><!--&"
    markup = render(
        app,
        make_config(channel_prefix=evil, bayeux_url="http://h/bayeux?a=1&b=<x>"),
    )
    element = CONFIG_ELEMENT.search(markup)
    assert element
    body = element.group(1)
    assert "<" not in body and ">" not in body and "&" not in body
    assert "\\u003c/script\\u003e" in body
    settings = json.loads(body)
    assert settings["channelPrefix"] == evil
    assert settings["bayeuxUrl"] == "http://h/bayeux?a=1&b=<x>"
    # Exactly one config element and one module tag: nothing was injected.
    assert markup.count("<script") == 2


# ---------------------------------------------------------- mount points


def test_urls_follow_script_name() -> None:
    """Mounted under a prefix, the tags point inside the mount, and work."""
    app = Flask(__name__)
    register_assets(app)

    @app.get("/")
    def index() -> str:
        return str(render_script(make_config(), BAYEUX, lazy=False))

    mounted = DispatcherMiddleware(Flask("root"), {"/mounted": app})
    client = Client(mounted)
    markup = client.get("/mounted/").get_data(as_text=True)
    srcs = [src for src, _ in scripts(markup)]
    assert [path_of(src) for src in srcs] == [
        f"/mounted/_fanout/static/{_static.faye_filename()}",
        f"/mounted/_fanout/static/{_static.module_filename('bayeux')}",
    ]
    assert config_json(markup)["fayeUrl"] == srcs[0]
    for src, attrs in scripts(markup):
        served = client.get(src)
        assert served.status_code == 200
        assert attrs["integrity"] == sri_of(served.get_data())


def test_rendering_outside_a_request_uses_application_root() -> None:
    app = Flask(__name__)
    app.config["APPLICATION_ROOT"] = "/blog"
    register_assets(app)
    with app.app_context():
        markup = str(render_script(make_config(), BAYEUX))
    [(src, _)] = scripts(markup)
    assert path_of(src) == f"/blog/_fanout/static/{_static.module_filename('bayeux')}"


def test_rendering_outside_a_request_with_server_name() -> None:
    app = Flask(__name__)
    app.config["SERVER_NAME"] = "example.test"
    register_assets(app)
    with app.app_context():
        markup = str(render_script(make_config(), BAYEUX))
    [(src, _)] = scripts(markup)
    assert path_of(src).endswith(f"/_fanout/static/{_static.module_filename('bayeux')}")
