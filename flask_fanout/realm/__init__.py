"""The local realm: a Fanout-compatible realm server shipped with the package.

With no ``FANOUT_REALM_ID`` configured, the extension publishes to this
realm and browsers connect to it, so a project works on one machine with no
account and no network. It speaks what a Fanout Cloud realm speaks: the
publish API (``POST /realm/<realm>/publish/``) and Bayeux 1.0 at ``/bayeux``
over WebSocket, long-polling, CORS long-polling and JSONP. On the GRIP
backend it also stands in for a GRIP proxy such as Pushpin: it forwards
``GET …/_fanout/events`` to the app, holds the streams and long-polls the
app asks for, and takes GRIP publishes at ``POST /publish/``.

Three ways to run it:

* ``python -m flask_fanout.realm`` or ``flask fanout realm`` (standalone,
  e.g. in front of several gunicorn workers);
* embedded in the development server (see ``_embedded.ensure_embedded``);
* from Python, e.g. in tests, with :class:`LocalRealm`::

      with LocalRealm(port=0) as realm:
          requests.post(realm.publish_url + "/publish/", ...)
          realm.stats()["messages_published"]
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from types import TracebackType
from typing import Any

from flask_fanout import _local
from flask_fanout.realm._app import READY_LINE
from flask_fanout.realm._app import RealmServer
from flask_fanout.realm._keys import Settings
from flask_fanout.realm._limits import Limits

__all__ = ["READY_LINE", "Limits", "LocalRealm"]


class LocalRealm:
    """A realm server running on its own event loop in a daemon thread.

    A thread rather than the caller's loop, because the callers are Flask
    apps and pytest tests, which are synchronous: they need a realm that
    simply runs while they make blocking requests to it.

    :param host: interface to bind; loopback by default, since the realm's
        development key is public (see ``allow_public_dev_key``).
    :param port: TCP port; ``0`` picks a free one (read it back from
        :attr:`port` or :attr:`url` after :meth:`start`).
    :param realm_id: the realm name in publish URLs and the JWT ``iss``.
    :param key: the realm key: the raw bytes, or base64 as Fanout issues it.
        At least 16 bytes.
    :param websocket: ``False`` refuses WebSocket upgrades, so that clients'
        fallback to long-polling can be exercised.
    :param allow_client_publish: let Bayeux clients publish. Off by default:
        browsers only receive hints; publishing is the server's job.
    :param limits: timeouts and size bounds (see :class:`Limits`).
    :param allowed_hosts: ``Host`` header names to answer besides IP
        addresses, ``localhost`` and the bind address (``"*"``: any).
    :param allow_public_dev_key: listen beyond loopback even with the
        public development key; a warning is logged.
    :param origin: the app's base URL (``http://127.0.0.1:5000``) that the
        GRIP stand-in forwards ``…/_fanout/events`` requests to; may be set
        (or changed) later with :meth:`set_origin`.
    :param allowed_origins: page origins (``http://host[:port]``) granted
        CORS on the stream paths besides those on the realm's own host.
    :raises ValueError: for a bad key, origin or allowed origin, or the
        development key on a non-loopback ``host`` without
        ``allow_public_dev_key``.

    .. versionchanged:: 0.2
        ``key`` may be bytes; ``allowed_hosts``, ``allow_public_dev_key``,
        ``origin`` and ``allowed_origins``.
    """

    def __init__(
        self,
        host: str = _local.LOCAL_REALM_HOST,
        port: int = 0,
        *,
        realm_id: str = _local.LOCAL_REALM_ID,
        key: bytes | str = _local.LOCAL_REALM_KEY_BYTES,
        websocket: bool = True,
        allow_client_publish: bool = False,
        limits: Limits | None = None,
        allowed_hosts: tuple[str, ...] = (),
        allow_public_dev_key: bool = False,
        origin: str | None = None,
        allowed_origins: tuple[str, ...] = (),
    ) -> None:
        if isinstance(key, str):
            try:
                key = _local.decode_realm_key(key)
            except ValueError as exc:
                raise ValueError(f"LocalRealm key {exc}") from None
        self.server = RealmServer(
            Settings(
                realm_id=realm_id,
                key=key,
                websocket=websocket,
                allowed_hosts=tuple(allowed_hosts),
                allow_public_dev_key=allow_public_dev_key,
                origin=origin,
                allowed_origins=tuple(allowed_origins),
            ),
            host=host,
            port=port,
            limits=limits,
            allow_client_publish=allow_client_publish,
        )
        self.realm_id = realm_id
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None

    # -- addresses ---------------------------------------------------------

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        """The bound port (the real one once started, even if 0 was asked)."""
        return self.server.port

    @property
    def url(self) -> str:
        """``http://host:port``, the realm's base URL."""
        return self.server.url

    @property
    def bayeux_url(self) -> str:
        """What browsers and Faye clients connect to (``FANOUT_BAYEUX_URL``)."""
        return f"{self.url}/bayeux"

    @property
    def publish_url(self) -> str:
        """The pubcontrol-style base, ``.../realm/<realm>`` (``FANOUT_PUBLISH_URL``)."""
        return f"{self.url}/realm/{self.realm_id}"

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> LocalRealm:
        """Start serving; returns once the port is listening.

        Raises ``OSError`` (e.g. ``EADDRINUSE``) if it cannot bind.
        """
        if self._thread is not None:
            raise RuntimeError("LocalRealm already started")
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._run,
            args=(ready,),
            name=f"flask-fanout-realm-{self.port}",
            daemon=True,
        )
        self._thread.start()
        try:
            ready.result()
        except BaseException:
            self._thread.join()
            self._thread = None
            raise
        return self

    def _run(self, ready: concurrent.futures.Future[None]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main(ready))
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _main(self, ready: concurrent.futures.Future[None]) -> None:
        self._stopped = asyncio.Event()
        try:
            await self.server.start()
        except BaseException as exc:
            ready.set_exception(exc)
            return
        ready.set_result(None)
        try:
            await self._stopped.wait()
        finally:
            await self.server.stop()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and wait for the thread to finish."""
        thread, loop, stopped = self._thread, self._loop, self._stopped
        if thread is None or loop is None or stopped is None:
            return
        if not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopped.set)
        thread.join(timeout)
        self._thread = None

    def __enter__(self) -> LocalRealm:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- helpers for tests and tools ----------------------------------------

    def call(self, fn: Any, *args: Any, timeout: float = 10.0) -> Any:
        """Run ``fn(*args)`` on the realm's loop and return its result."""
        loop = self._loop
        if loop is None or self._thread is None:
            raise RuntimeError("LocalRealm is not running")

        async def run() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout)

    def stats(self) -> dict[str, Any]:
        """A snapshot of the counters served at ``GET /stats``."""

        def both() -> dict[str, Any]:
            result: dict[str, Any] = self.server.engine.snapshot()
            result["grip"] = self.server.grip.snapshot()
            return result

        stats: dict[str, Any] = self.call(both)
        return stats

    @property
    def origin(self) -> str | None:
        """Where the GRIP stand-in forwards stream requests (``None``: nowhere)."""
        return self.server.grip.forwarder.origin

    def set_origin(self, url: str | None) -> None:
        """Point the GRIP stand-in at the app; safe from any thread, at any time.

        The embedded realm learns the app's address from the app's first
        request; requests already forwarded are not affected.

        :raises ValueError: naming what is wrong with ``url``.

        .. versionadded:: 0.2
        """
        self.server.grip.set_origin(url)

    def publish(self, channel: str, data: Any) -> int:
        """Deliver ``data`` on realm channel ``channel``, bypassing HTTP.

        Returns the number of recipients.

        :raises ValueError: if ``data`` holds ``NaN`` or an infinity, which
            browsers cannot parse; nothing is delivered.
        """
        delivered: int = self.call(self.server.engine.publish, "/" + channel, data)
        return delivered
