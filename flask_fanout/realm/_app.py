"""The realm's ``aiohttp`` application and the server that runs it.

:class:`RealmServer` is the async core shared by every way of running the
realm: ``python -m flask_fanout.realm`` and ``flask fanout realm`` drive it
with ``asyncio.run``; :class:`flask_fanout.realm.LocalRealm` (tests, the
embedded development realm) drives it on a loop in a background thread.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from flask_fanout import _static
from flask_fanout.realm import _publish_api
from flask_fanout.realm import _transports
from flask_fanout.realm._bayeux import Engine
from flask_fanout.realm._bayeux import Limits
from flask_fanout.realm._grip_proxy import GRIP_KEY
from flask_fanout.realm._grip_proxy import GripStandIn
from flask_fanout.realm._grip_proxy import install_grip
from flask_fanout.realm._keys import ENGINE_KEY
from flask_fanout.realm._keys import SETTINGS_KEY
from flask_fanout.realm._keys import Settings

log = logging.getLogger("flask_fanout.realm")

READY_LINE = "flask-fanout local realm listening on {url}"


async def _faye_script(request: web.Request) -> web.StreamResponse:
    try:
        path = _static.static_path(_static.faye_filename())
    except FileNotFoundError as exc:
        return web.Response(status=404, text=f"{exc}\n")
    response = web.FileResponse(
        path, headers={"Content-Type": "application/javascript"}
    )
    # Pages on another origin load it with integrity + crossorigin="anonymous".
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


async def _stats(request: web.Request) -> web.Response:
    # No CORS header: other web pages the developer visits have no business
    # reading channel names off a loopback realm.
    snapshot = request.app[ENGINE_KEY].snapshot()
    snapshot["grip"] = request.app[GRIP_KEY].snapshot()
    response = web.json_response(snapshot)
    response.headers["Cache-Control"] = "no-cache, no-store"
    return response


async def _index(request: web.Request) -> web.Response:
    realm = request.app[SETTINGS_KEY].realm_id
    return web.Response(
        text=(
            "flask-fanout local realm\n"
            "  Bayeux:  /bayeux\n"
            f"  publish: POST /realm/{realm}/publish/\n"
            "  stats:   /stats\n"
            "  GRIP:    GET .../_fanout/events (held for the origin), POST /publish/\n"
        )
    )


def build_app(
    engine: Engine, settings: Settings, grip: GripStandIn | None = None
) -> web.Application:
    """The routes of a realm around an existing engine."""
    app = web.Application(client_max_size=engine.limits.max_publish_body + 1)
    app[ENGINE_KEY] = engine
    app[SETTINGS_KEY] = settings
    app.router.add_route("*", "/bayeux", _transports.bayeux)
    app.router.add_route("*", "/bayeux/", _transports.bayeux)
    app.router.add_get("/bayeux/static/faye-browser-min.js", _faye_script)
    app.router.add_get("/stats", _stats)
    app.router.add_get("/", _index)
    _publish_api.install(app)
    install_grip(app, grip if grip is not None else GripStandIn(settings))
    return app


class RealmServer:
    """One realm listening on one TCP port."""

    def __init__(
        self,
        settings: Settings,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        limits: Limits | None = None,
        allow_client_publish: bool = False,
    ) -> None:
        self.settings = settings
        self.host = host
        self.port = port
        self.engine = Engine(limits=limits, allow_client_publish=allow_client_publish)
        self.grip = GripStandIn(settings)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Bind and listen; raises ``OSError`` if the port is taken."""
        app = build_app(self.engine, self.settings, self.grip)
        runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, backlog=4096)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        addresses: list[Any] = runner.addresses
        self.port = int(addresses[0][1])
        self.engine.start()
        log.info("local realm %r listening on %s", self.settings.realm_id, self.url)

    async def stop(self) -> None:
        """Answer held connects, close sockets, stop listening."""
        await self.engine.close()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def serve_forever(self) -> None:
        """Run until cancelled."""
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()
