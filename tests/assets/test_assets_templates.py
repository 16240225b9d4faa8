"""The helpers as templates use them: the ``fanout`` global and the macros.

The central promise is tested here: no rendered helper ever carries the realm
key, in any encoding.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask import render_template_string

from flask_fanout import FanoutExt
from flask_fanout import _local
from flask_fanout import _static

#: A recognisable 32-byte key (PyJWT warns on shorter ones).
RAW_KEY = b"super-secret-realm-key-0123456789"
REALM_KEY = base64.b64encode(RAW_KEY).decode()

EVERY_HELPER = """
{% from "fanout/macros.html" import fanout_script, fanout_channel %}
{% from "fanout/macros.html" import fanout_channel_attrs %}
<head>
{{ fanout.script() }}
{{ fanout.script(lazy=False) }}
{{ fanout.script(nonce="n0nce") }}
{{ fanout_script() }}
{{ fanout_script(nonce="n0nce", lazy=False) }}
</head>
<body>
<p id="ch">{{ fanout.channel("comments", 42) }}</p>
<p id="mch">{{ fanout_channel("comments", 42) }}</p>
<section id="s"{{ fanout_channel_attrs("comments", 42, comments_url=url) }}></section>
</body>
"""


def secret_forms(raw: bytes, b64: str) -> list[str]:
    """Every way a key could leak into text."""
    return [
        b64,
        b64.rstrip("="),
        base64.urlsafe_b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        raw.decode("latin-1"),
        raw.hex(),
        json.dumps(raw.decode("latin-1")),
    ]


@pytest.fixture
def cloud_app() -> Iterator[Flask]:
    app = Flask(__name__)
    app.config.update(
        TESTING=True,
        FANOUT_REALM_ID="myrealm",
        FANOUT_REALM_KEY=REALM_KEY,
        FANOUT_CHANNEL_PREFIX="staging-",
    )
    FanoutExt(app)

    @app.get("/")
    def every_helper() -> str:
        return render_template_string(EVERY_HELPER, url="/c?a=1&b=2")

    yield app


def test_no_helper_ever_renders_the_realm_key(cloud_app: Flask) -> None:
    page = cloud_app.test_client().get("/").get_data(as_text=True)
    assert "flask-fanout-config" in page
    for form in secret_forms(RAW_KEY, REALM_KEY):
        assert form not in page, f"the realm key leaked as {form!r}"


def test_no_helper_renders_the_local_realm_key_either() -> None:
    app = Flask(__name__)
    app.config.update(TESTING=True)
    FanoutExt(app)
    with app.test_request_context("/"):
        page = render_template_string(EVERY_HELPER, url="/c")
    raw = base64.b64decode(_local.LOCAL_REALM_KEY)
    for form in secret_forms(raw, _local.LOCAL_REALM_KEY):
        assert form not in page, f"the local realm key leaked as {form!r}"


def test_every_config_element_holds_only_browser_settings(cloud_app: Flask) -> None:
    page = cloud_app.test_client().get("/").get_data(as_text=True)
    bodies = re.findall(r'id="flask-fanout-config">(.*?)</script>', page)
    assert len(bodies) == 5
    for body in bodies:
        settings = json.loads(body)
        assert set(settings) == {
            "backend",
            "bayeuxUrl",
            "fayeUrl",
            "fayeIntegrity",
            "transportMode",
            "throttle",
            "pollInterval",
            "pollConnectedInterval",
            "channelPrefix",
            "nonce",
            "lazy",
        }
        assert settings["channelPrefix"] == "staging-"
        assert settings["bayeuxUrl"] == "https://myrealm.fanoutcdn.com/bayeux"
        assert settings["fayeUrl"].startswith("https://myrealm.fanoutcdn.com/")


def test_macros_render_what_the_global_does(cloud_app: Flask) -> None:
    with cloud_app.test_request_context("/"):
        via_macro = render_template_string(
            '{% from "fanout/macros.html" import fanout_script %}'
            "{{ fanout_script(nonce='n', lazy=False) }}"
        )
        via_global = render_template_string(
            "{{ fanout.script(nonce='n', lazy=False) }}"
        )
    assert via_macro == via_global
    assert _static.module_filename("bayeux") in via_macro


def test_channel_helpers_give_the_logical_name(cloud_app: Flask) -> None:
    page = cloud_app.test_client().get("/").get_data(as_text=True)
    # The logical name: the prefix is the JS module's job on subscribe.
    assert '<p id="ch">comments-42</p>' in page
    assert '<p id="mch">comments-42</p>' in page
    assert (
        '<section id="s" data-fanout-channel="comments-42"'
        ' data-comments-url="/c?a=1&amp;b=2"></section>'
    ) in page


def test_channel_attrs_escape_their_values(cloud_app: Flask) -> None:
    with cloud_app.test_request_context("/"):
        out = render_template_string(
            '{% from "fanout/macros.html" import fanout_channel_attrs %}'
            "<i{{ fanout_channel_attrs('c', 1, x='\"><script>') }}>"
        )
    assert "<script>" not in out
    assert 'data-x="&#34;&gt;&lt;script&gt;"' in out
