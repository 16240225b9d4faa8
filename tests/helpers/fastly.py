"""A stand-in for Fastly's publish API that checks requests as Fastly documents them.

Fastly's hosted service cannot run here, so this is the one mocked part of
the suite. It accepts only what Fastly's API reference describes
(fastly.com/documentation/reference/api/publishing, and the generated
``PublishItem``/``PublishItemFormats``/``HttpResponseFormat``/
``HttpStreamFormat`` models of the official clients):

* ``POST /service/<service id>/publish/``, the trailing slash required;
* the API token as ``Authorization: Bearer <token>`` or ``Fastly-Key``;
* ``Content-Type: application/json``, a body ``{"items": [...]}``;
* each item: ``channel`` (required), optional ``id`` and ``prev-id``, and
  ``formats`` (required) holding at least one of ``http-response``,
  ``http-stream``, ``ws-message``, each with only its documented fields.

Anything else is refused with the status Fastly would plausibly give (404,
401, 400), and the test sees why in :attr:`FastlyApi.refusals`.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any

from flask_fanout.backends._grip_uri import FASTLY_PUBLIC_KEY_PEM

_ITEM_KEYS = {"channel", "id", "prev-id", "formats"}
_FORMATS = {
    "http-response": {"code", "reason", "headers", "body", "body-bin", "action"},
    "http-stream": {"content", "content-bin", "action"},
    "ws-message": {"content", "content-bin", "action"},
}


@dataclass
class FastlyApi:
    """The running stand-in and what it saw."""

    service_id: str
    token: str
    port: int = 0
    items: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[tuple[int, str]] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    @property
    def grip_url(self) -> str:
        """``FANOUT_GRIP_URL`` for this service, as the docs tell users to write it.

        Only the host differs: Fastly's verification key is the default for
        ``api.fastly.com`` alone, so here it is given explicitly.
        """
        key = base64.b64encode(FASTLY_PUBLIC_KEY_PEM).decode()
        return (
            f"http://127.0.0.1:{self.port}/service/{self.service_id}"
            f"?verify-iss=fastly:{self.service_id}&key={self.token}"
            f"&verify-key=base64:{key}"
        )

    def wait_for_items(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.items) >= count, timeout), (
                self.items,
                self.refusals,
            )
            return list(self.items)


def _problem(
    api: FastlyApi, path: str, headers: Any, raw: bytes
) -> tuple[int, str] | None:
    if path != f"/service/{api.service_id}/publish/":
        return 404, f"no such endpoint {path!r} (the trailing slash is required)"
    auth = headers.get("Authorization", "")
    token = (
        auth.removeprefix("Bearer ")
        if auth.startswith("Bearer ")
        else headers.get("Fastly-Key")
    )
    if token != api.token:
        return 401, "missing or wrong API token"
    if headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
        return 400, "Content-Type must be application/json"
    try:
        body = json.loads(raw)
    except ValueError:
        return 400, "body is not JSON"
    if not isinstance(body, dict) or set(body) != {"items"}:
        return 400, 'body must be {"items": [...]}'
    if not isinstance(body["items"], list) or not body["items"]:
        return 400, "items must be a non-empty list"
    for number, item in enumerate(body["items"]):
        if not isinstance(item, dict) or not set(item) <= _ITEM_KEYS:
            return (
                400,
                f"item {number}: unknown fields {sorted(set(item) - _ITEM_KEYS)}",
            )
        if not isinstance(item.get("channel"), str) or not item["channel"]:
            return 400, f"item {number}: channel is required"
        for key in ("id", "prev-id"):
            if key in item and not isinstance(item[key], str):
                return 400, f"item {number}: {key} must be a string"
        formats = item.get("formats")
        if (
            not isinstance(formats, dict)
            or not formats
            or not set(formats) <= set(_FORMATS)
        ):
            return 400, f"item {number}: formats needs one of {sorted(_FORMATS)}"
        for name, value in formats.items():
            if not isinstance(value, dict) or not set(value) <= _FORMATS[name]:
                return 400, f"item {number}: {name} has unknown fields"
        response = formats.get("http-response")
        if response is not None:
            if "code" in response and not isinstance(response["code"], int):
                return 400, f"item {number}: http-response code must be an integer"
            headers_ = response.get("headers", {})
            if not isinstance(headers_, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in headers_.items()
            ):
                return 400, f"item {number}: http-response headers must map str to str"
        stream = formats.get("http-stream")
        if stream is not None and not isinstance(stream.get("content"), str):
            return 400, f"item {number}: http-stream needs content"
    return None


@contextmanager
def running_fastly_api(
    service_id: str = "SU1Z0isxPaozGVKXdv0eY", token: str = "test-api-token"
) -> Iterator[FastlyApi]:
    """Serve the stand-in on a free loopback port."""
    api = FastlyApi(service_id, token)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            refused = _problem(api, self.path, self.headers, raw)
            with api.cond:
                api.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": raw}
                )
                if refused is None:
                    api.items.extend(json.loads(raw)["items"])
                else:
                    api.refusals.append(refused)
                api.cond.notify_all()
            status, text = refused or (200, "Published")
            data = (text + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    api.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
