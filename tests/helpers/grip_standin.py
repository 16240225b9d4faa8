"""The local realm as a GRIP proxy, in front of a real origin, for tests.

:class:`GripEnv` starts the tiny GRIP origin (``tests/helpers/apps/
grip_origin.py``) on a threaded werkzeug server and a :class:`LocalRealm`
forwarding to it, both on free loopback ports, and stops both on exit.
Waiting is on the realm's ``/stats`` gauges (``grip`` section), never on
sleeps.
"""

from __future__ import annotations

import dataclasses
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any

import requests
from werkzeug.serving import BaseWSGIServer
from werkzeug.serving import WSGIRequestHandler
from werkzeug.serving import make_server

from flask_fanout.realm import Limits
from flask_fanout.realm import LocalRealm
from tests.helpers.apps.grip_origin import DEV_ISS
from tests.helpers.apps.grip_origin import DEV_KEY
from tests.helpers.apps.grip_origin import GripOrigin
from tests.helpers.apps.grip_origin import publish_token
from tests.helpers.realm import FAST
from tests.helpers.realm import wait_for
from tests.helpers.stream_client import StreamClient


def limits(**changes: Any) -> Limits:
    """The tests' fast realm limits, with ``changes``."""
    return dataclasses.replace(FAST, **changes)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class OriginServer:
    """A :class:`GripOrigin` served by werkzeug's threaded server."""

    def __init__(self, app: GripOrigin | None = None) -> None:
        self.app = app or GripOrigin()
        self.server: BaseWSGIServer = make_server(
            "127.0.0.1", 0, self.app, threaded=True, request_handler=_QuietHandler
        )
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        # A short poll interval: shutdown() waits for it, once per test.
        self._thread = threading.Thread(
            target=self.server.serve_forever, args=(0.02,), daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


class GripEnv:
    """An origin and a realm standing in for Pushpin in front of it."""

    def __init__(self, *, origin: bool = True, **realm_options: Any) -> None:
        self.origin = OriginServer() if origin else None
        realm_options.setdefault("limits", FAST)
        if self.origin is not None:
            realm_options.setdefault("origin", self.origin.url)
        self.realm = LocalRealm(port=0, **realm_options).start()
        self.clients: list[StreamClient] = []

    @property
    def app(self) -> GripOrigin:
        assert self.origin is not None
        return self.origin.app

    def url(
        self,
        query: str | dict[str, Any] | list[tuple[str, str]] = "",
        *,
        path: str = "/_fanout/events",
    ) -> str:
        if not isinstance(query, str):
            query = urllib.parse.urlencode(query, doseq=True)
        return f"{self.realm.url}{path}" + (f"?{query}" if query else "")

    def stream(
        self, query: str | dict[str, Any] | list[tuple[str, str]] = "", **options: Any
    ) -> StreamClient:
        """Open a raw stream to the realm (closed at exit)."""
        path = options.pop("path", "/_fanout/events")
        client = StreamClient(self.url(query, path=path), **options)
        self.clients.append(client)
        return client

    def publish(
        self,
        items: list[dict[str, Any]],
        *,
        token: str | None = None,
        path: str = "/publish/",
        key: bytes = DEV_KEY,
    ) -> requests.Response:
        headers = {}
        if token != "":
            headers["Authorization"] = f"Bearer {token or publish_token(key, DEV_ISS)}"
        return requests.post(
            self.realm.url + path, json={"items": items}, headers=headers, timeout=10
        )

    def grip(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.realm.stats()["grip"]
        return stats

    def wait_grip(
        self,
        predicate: Callable[[dict[str, Any]], Any],
        what: str = "",
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        """Wait until ``predicate(stats["grip"])`` holds; return those stats."""
        stats: dict[str, Any] = wait_for(
            lambda: (s := self.grip()) if predicate(s := self.grip()) else None,
            timeout,
            what,
        )
        return stats

    def wait_streams(self, channel: str, count: int, timeout: float = 10.0) -> None:
        self.wait_grip(
            lambda g: g["stream_subscribers"].get(channel, 0) == count,
            f"{count} streams held on {channel!r}",
            timeout,
        )

    def wait_responses(self, channel: str, count: int, timeout: float = 10.0) -> None:
        self.wait_grip(
            lambda g: g["response_subscribers"].get(channel, 0) == count,
            f"{count} long-polls held on {channel!r}",
            timeout,
        )

    def close(self) -> None:
        for client in self.clients:
            client.close()
        self.realm.stop()
        if self.origin is not None:
            self.origin.close()

    def __enter__(self) -> GripEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
