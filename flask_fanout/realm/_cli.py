"""The realm's one command line: ``python -m flask_fanout.realm`` and
``flask fanout realm`` are this same click command.

Under ``flask``, the defaults (realm id, key, host, port) come from the
current app's :class:`~flask_fanout._settings.FanoutConfig`, so a realm next
to gunicorn workers of the same app agrees with them without repeating any
setting; ``python -m`` needs no app. Every :class:`~._limits.Limits` field is
an option too (``--max-sessions``, ...), generated from the field.

Exit status: 0 after SIGINT/SIGTERM, 1 when the port is taken, 2 for a bad
option (including a bad, empty or short key, and the public development key
on a non-loopback interface without ``--allow-public-dev-key``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from typing import TypeVar

import click

from flask_fanout import _local
from flask_fanout.realm._app import RealmServer
from flask_fanout.realm._keys import Settings
from flask_fanout.realm._limits import Limits
from flask_fanout.realm._limits import option_name
from flask_fanout.realm._standalone import serve

PROG = "python -m flask_fanout.realm"
#: Read for the key by ``python -m`` when no key option is given.
KEY_ENV = "FANOUT_REALM_KEY"

_F = TypeVar("_F", bound=Callable[..., Any])


class BadOption(click.ClickException):
    """A bad option value, reported as one line; exit status 2."""

    exit_code = 2


@dataclasses.dataclass(frozen=True)
class _Defaults:
    host: str
    port: int
    realm_id: str
    key: bytes = dataclasses.field(repr=False)
    #: The app's FANOUT_LOCAL_REALM_PUBLIC: the same opt-in as the flag.
    public: bool = False


def _defaults() -> _Defaults:
    """The current app's settings under ``flask``, else the built-in ones."""
    from flask.cli import ScriptInfo

    info = click.get_current_context().find_object(ScriptInfo)
    if info is None:
        return _Defaults(
            _local.LOCAL_REALM_HOST,
            _local.LOCAL_REALM_PORT,
            _local.LOCAL_REALM_ID,
            _env_key(KEY_ENV, required=False) or _local.LOCAL_REALM_KEY_BYTES,
        )
    app = info.load_app()
    with app.app_context():
        ext = app.extensions.get("fanout")
        if ext is None:
            raise click.UsageError(
                "Flask-Fanout is not initialised on this app (FanoutExt(app))."
            )
        config = ext.config
    return _Defaults(
        config.local_realm_host,
        config.local_realm_port,
        config.realm_id or _local.LOCAL_REALM_ID,
        config.realm_key,
        config.local_realm_public,
    )


def _decoded(text: str, source: str) -> bytes:
    try:
        return _local.decode_realm_key(text)
    except ValueError as exc:
        raise BadOption(f"the realm key from {source} {exc}") from None


def _env_key(name: str, *, required: bool) -> bytes | None:
    text = os.environ.get(name)
    if not text:
        if required:
            state = "is empty" if text == "" else "is not set"
            raise BadOption(f"--key-env: environment variable {name} {state}")
        return None
    return _decoded(text, f"${name}")


def _key(
    key: str | None, key_env: str | None, key_file: Path | None, default: bytes
) -> bytes:
    given = [
        name
        for name, value in (
            ("--key", key),
            ("--key-env", key_env),
            ("--key-file", key_file),
        )
        if value is not None
    ]
    if len(given) > 1:
        raise click.UsageError(f"give only one of {', '.join(given)}")
    if key is not None:
        if not key.strip():
            raise BadOption(
                "the realm key from --key is empty (an unset shell variable?)"
            )
        return _decoded(key, "--key")
    if key_env is not None:
        found = _env_key(key_env, required=True)
        assert found is not None
        return found
    if key_file is not None:
        try:
            text = key_file.read_text("ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise BadOption(f"cannot read --key-file {key_file}: {exc}") from None
        return _decoded(text, f"--key-file {key_file}")
    return default


def _limit_options(command: _F) -> _F:
    """One ``--option`` per :class:`Limits` field, in the fields' order."""
    for field in reversed(dataclasses.fields(Limits)):
        integer = field.type in (int, "int")
        unit = field.metadata["unit"]
        command = click.option(
            option_name(field),
            field.name,
            type=click.IntRange(min=1)
            if integer
            else click.FloatRange(min=0, min_open=True),
            default=field.default,
            show_default=True,
            metavar="BYTES" if unit == "bytes" else "S" if unit == "s" else "N",
            help=field.metadata["help"],
        )(command)
    return command


@click.command("realm")
@click.option(
    "--host",
    metavar="HOST",
    help="Interface to bind [default: the app's FANOUT_LOCAL_REALM_HOST; "
    "python -m: 127.0.0.1].",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    metavar="PORT",
    help="TCP port, 0 for any free one [default: the app's "
    "FANOUT_LOCAL_REALM_PORT; python -m: 7999].",
)
@click.option(
    "--realm",
    "realm_id",
    metavar="ID",
    help="Realm id, in publish URLs and the tokens' iss [default: the app's "
    "FANOUT_REALM_ID, else 'local'].",
)
@click.option(
    "--key",
    metavar="BASE64",
    help="Realm key, base64 as Fanout issues it (visible in ps: prefer "
    "--key-env or --key-file) [default: the app's FANOUT_REALM_KEY; python -m: "
    f"${KEY_ENV}; else the public development key].",
)
@click.option(
    "--key-env",
    metavar="NAME",
    help="Read the realm key from environment variable NAME.",
)
@click.option(
    "--key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the realm key from this file.",
)
@click.option(
    "--no-websocket",
    is_flag=True,
    help="Refuse WebSocket upgrades with 403 (to test long-polling fallbacks).",
)
@click.option(
    "--allow-client-publish",
    is_flag=True,
    help="Let Bayeux clients publish (refused with Bayeux error 403 by default).",
)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    metavar="NAME",
    help="Also answer requests for this Host name (repeatable; '*' for any). "
    "IP addresses, localhost and, on a wildcard bind, this machine's names "
    "are always answered.",
)
@click.option(
    "--allow-public-dev-key",
    is_flag=True,
    help="Listen beyond loopback even with the public development key (anyone "
    "who reaches the port can publish).",
)
@click.option(
    "--origin",
    metavar="URL",
    help="GRIP stand-in: the app's base URL (http://HOST:PORT) that stream "
    "requests (.../_fanout/events) are forwarded to, e.g. the gunicorn behind "
    "this realm [default: none; an embedded realm learns it from the app].",
)
@click.option(
    "--allow-origin",
    "allowed_origins",
    multiple=True,
    metavar="ORIGIN",
    help="GRIP stand-in: also grant this page origin (http://host[:port]) CORS "
    "on the stream paths (repeatable). Pages on the realm's own host, any "
    "port, always are.",
)
@click.option(
    "--log-level",
    default="WARNING",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    help="Python logging level.",
)
@_limit_options
def realm_command(
    host: str | None,
    port: int | None,
    realm_id: str | None,
    key: str | None,
    key_env: str | None,
    key_file: Path | None,
    no_websocket: bool,
    allow_client_publish: bool,
    allowed_hosts: tuple[str, ...],
    allow_public_dev_key: bool,
    origin: str | None,
    allowed_origins: tuple[str, ...],
    log_level: str,
    **limits: Any,
) -> None:
    """Run the local realm (publish API, Bayeux, GRIP stand-in) in the foreground."""
    logging.basicConfig(
        level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    defaults = _defaults()
    try:
        settings = Settings(
            realm_id=realm_id if realm_id is not None else defaults.realm_id,
            key=_key(key, key_env, key_file, defaults.key),
            websocket=not no_websocket,
            allowed_hosts=allowed_hosts,
            allow_public_dev_key=allow_public_dev_key or defaults.public,
            origin=origin,
            allowed_origins=allowed_origins,
        )
        server = RealmServer(
            settings,
            host=host if host is not None else defaults.host,
            port=port if port is not None else defaults.port,
            limits=Limits(**limits),
            allow_client_publish=allow_client_publish,
        )
    except ValueError as exc:
        raise BadOption(str(exc)) from None
    status = serve(server)
    if status:
        raise SystemExit(status)


def main() -> None:
    """``python -m flask_fanout.realm``."""
    realm_command.main(prog_name=PROG)
