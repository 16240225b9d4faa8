"""Running one realm in the foreground, for the command line.

The first line on stdout is exactly ``flask-fanout local realm listening on
http://HOST:PORT``, flushed, which is what scripts and tests wait for when
they start a realm on port 0. SIGINT and SIGTERM stop it cleanly.
"""

from __future__ import annotations

import asyncio
import errno
import signal
import sys

from flask_fanout.realm._app import READY_LINE
from flask_fanout.realm._app import RealmServer


async def _serve(server: RealmServer) -> None:
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Before the ready line: a script may signal as soon as it has read it.
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(READY_LINE.format(url=server.url), flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()


def serve(server: RealmServer) -> int:
    """Serve until SIGINT/SIGTERM; returns a process exit status."""
    try:
        asyncio.run(_serve(server))
    except OSError as exc:
        reason = (
            "the port is already in use" if exc.errno == errno.EADDRINUSE else str(exc)
        )
        print(
            f"flask-fanout realm: cannot listen on {server.host}:{server.port}: "
            f"{reason}",
            file=sys.stderr,
        )
        return 1
    return 0
