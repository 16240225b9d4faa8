"""The stream endpoint's answers, as the app gives them to the GRIP proxy.

These drive the view with Flask's test client and hand-made Grip-Sig
headers, to pin every branch of what the app says (status, Grip-* headers,
body). That the proxies then do the right thing with it is tested against a
real Pushpin and the local realm in ``tests/grip``.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import pytest
from flask import Flask
from flask import session
from flask.testing import FlaskClient

from flask_fanout import FanoutExt
from tests.helpers.grip import SIG_ISS
from tests.helpers.grip import es256_pair
from tests.helpers.grip import grip_app
from tests.helpers.grip import grip_sig
from tests.helpers.grip import proxy_uri

PROXY = proxy_uri("http://127.0.0.1:9")


@pytest.fixture
def ext() -> FanoutExt:
    return FanoutExt()


@pytest.fixture
def app(ext: FanoutExt) -> Iterator[Flask]:
    app = grip_app(PROXY, FANOUT_CHANNEL_PREFIX="staging-", FANOUT_MAX_CHANNELS=3)

    @ext.authorize_channel
    def can_read(channel: str) -> bool:
        if channel == "broken":
            raise RuntimeError("the database is down")
        if channel.startswith("private-"):
            return session.get("user") is not None
        return True

    ext.init_app(app)

    @app.post("/login")
    def login() -> str:
        session["user"] = "ada"
        return "in"

    yield app
    with app.app_context():
        ext.close(5)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def events(body: str) -> list[dict[str, str]]:
    """Parse an SSE body into its events (fields by name)."""
    parsed = []
    for block in body.split("\n\n"):
        if not block.strip():
            continue
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            name, _, value = line.partition(": ")
            fields[name] = value
        parsed.append(fields)
    return parsed


def get(
    client: FlaskClient, query: str, sig: str | None = None
) -> tuple[int, dict[str, str], str]:
    headers = {} if sig is None else {"Grip-Sig": sig}
    response = client.get(f"/_fanout/events?{query}", headers=headers)
    return response.status_code, dict(response.headers), response.get_data(as_text=True)


def test_a_signed_request_is_held_as_a_stream(client: FlaskClient) -> None:
    status, headers, body = get(client, "channel=a&channel=b", grip_sig())
    assert status == 200
    assert headers["Content-Type"].startswith("text/event-stream")
    assert headers["Grip-Hold"] == "stream"
    assert headers["Grip-Channel"] == "staging-a, staging-b"
    assert headers["Grip-Keep-Alive"] == (
        "event: keep-alive\\ndata: {}\\n\\n; format=cstring; timeout=20"
    )
    assert headers["Cache-Control"] == "no-store"
    [ready] = events(body)
    assert ready["event"] == "ready"
    assert ready["retry"] == "2000"
    assert json.loads(ready["data"]) == {"channels": ["a", "b"], "denied": []}


def test_duplicate_channels_are_held_once(client: FlaskClient) -> None:
    _, headers, _ = get(client, "channel=a&channel=a", grip_sig())
    assert headers["Grip-Channel"] == "staging-a"


@pytest.mark.parametrize(
    ("sig", "reason"),
    [
        (None, "missing"),
        (grip_sig(key=b"another-key-of-32-bytes-length!!"), "wrong signature"),
        (grip_sig(exp=int(time.time()) - 3600), "expired"),
        (grip_sig(iss="someone-else"), "refused"),
        (grip_sig(iss=None), "refused"),
        ("not-a-jwt", "invalid"),
        (grip_sig(key=es256_pair()[0], algorithm="ES256"), "not signed with HS256"),
    ],
)
def test_a_request_without_a_valid_grip_sig_is_never_held(
    client: FlaskClient, sig: str | None, reason: str
) -> None:
    status, headers, body = get(client, "channel=a", sig)
    assert status == 403
    assert not any(name.lower().startswith("grip-") for name in headers)
    assert headers["Content-Type"].startswith("text/plain")
    assert reason in body
    assert "GRIP proxy" in body


def test_es256_grip_sig_with_a_p256_key(ext: FanoutExt) -> None:
    private_pem, public_pem = es256_pair()
    encoded = base64.b64encode(public_pem).decode()
    app = grip_app(
        f"https://proxy.example/?verify-key=base64:{encoded}&verify-iss=fastly:SID"
    )
    ext.init_app(app)
    client = app.test_client()
    good = grip_sig(key=private_pem, iss="fastly:SID", algorithm="ES256")
    assert get(client, "channel=a", good)[1]["Grip-Hold"] == "stream"
    forged = grip_sig(
        key=es256_pair.__wrapped__()[0], iss="fastly:SID", algorithm="ES256"
    )
    assert get(client, "channel=a", forged)[0] == 403
    # HS256 with the public key as the secret: the classic confusion attack.
    confused = grip_sig(key=b"x" * 32, iss="fastly:SID")
    assert get(client, "channel=a", confused)[0] == 403


def test_fastly_uris_verify_with_fastlys_published_key() -> None:
    from flask_fanout.backends._grip_uri import FASTLY_PUBLIC_KEY_PEM
    from flask_fanout.backends._grip_uri import parse_proxy

    proxy = parse_proxy(
        "https://api.fastly.com/service/SID?verify-iss=fastly:SID&key=TOKEN"
    )
    assert proxy.verifier is not None
    assert proxy.verifier.algorithm == "ES256"
    assert proxy.verifier.key == FASTLY_PUBLIC_KEY_PEM
    assert proxy.verifier.issuer == "fastly:SID"
    assert (proxy.iss, proxy.key) == (None, "TOKEN")
    assert proxy.publish_url == "https://api.fastly.com/service/SID/publish/"


def test_cryptography_is_present_for_es256() -> None:
    # gripcontrol's validate_sig silently returns False without it, which
    # would refuse every Fastly request; PyJWT must really have it.
    import jwt.algorithms

    assert jwt.algorithms.has_crypto
    import cryptography  # noqa: F401


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("", "at least one channel"),
        ("channel=a&channel=b&channel=c&channel=d", "limit is 3 (FANOUT_MAX_CHANNELS)"),
        ("channel=a/b", "single Bayeux segment"),
        ("channel=meta", "reserved"),
        ("channel=" + "x" * 129, "limit is 128"),
    ],
)
def test_bad_channels_are_refused_with_a_400_naming_the_problem(
    client: FlaskClient, query: str, fragment: str
) -> None:
    status, headers, body = get(client, query, grip_sig())
    assert status == 400
    assert "Grip-Hold" not in headers
    assert fragment in body


def test_a_private_channel_is_readable_only_after_login(client: FlaskClient) -> None:
    _, headers, body = get(client, "channel=private-3", grip_sig())
    assert "Grip-Hold" not in headers
    [ready] = events(body)
    assert json.loads(ready["data"]) == {"channels": [], "denied": ["private-3"]}
    client.post("/login")
    _, headers, body = get(client, "channel=private-3", grip_sig())
    assert headers["Grip-Channel"] == "staging-private-3"
    assert json.loads(events(body)[0]["data"])["channels"] == ["private-3"]


def test_one_denied_channel_among_several_is_left_out(client: FlaskClient) -> None:
    _, headers, body = get(client, "channel=a&channel=private-3&channel=b", grip_sig())
    assert headers["Grip-Hold"] == "stream"
    assert headers["Grip-Channel"] == "staging-a, staging-b"
    assert json.loads(events(body)[0]["data"]) == {
        "channels": ["a", "b"],
        "denied": ["private-3"],
    }


def test_a_failing_authorizer_is_temporary(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    status, headers, body = get(client, "channel=a&channel=broken", grip_sig())
    # 200, never held: the EventSource reconnects by itself after `retry`.
    assert status == 200
    assert "Grip-Hold" not in headers
    [event] = events(body)
    assert (event["event"], event["retry"]) == ("unavailable", "5000")
    assert "the channel authorizer raised" in caplog.text


def test_long_poll_hold(client: FlaskClient) -> None:
    status, headers, body = get(client, "channel=a&mode=poll", grip_sig())
    assert status == 200
    assert headers["Grip-Hold"] == "response"
    assert headers["Grip-Channel"] == "staging-a"
    assert headers["Grip-Timeout"] == "25"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {
        "channels": ["a"],
        "denied": [],
        "hints": [],
        "retry": None,
    }


def test_long_poll_with_a_denied_channel_answers_at_once(client: FlaskClient) -> None:
    _, headers, body = get(client, "channel=a&channel=private-3&mode=poll", grip_sig())
    assert "Grip-Hold" not in headers
    assert json.loads(body)["denied"] == ["private-3"]


def test_long_poll_when_the_authorizer_fails(client: FlaskClient) -> None:
    _, headers, body = get(client, "channel=broken&mode=poll", grip_sig())
    assert "Grip-Hold" not in headers
    assert json.loads(body)["retry"] == 5000


def test_without_an_authorizer_every_channel_is_readable() -> None:
    ext = FanoutExt()
    app = grip_app(PROXY)
    ext.init_app(app)
    _, headers, _ = get(app.test_client(), "channel=private-3", grip_sig())
    assert headers["Grip-Channel"] == "private-3"


def test_the_verify_iss_is_optional() -> None:
    ext = FanoutExt()
    app = grip_app(proxy_uri("http://127.0.0.1:9", iss=None))
    ext.init_app(app)
    sig = grip_sig(iss="anything")
    assert get(app.test_client(), "channel=a", sig)[1]["Grip-Hold"] == "stream"


def test_keep_alive_and_long_poll_timeout_settings() -> None:
    ext = FanoutExt()
    app = grip_app(PROXY, FANOUT_KEEP_ALIVE=7, FANOUT_LONG_POLL_TIMEOUT=9)
    ext.init_app(app)
    client = app.test_client()
    assert get(client, "channel=a", grip_sig())[1]["Grip-Keep-Alive"].endswith(
        "timeout=7"
    )
    assert get(client, "channel=a&mode=poll", grip_sig())[1]["Grip-Timeout"] == "9"


def test_the_iss_the_app_expects_is_the_proxys(client: FlaskClient) -> None:
    assert SIG_ISS == "pushpin"
    assert get(client, "channel=a", grip_sig(iss="pushpin"))[0] == 200
