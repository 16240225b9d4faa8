"""The realm's ``aiohttp`` application and the server that runs it.

:func:`build_app` assembles the routes, one install function per feature,
behind the ``Host`` check. :class:`RealmServer` is the async core shared by
every way of running the realm: the command line (``_cli.py``) drives it
with ``asyncio.run``; :class:`flask_fanout.realm.LocalRealm` (tests, the
embedded development realm) drives it on a loop in a background thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from collections.abc import Callable

from aiohttp import web

from flask_fanout import _local
from flask_fanout import _static
from flask_fanout._ratelimit import RateLimitedLog
from flask_fanout.realm import _publish_api
from flask_fanout.realm import _transports
from flask_fanout.realm._bayeux import Engine
from flask_fanout.realm._connections import ConnectionGate
from flask_fanout.realm._connections import GatedSite
from flask_fanout.realm._connections import ServerLog
from flask_fanout.realm._connections import connection_cap
from flask_fanout.realm._connections import loop_exception_handler
from flask_fanout.realm._grip_proxy import GRIP_KEY
from flask_fanout.realm._grip_proxy import GripStandIn
from flask_fanout.realm._grip_proxy import install_grip
from flask_fanout.realm._hosts import HostRule
from flask_fanout.realm._hosts import hostname_of
from flask_fanout.realm._keys import ENGINE_KEY
from flask_fanout.realm._keys import SETTINGS_KEY
from flask_fanout.realm._keys import Settings
from flask_fanout.realm._limits import Limits

log = logging.getLogger("flask_fanout.realm")

READY_LINE = "flask-fanout local realm listening on {url}"
#: How the operator opts in to a public bind with the development key, per
#: way of starting the realm; used to finish the refusal message.
OPT_IN_HINT = "pass --allow-public-dev-key (LocalRealm: allow_public_dev_key=True)"

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HOST_RULE_KEY = web.AppKey("host_rule", HostRule)


@web.middleware
async def _check_host(request: web.Request, handler: _Handler) -> web.StreamResponse:
    header = request.headers.get("Host")
    if request.app[HOST_RULE_KEY].allows(header):
        return await handler(request)
    request.app[ENGINE_KEY].stats.error("http_421")
    shown = (header or "")[:100]
    return web.Response(
        status=421,
        text=(
            f"flask-fanout local realm: Host {shown!r} is not a name this realm "
            "serves (protection from DNS rebinding); start it with "
            f"--allowed-host {hostname_of(shown)} to allow it\n"
        ),
    )


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
            "  GRIP:    GET .../_fanout/events (forwarded to the app and held), "
            "POST /publish/\n"
        )
    )


def install_bayeux(app: web.Application) -> None:
    """Bayeux on ``/bayeux`` (every transport) and the Faye browser client."""
    app.router.add_route("*", "/bayeux", _transports.bayeux)
    app.router.add_route("*", "/bayeux/", _transports.bayeux)
    app.router.add_get("/bayeux/static/faye-browser-min.js", _faye_script)


def install_stats(app: web.Application) -> None:
    """``GET /stats`` and the plain-text index at ``/``."""
    app.router.add_get("/stats", _stats)
    app.router.add_get("/", _index)


def build_app(
    engine: Engine, settings: Settings, host: str, grip: GripStandIn
) -> web.Application:
    """The routes of a realm around an existing engine, for a bind on ``host``."""
    app = web.Application(middlewares=[_check_host])
    app[ENGINE_KEY] = engine
    app[SETTINGS_KEY] = settings
    app[HOST_RULE_KEY] = HostRule(host, settings.allowed_hosts)
    install_bayeux(app)
    install_stats(app)
    _publish_api.install(app)
    install_grip(app, grip)
    return app


class RealmServer:
    """One realm listening on one TCP port.

    :raises ValueError: when ``host`` is beyond loopback and the key is the
        public development key, unless ``settings.allow_public_dev_key``.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        host: str = _local.LOCAL_REALM_HOST,
        port: int = 0,
        limits: Limits | None = None,
        allow_client_publish: bool = False,
    ) -> None:
        problem = _local.public_dev_key_problem(host, settings.key)
        if problem is not None:
            if not settings.allow_public_dev_key:
                raise ValueError(f"{problem}; or, to accept the risk, {OPT_IN_HINT}")
            log.warning(
                "flask-fanout realm: DANGER, %s; running anyway, as asked", problem
            )
        self.settings = settings
        self.host = host
        self.port = port
        self.engine = Engine(limits=limits, allow_client_publish=allow_client_publish)
        self.logs = RateLimitedLog(log)
        self.grip = GripStandIn(settings, self.engine.limits, self.logs)
        self._runner: web.AppRunner | None = None
        self._gate: ConnectionGate | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Bind and listen; raises ``OSError`` if the port is taken."""
        limits = self.engine.limits
        app = build_app(self.engine, self.settings, self.host, self.grip)
        gate = ConnectionGate(
            connection_cap(limits.max_connections), self.engine.stats, self.logs
        )
        runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=1.0,
            keepalive_timeout=limits.request_timeout,
            # Reading (and dropping) the rest of a refused body, so that the
            # client sees the refusal rather than a reset: briefly.
            lingering_time=min(1.0, limits.request_timeout),
            logger=ServerLog(self.logs),
        )
        await runner.setup()
        site = GatedSite(runner, self.host, self.port, gate, backlog=4096)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._gate = gate
        self.port = int(site.sockets[0].getsockname()[1])
        # The loop is the realm's own (LocalRealm's thread, asyncio.run), so
        # its handler stays until the loop closes.
        asyncio.get_running_loop().set_exception_handler(
            loop_exception_handler(self.logs, gate)
        )
        self.engine.start()
        self.grip.start()
        log.debug(
            "local realm %r listening on %s (at most %d connections)",
            self.settings.realm_id,
            self.url,
            gate.cap,
        )

    async def stop(self) -> None:
        """Answer held connects and requests, close sockets, stop listening."""
        await self.engine.close()
        await self.grip.close()
        if self._gate is not None:
            self._gate.closing = True
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        self.logs.flush()
