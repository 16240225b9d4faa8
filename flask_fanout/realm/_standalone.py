"""Running one realm in the foreground, for the two command lines.

``python -m flask_fanout.realm`` (argparse, here) and ``flask fanout realm``
(click, ``_cli.py``) share :func:`serve`, so they behave the same: the first
line on stdout is exactly ``flask-fanout local realm listening on
http://HOST:PORT``, flushed, which is what scripts and tests wait for when
they start a realm on port 0.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import errno
import logging
import signal
import sys
from collections.abc import Sequence

from flask_fanout import _local
from flask_fanout.realm._app import READY_LINE
from flask_fanout.realm._app import RealmServer
from flask_fanout.realm._bayeux import Limits
from flask_fanout.realm._grip_options import GripOptions
from flask_fanout.realm._keys import Settings


def decode_key(key: str) -> bytes:
    """The raw realm key, or a ``ValueError`` that says what is wrong."""
    try:
        return base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the realm key must be base64, as Fanout issues it") from exc


async def _serve(server: RealmServer) -> None:
    await server.start()
    print(READY_LINE.format(url=server.url), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


def serve(
    *,
    host: str,
    port: int,
    realm_id: str,
    key: str,
    websocket: bool = True,
    allow_client_publish: bool = False,
    limits: Limits | None = None,
    origin: str | None = None,
    allowed_origins: Sequence[str] = (),
) -> int:
    """Serve until SIGINT/SIGTERM; returns a process exit status."""
    try:
        raw_key = decode_key(key)
        grip = GripOptions(origin=origin, allowed_origins=tuple(allowed_origins))
    except ValueError as exc:
        print(f"flask-fanout realm: {exc}", file=sys.stderr)
        return 2
    server = RealmServer(
        Settings(realm_id=realm_id, key=raw_key, websocket=websocket, grip=grip),
        host=host,
        port=port,
        limits=limits,
        allow_client_publish=allow_client_publish,
    )
    try:
        asyncio.run(_serve(server))
    except OSError as exc:
        reason = (
            "the port is already in use" if exc.errno == errno.EADDRINUSE else str(exc)
        )
        print(
            f"flask-fanout realm: cannot listen on {host}:{port}: {reason}",
            file=sys.stderr,
        )
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m flask_fanout.realm",
        description="Run a Fanout-compatible local realm (publish API + Bayeux).",
    )
    parser.add_argument(
        "--host", default=_local.LOCAL_REALM_HOST, help="interface to bind"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=_local.LOCAL_REALM_PORT,
        help="TCP port; 0 picks a free one",
    )
    parser.add_argument(
        "--no-websocket",
        dest="websocket",
        action="store_false",
        help="refuse WebSocket upgrades (to test long-polling fallbacks)",
    )
    parser.add_argument("--realm", default=_local.LOCAL_REALM_ID, help="realm id")
    parser.add_argument(
        "--key", default=_local.LOCAL_REALM_KEY, help="realm key (base64)"
    )
    parser.add_argument(
        "--allow-client-publish",
        action="store_true",
        help="let Bayeux clients publish (refused with 403 by default)",
    )
    parser.add_argument(
        "--connect-timeout",
        type=float,
        default=Limits.connect_timeout,
        help="seconds a /meta/connect is held (default %(default)s)",
    )
    parser.add_argument(
        "--session-timeout",
        type=float,
        default=Limits.session_timeout,
        help="seconds without a connect before a session expires (default %(default)s)",
    )
    parser.add_argument(
        "--origin",
        default=None,
        help="the app's base URL (http://HOST:PORT) that GRIP stream requests "
        "(.../_fanout/events) are forwarded to",
    )
    parser.add_argument(
        "--allow-origin",
        dest="allowed_origins",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a page origin granted CORS on the stream besides the realm's own "
        "host (repeatable)",
    )
    parser.add_argument("--log-level", default="WARNING", help="logging level")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    return serve(
        host=args.host,
        port=args.port,
        realm_id=args.realm,
        key=args.key,
        websocket=args.websocket,
        allow_client_publish=args.allow_client_publish,
        limits=Limits(
            connect_timeout=args.connect_timeout, session_timeout=args.session_timeout
        ),
        origin=args.origin,
        allowed_origins=args.allowed_origins,
    )
