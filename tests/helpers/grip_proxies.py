"""The two GRIP proxies every GRIP test runs against: a real Pushpin and the
local realm standing in for it.

Both put the same app (the example, on the GRIP backend) behind them, on a
werkzeug server in a thread, and answer the same questions: where a browser
connects (:attr:`GripProxy.url`), what the app must be told
(:meth:`GripProxy.settings`), how to wait until ``n`` streams or long-polls
are held on a channel (so a publish is not lost to a subscription still
settling), and how to take the proxy down and bring it back on the same
port. A test written against :class:`GripProxy` runs unchanged on both,
which is the point: the app's stream view, its Grip-Sig check, its
authorizer and its publishes are the same code in development as behind
Pushpin.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer
from werkzeug.serving import WSGIRequestHandler
from werkzeug.serving import make_server

from flask_fanout import _local
from flask_fanout.realm import LocalRealm
from tests.helpers.pushpin import Pushpin

#: Realtime tests: polling so slow that only realtime explains an update.
SLOW_POLL = {"FANOUT_POLL_INTERVAL": 120, "FANOUT_POLL_CONNECTED_INTERVAL": 300}


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class Origin:
    """A Flask app served over real HTTP by werkzeug's threaded server.

    Its port is known before the app exists, because the app's settings
    depend on the proxy and the proxy's routes on the port.
    """

    def __init__(self) -> None:
        self.app: Flask | None = None
        self.server: BaseWSGIServer = make_server(
            "127.0.0.1", 0, self._dispatch, threaded=True, request_handler=_QuietHandler
        )
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    def _dispatch(self, environ: Any, start_response: Any) -> Any:
        assert self.app is not None, "Origin.serve(app) first"
        return self.app(environ, start_response)

    def serve(self, app: Flask) -> Origin:
        self.app = app
        self._thread = threading.Thread(
            target=self.server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(10)
        self.server.server_close()
        if self.app is not None:
            with self.app.app_context():
                self.app.extensions["fanout"].close(timeout=2)


class GripProxy:
    """What the GRIP tests need of a proxy (see the module docstring)."""

    kind = ""
    #: The key and issuer it signs Grip-Sig with (what the app verifies).
    sig_key = b""
    sig_iss = ""

    def __init__(self, origin: Origin) -> None:
        self.origin = origin

    @property
    def url(self) -> str:
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        """``FANOUT_*`` settings that put the app behind this proxy."""
        raise NotImplementedError

    def wait_streams(self, channel: str, count: int, timeout: float = 10) -> None:
        """Wait until ``count`` streams are held on wire channel ``channel``."""
        raise NotImplementedError

    def wait_polls(self, channel: str, count: int, timeout: float = 10) -> None:
        """Wait until ``count`` long-polls are held (and settled) on ``channel``."""
        raise NotImplementedError

    def mark(self) -> int:
        """A point in time for the waits (only later subscriptions count)."""
        return 0

    def stop(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.stop()


class PushpinProxy(GripProxy):
    """A real Pushpin in front of the origin."""

    kind = "pushpin"

    def __init__(self, origin: Origin, **options: Any) -> None:
        super().__init__(origin)
        self.pushpin = Pushpin(origin.port, **options)
        self.sig_key = self.pushpin.sig_key
        self.sig_iss = self.pushpin.sig_iss
        self._since = 0

    @property
    def url(self) -> str:
        return self.pushpin.url

    def settings(self) -> dict[str, Any]:
        return {"FANOUT_GRIP_URL": self.pushpin.grip_url}

    def mark(self) -> int:
        self._since = self.pushpin.handler_mark()
        return self._since

    def wait_streams(self, channel: str, count: int, timeout: float = 10) -> None:
        self.pushpin.wait_for_subscribers(
            channel, count, since=self._since, timeout=timeout
        )

    def wait_polls(self, channel: str, count: int, timeout: float = 10) -> None:
        # Pushpin re-sends a new channel's held long-polls to the origin about
        # a second after subscribing; a publish before they are back is
        # dropped for them, so wait for the re-held ones.
        self.pushpin.wait_for_subscribers(
            channel, count, since=self._since, retry=True, timeout=timeout
        )

    def stop(self) -> None:
        self.pushpin.stop()

    def start(self) -> None:
        # A started-then-stopped Pushpin starts again on the same ports.
        if not self.pushpin.running:
            self.pushpin.start()

    def close(self) -> None:
        self.pushpin.close()


class LocalProxy(GripProxy):
    """The local realm standing in for a GRIP proxy, forwarding to the origin."""

    kind = "local"
    sig_key = _local.LOCAL_REALM_KEY_BYTES
    sig_iss = _local.LOCAL_REALM_ID

    def __init__(self, origin: Origin, **options: Any) -> None:
        super().__init__(origin)
        self._options = options
        self.realm: LocalRealm | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def settings(self) -> dict[str, Any]:
        # No FANOUT_GRIP_URL: the development defaults (the realm's port, its
        # development key for the publish JWT and for Grip-Sig).
        return {
            "FANOUT_BACKEND": "grip",
            "FANOUT_LOCAL_REALM_PORT": self.port,
            "FANOUT_LOCAL_REALM_EMBED": False,
            "FANOUT_USE_LOCAL_REALM": True,
        }

    @property
    def grip_url(self) -> str:
        """This realm as an explicit ``FANOUT_GRIP_URL``, as for any proxy:
        publishes signed with, and Grip-Sig checked against, its key."""
        key = base64.b64encode(_local.LOCAL_REALM_KEY_BYTES).decode()
        return (
            f"{self.url}/?iss={_local.LOCAL_REALM_ID}&key=base64:{key}"
            f"&verify-iss={_local.LOCAL_REALM_ID}"
        )

    def _grip(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/stats", timeout=5) as answer:
            stats: dict[str, Any] = json.load(answer)["grip"]
        return stats

    def _wait(self, section: str, channel: str, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            held = self._grip()[section].get(channel, 0)
            if held >= count:
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{held} of {count} {section} on {channel!r} after {timeout}s"
                )
            time.sleep(0.02)

    def wait_streams(self, channel: str, count: int, timeout: float = 10) -> None:
        self._wait("stream_subscribers", channel, count, timeout)

    def wait_polls(self, channel: str, count: int, timeout: float = 10) -> None:
        self._wait("response_subscribers", channel, count, timeout)

    def stop(self) -> None:
        if self.realm is not None:
            self.realm.stop()
            self.realm = None

    def start(self) -> None:
        if self.realm is not None:
            return
        deadline = time.monotonic() + 10
        while True:
            try:
                realm = LocalRealm(
                    port=self.port, origin=self.origin.url, **self._options
                ).start()
                break
            except OSError:
                # Restarting on the same port: the old socket may be closing.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.realm = realm
        self.port = realm.port


ProxyFactory = Callable[..., GripProxy]


def make_proxy(kind: str, origin: Origin, **options: Any) -> GripProxy:
    """A started proxy of ``kind`` ("pushpin" or "local") in front of ``origin``."""
    proxy: GripProxy = (
        PushpinProxy(origin, **options)
        if kind == "pushpin"
        else LocalProxy(origin, **options)
    )
    proxy.start()
    return proxy


def example_app(db_path: Path, proxy: GripProxy, **config: Any) -> Flask:
    """The example app on the GRIP backend behind ``proxy``, sending for real."""
    from example.app import create_app

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}",
            "FANOUT_SUPPRESS_SEND": False,
            "FANOUT_TIMEOUT": 3,
            **SLOW_POLL,
            **proxy.settings(),
            **config,
        }
    )


class GripStack:
    """The example app behind one proxy: what a GRIP test works with."""

    def __init__(
        self, kind: str, db_path: Path, proxy_options: dict[str, Any], **config: Any
    ) -> None:
        self.origin = Origin()
        self.proxy = make_proxy(kind, self.origin, **proxy_options)
        self.app = example_app(db_path, self.proxy, **config)
        self.origin.serve(self.app)

    @property
    def fanout(self) -> Any:
        return self.app.extensions["fanout"]

    def publish(self, channel: str, data: Any) -> None:
        """Publish from the app, now, to every proxy (raises on failure)."""
        with self.app.app_context():
            self.fanout.publish(channel, data, blocking=True)

    def close(self) -> None:
        self.origin.close()
        self.proxy.close()


def page_origin(stack: GripStack, front: str | None = None) -> str:
    """Where a browser loads the stack's pages.

    Pushpin proxies every path, so pages come through it (or through
    ``front``, a proxy a test put in front of it). The local realm forwards
    only the stream, so there pages come from the app itself and the stream
    is cross-origin, at the realm's address.
    """
    if stack.proxy.kind == "local":
        return stack.origin.url
    return front or stack.proxy.url


def stream_through(request: Any, front: Any) -> GripStack:
    """The test's ``stack``, with the browser's stream sent through ``front``.

    ``front`` is a started :mod:`tests.helpers.proxies` proxy, its target not
    known yet. Call this from a fixture the test requests *before* ``stack``:
    it adds ``FANOUT_STREAM_URL`` (``front``'s address) to the test's
    ``grip_config``, makes the stack, then aims ``front`` at the stack's proxy.
    Behind Pushpin the page also loads through ``front`` (see
    :func:`page_origin`); with the local realm only the stream does.
    """
    import pytest

    url = f"{front.url}/_fanout/events"
    marker = request.node.get_closest_marker("grip_config")
    settings = {**(marker.kwargs if marker is not None else {})}
    settings["FANOUT_STREAM_URL"] = url
    request.node.add_marker(pytest.mark.grip_config(**settings), append=False)
    stack: GripStack = request.getfixturevalue("stack")
    assert stack.app.config["FANOUT_STREAM_URL"] == url, "ask for it before `stack`"
    front.target_port = int(stack.proxy.url.rsplit(":", 1)[1])
    return stack
