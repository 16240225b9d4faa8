"""The ``flask fanout`` command group.

``publish`` and ``check`` exist so that a deployment can be verified from a
shell, with the app's own settings, before any page depends on it.
``realm`` (the standalone local realm) is loaded only when it is invoked, so
that every other ``flask`` command does not pay for importing the realm's
server stack.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from ._config import KEYS
from ._errors import FanoutError
from ._errors import PublishError
from ._publisher import prepare

if TYPE_CHECKING:
    from ._extension import FanoutExt

#: The channel ``flask fanout check`` publishes to (prefix applied).
CHECK_CHANNEL = "flask-fanout-check"
MASK = "****"


class _FanoutGroup(AppGroup):
    """An ``AppGroup`` that imports the ``realm`` subcommand on demand."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), "realm"})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name == "realm" and cmd_name not in self.commands:
            from .realm._cli import realm_command

            self.add_command(realm_command, "realm")
        return super().get_command(ctx, cmd_name)


fanout_cli = _FanoutGroup(
    "fanout",
    help="Publish to the app's Fanout realm, check its settings, run a local realm.",
)


def _ext() -> FanoutExt:
    ext = current_app.extensions.get("fanout")
    if ext is None:
        raise click.ClickException("Flask-Fanout is not initialised on this app")
    return ext  # type: ignore[no-any-return]


def _shown(field: str, value: Any, local: bool) -> str:
    if field == "realm_key":
        return f"{MASK} (local development key)" if local else MASK
    if value is None or value == "":
        return repr(value)
    return str(value)


@fanout_cli.command("publish")
@click.argument("channel")
@click.argument("data", metavar="JSON")
@click.option("--id", "item_id", help="Item id (Fanout 'id').")
@click.option("--prev-id", help="Previous item id (Fanout 'prev-id').")
def publish_command(
    channel: str, data: str, item_id: str | None, prev_id: str | None
) -> None:
    """Publish JSON to CHANNEL now, and fail loudly if the endpoint refuses.

    Example: flask fanout publish comments-12 '{"added": 7}'
    """
    ext = _ext()
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint="JSON") from None
    try:
        ext.publish(channel, value, id=item_id, prev_id=prev_id, blocking=True)
    except FanoutError as exc:
        raise click.ClickException(str(exc)) from None
    config = ext.config
    wire = config.channel_prefix + channel
    if config.suppress_send:
        click.echo(
            f"not sent to {wire}: FANOUT_SUPPRESS_SEND is on (the publish was recorded)"
        )
    else:
        click.echo(f"published to {wire} via {config.publish_url}")


@fanout_cli.command("check")
def check_command() -> None:
    """Print the effective settings (key masked) and make one real,
    authenticated publish to verify that the endpoint accepts them.

    The check publish is sent even when FANOUT_SUPPRESS_SEND is on.
    """
    ext = _ext()
    config = ext.config
    width = max(map(len, KEYS.values()))
    for field, key in KEYS.items():
        click.echo(
            f"{key:<{width}}  {_shown(field, getattr(config, field), config.local)}"
        )
    realm = (
        "local realm (no FANOUT_REALM_ID)"
        if config.local
        else f"realm {config.realm_id!r}"
    )
    click.echo(
        f"checking {realm}: authenticated publish to {config.publish_url}/publish/"
    )
    pending = prepare(config, CHECK_CHANNEL, {"check": time.time()})
    started = time.perf_counter()
    try:
        ext._state().publisher.send_now([pending])
    except PublishError as exc:
        hint = ""
        if exc.status in (401, 403):
            hint = " (check FANOUT_REALM_ID and FANOUT_REALM_KEY)"
        raise click.ClickException(f"FAILED: {exc}{hint}") from None
    elapsed = (time.perf_counter() - started) * 1000
    click.echo(
        f"OK: the endpoint accepted the publish to {pending.wire_channel} "
        f"({elapsed:.0f} ms)"
    )
