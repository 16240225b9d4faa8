"""``flask fanout realm``: the standalone realm, configured from the app.

The defaults come from the current app's :class:`~flask_fanout._config.FanoutConfig`
(realm id, key, host, port), so ``flask fanout realm`` next to gunicorn
workers of the same app agrees with them without repeating any setting.
"""

from __future__ import annotations

import base64
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from flask_fanout.realm._bayeux import Limits
from flask_fanout.realm._standalone import serve


def _app_config() -> Any:
    ext = current_app.extensions.get("fanout")
    if ext is None:
        raise click.UsageError(
            "Flask-Fanout is not initialised on this app (FanoutExt(app))."
        )
    return ext.config


@click.command("realm")
@click.option(
    "--host", default=None, help="Interface to bind [FANOUT_LOCAL_REALM_HOST]."
)
@click.option(
    "--port",
    type=int,
    default=None,
    help="TCP port, 0 for any [FANOUT_LOCAL_REALM_PORT].",
)
@click.option(
    "--no-websocket", is_flag=True, help="Refuse WebSocket upgrades (test fallbacks)."
)
@click.option(
    "--realm", "realm_id", default=None, help="Realm id [FANOUT_REALM_ID or 'local']."
)
@click.option(
    "--key", default=None, help="Realm key, base64 [FANOUT_REALM_KEY or the dev key]."
)
@click.option(
    "--allow-client-publish", is_flag=True, help="Let Bayeux clients publish."
)
@click.option(
    "--connect-timeout",
    type=float,
    default=Limits.connect_timeout,
    show_default=True,
    help="Seconds a /meta/connect is held.",
)
@click.option(
    "--session-timeout",
    type=float,
    default=Limits.session_timeout,
    show_default=True,
    help="Seconds without a connect before a session expires.",
)
@click.option(
    "--origin",
    default=None,
    help="The app's base URL for GRIP stream requests (http://HOST:PORT).",
)
@click.option(
    "--allow-origin",
    "allowed_origins",
    multiple=True,
    help="A page origin granted CORS on the stream (repeatable).",
)
@with_appcontext
def realm_command(
    host: str | None,
    port: int | None,
    no_websocket: bool,
    realm_id: str | None,
    key: str | None,
    allow_client_publish: bool,
    connect_timeout: float,
    session_timeout: float,
    origin: str | None,
    allowed_origins: tuple[str, ...],
) -> None:
    """Run the local realm (publish API + Bayeux) in the foreground."""
    config = _app_config()
    status = serve(
        host=host if host is not None else config.local_realm_host,
        port=port if port is not None else config.local_realm_port,
        realm_id=realm_id if realm_id is not None else config.realm_id,
        key=key
        if key is not None
        else base64.b64encode(config.realm_key).decode("ascii"),
        websocket=not no_websocket,
        allow_client_publish=allow_client_publish,
        limits=Limits(connect_timeout=connect_timeout, session_timeout=session_timeout),
        origin=origin,
        allowed_origins=allowed_origins,
    )
    if status:
        raise SystemExit(status)
