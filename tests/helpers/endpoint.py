"""A real publish endpoint on 127.0.0.1 that checks what it receives.

The endpoint is a ``ThreadingHTTPServer`` that does what a Fanout realm's
publish API does: it verifies the bearer JWT with PyJWT (HS256, ``iss``,
``exp``) and parses the body. Tests tell it to fail (any status) or to hold
its answers until released, and wait on its condition variable, never on a
fixed sleep.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any

import jwt
from flask import Flask

from flask_fanout import FanoutExt

REALM = "testrealm"
KEY = b"0123456789abcdef0123456789abcdef"  # 32 bytes: no PyJWT key-length warning
KEY_B64 = base64.b64encode(KEY).decode()


@dataclass
class Received:
    """One POST the endpoint accepted or refused."""

    path: str
    claims: dict[str, Any] | None
    body: Any
    status: int


@dataclass
class Endpoint:
    """A running fake publish endpoint and what it received."""

    host: str
    port: int
    realm: str = REALM
    key: bytes = KEY
    #: When not None, answer every request with this status (after the JWT check).
    fail_status: int | None = None
    fail_body: str = "endpoint says no"
    #: Append the request's bearer token to fail_body (a proxy that echoes it).
    fail_echo_auth: bool = False
    fail_headers: dict[str, str] = field(default_factory=dict)
    #: Refuse (400) any request holding an item on this wire channel, as a
    #: realm refuses a bad item: the whole request.
    refuse_channel: str | None = None
    #: Refuse (413) bodies larger than this, as the local realm does.
    max_body: int | None = None
    #: Answer one byte every this many seconds ("headers" or "body" phase).
    drip: float | None = None
    drip_phase: str = "headers"
    #: With fail_status: answer with a body of this many bytes instead.
    huge_body: int = 0
    #: Set at teardown, so a dripping answer stops at once.
    stopped: threading.Event = field(default_factory=threading.Event)
    #: While cleared, requests are held (until set, or 30 s at most).
    gate: threading.Event = field(default_factory=threading.Event)
    requests: list[Received] = field(default_factory=list)
    #: Items of accepted requests, in arrival order.
    items: list[dict[str, Any]] = field(default_factory=list)
    #: Requests that arrived and are being held at the gate.
    held: int = 0
    cond: threading.Condition = field(default_factory=threading.Condition)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/realm/{self.realm}"

    def wait_for_items(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.items) >= count, timeout)
            assert ok, f"expected {count} items, got {len(self.items)}"
            return list(self.items)

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> list[Received]:
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.requests) >= count, timeout)
            assert ok, f"expected {count} requests, got {len(self.requests)}"
            return list(self.requests)

    def wait_held(self, count: int = 1, timeout: float = 10.0) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: self.held >= count, timeout)


def _make_handler(endpoint: Endpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body are separate writes: without this, Nagle plus the
        # client's delayed ACK adds 40 ms to every answer.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, status: int, text: str) -> None:
            data = text.encode()
            self.send_response(status)
            if status == endpoint.fail_status:
                for name, value in endpoint.fail_headers.items():
                    self.send_header(name, value)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            # The client may have given up first (the FANOUT_TIMEOUT tests).
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(data)

        def _drip(self, data: bytes) -> None:
            assert endpoint.drip is not None
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                for byte in data:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    # The pace of the fault itself; ends early at teardown.
                    if endpoint.stopped.wait(endpoint.drip):
                        return

        def _huge(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(endpoint.huge_body))
            self.end_headers()
            chunk = b"x" * 65536
            left = endpoint.huge_body
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                while left > 0:
                    self.wfile.write(chunk[: min(left, len(chunk))])
                    left -= len(chunk)

        def do_GET(self) -> None:
            """How many items were accepted: for a caller in another process."""
            with endpoint.cond:
                self._answer(200, str(len(endpoint.items)))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            if endpoint.drip is not None:
                with endpoint.cond:
                    endpoint.requests.append(Received(self.path, None, None, 200))
                    endpoint.cond.notify_all()
                head = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
                if endpoint.drip_phase == "headers":
                    self._drip(head + b"Published!")
                else:
                    self.wfile.write(head)
                    self.wfile.flush()
                    self._drip(b"Published!")
                self.close_connection = True
                return
            if endpoint.max_body is not None and length > endpoint.max_body:
                with endpoint.cond:
                    endpoint.requests.append(Received(self.path, None, None, 413))
                    endpoint.cond.notify_all()
                self._answer(413, f"Body larger than {endpoint.max_body} bytes")
                return
            if not endpoint.gate.is_set():
                with endpoint.cond:
                    endpoint.held += 1
                    endpoint.cond.notify_all()
                endpoint.gate.wait(30)
            claims: dict[str, Any] | None = None
            status, text = 200, "Published"
            auth = self.headers.get("Authorization", "")
            if self.path != f"/realm/{endpoint.realm}/publish/":
                status, text = 404, "no such realm"
            elif not auth.startswith("Bearer "):
                status, text = 401, "missing bearer token"
            else:
                try:
                    claims = jwt.decode(
                        auth[len("Bearer ") :],
                        endpoint.key,
                        algorithms=["HS256"],
                        issuer=endpoint.realm,
                        options={"require": ["exp", "iss"]},
                    )
                except jwt.InvalidTokenError as exc:
                    status, text = 401, f"invalid token: {exc}"
            body: Any = None
            if status == 200:
                assert self.headers.get("Content-Type") == "application/json"
                body = json.loads(raw)
                assert set(body) == {"items"}
                for item in body["items"]:
                    assert isinstance(item["channel"], str)
                    assert "json-object" in item
                if endpoint.refuse_channel is not None and any(
                    item["channel"] == endpoint.refuse_channel for item in body["items"]
                ):
                    status, text = (
                        400,
                        f"Item: invalid channel {endpoint.refuse_channel}",
                    )
                elif endpoint.fail_status is not None:
                    status, text = endpoint.fail_status, endpoint.fail_body
                    if endpoint.fail_echo_auth:
                        text += f" (token: {auth.removeprefix('Bearer ')})"
            with endpoint.cond:
                endpoint.requests.append(Received(self.path, claims, body, status))
                if status == 200:
                    endpoint.items.extend(body["items"])
                endpoint.cond.notify_all()
            if status != 200 and endpoint.huge_body:
                self._huge(status)
                return
            self._answer(status, text)

    return Handler


@contextmanager
def running_endpoint() -> Iterator[Endpoint]:
    """Start a fake Fanout publish endpoint on a free loopback port; stop it after."""
    ep = Endpoint(host="127.0.0.1", port=0)
    ep.gate.set()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(ep))
    server.daemon_threads = True
    ep.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield ep
    finally:
        ep.gate.set()
        ep.stopped.set()
        server.shutdown()
        server.server_close()
        thread.join(10)


def make_app(name: str = "testapp", **config: Any) -> Flask:
    """A bare app; running on the local realm is marked as intended.

    Outside development ``init_app`` refuses the local realm unless
    ``FANOUT_USE_LOCAL_REALM`` says it is meant; tests of that rule pass it.
    """
    app = Flask(name)
    app.config["FANOUT_USE_LOCAL_REALM"] = True
    app.config.update(config)
    return app


def sending_app(ext: FanoutExt, url: str, **config: Any) -> Iterator[Flask]:
    """An app of ``ext`` that really sends to the realm at ``url``, closed after.

    A generator, so a test reads ``for app in sending_app(...):`` and the
    sender is flushed and stopped whatever the body did. It has one view,
    ``POST /hint``, that publishes on ``comments-1``.
    """
    app = make_app(
        FANOUT_REALM_ID=REALM,
        FANOUT_REALM_KEY=KEY_B64,
        FANOUT_PUBLISH_URL=url,
        FANOUT_SUPPRESS_SEND=False,
        **config,
    )
    ext.init_app(app)

    @app.post("/hint")
    def hint() -> str:
        ext.publish("comments-1", {"n": 1})
        return "fine"

    yield app
    with app.app_context():
        ext.close(10)
