"""The ``flask fanout`` command group.

``publish`` and ``check`` exist so that a deployment can be verified from a
shell, with the app's own settings, before any page depends on it. So they
must work best exactly when something is wrong: the group is also installed
as a Flask CLI plugin (the ``flask.commands`` entry point), which makes it
available even when the app fails to load, and a configuration error, raised
while the app loads or later, is printed as its one message with exit status
2 instead of a traceback.

``realm`` (the standalone local realm) is imported only when it is invoked,
so that other ``flask`` commands do not pay for the realm's server stack.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from ._errors import FanoutConfigError
from ._errors import FanoutError
from ._errors import PublishError
from ._message import check_strict_json
from ._settings import SETTINGS
from ._settings import FanoutConfig

if TYPE_CHECKING:
    from ._extension import Delivery
    from ._extension import FanoutExt

MASK = "****"
#: Exit status for a bad setting or a bad argument (click's usage errors use 2).
CONFIG_ERROR = 2


class _FanoutGroup(AppGroup):
    """Imports ``realm`` on demand and turns config errors into one line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), "realm"})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name == "realm" and cmd_name not in self.commands:
            from .realm._cli import realm_command

            self.add_command(realm_command, "realm")
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FanoutConfigError as exc:
            # Raised by init_app while the app loads (with_appcontext loads
            # it inside the command), or by a command reading a setting.
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(CONFIG_ERROR)


fanout_cli = _FanoutGroup(
    "fanout",
    help="Publish through the app's Fanout backend, check its settings, run a "
    "local realm.",
)


def _ext() -> FanoutExt:
    ext = current_app.extensions.get("fanout")
    if ext is None:
        raise click.ClickException("Flask-Fanout is not initialised on this app")
    return ext  # type: ignore[no-any-return]


def _shown(config: FanoutConfig, field: str) -> str:
    value = getattr(config, field)
    if field == "realm_key":
        return f"{MASK} (local development key)" if config.local else MASK
    if field == "grip_url":
        suffix = " (local realm)" if config.local else ""
        return ", ".join(p.control_uri for p in value or ()) + suffix
    if value is None or value == "":
        return repr(value)
    return str(value)


def _describe(delivery: Delivery) -> str:
    if delivery.receivers is None:
        return f"{delivery.endpoint} accepted it (HTTP {delivery.status})"
    plural = "" if delivery.receivers == 1 else "s"
    return (
        f"{delivery.endpoint} delivered it to {delivery.receivers} "
        f"subscriber{plural} (HTTP {delivery.status})"
    )


@fanout_cli.command("publish")
@click.argument("channel")
@click.argument("data", metavar="JSON")
@click.option("--id", "item_id", help="Item id ('id' on the wire).")
@click.option("--prev-id", help="Previous item id ('prev-id' on the wire).")
def publish_command(
    channel: str, data: str, item_id: str | None, prev_id: str | None
) -> None:
    """Publish JSON to CHANNEL now, and fail loudly if an endpoint refuses.

    Example: flask fanout publish comments-12 '{"added": 7}'
    """
    try:
        check_strict_json(data)
        value = json.loads(data)
    except ValueError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint="JSON") from None
    ext = _ext()
    config = ext.config
    wire = config.channel_prefix + channel
    try:
        if config.suppress_send:
            ext.publish(channel, value, id=item_id, prev_id=prev_id)
            click.echo(
                f"not sent to {wire}: FANOUT_SUPPRESS_SEND is on "
                "(the publish was recorded)"
            )
            return
        deliveries = ext.publish_now(channel, value, id=item_id, prev_id=prev_id)
    except FanoutConfigError:
        raise
    except FanoutError as exc:
        raise click.ClickException(str(exc)) from None
    for delivery in deliveries:
        click.echo(f"published to {wire}: {_describe(delivery)}")


@fanout_cli.command("check")
def check_command() -> None:
    """Print the effective settings (secrets masked) and make one real,
    authenticated publish to every endpoint, to verify that they accept it.

    The check publish is sent even when FANOUT_SUPPRESS_SEND is on.
    """
    ext = _ext()
    config = ext.config
    rows = [s for s in SETTINGS if config.backend in s.backends]
    width = max(len(s.key) for s in rows)
    for row in rows:
        click.echo(f"{row.key:<{width}}  {_shown(config, row.field)}")
    click.echo(f"checking the {config.realm_description}")
    started = time.perf_counter()
    try:
        deliveries = ext.check()
    except PublishError as exc:
        hint = ""
        if exc.status in (401, 403):
            hint = (
                " (check FANOUT_REALM_ID and FANOUT_REALM_KEY)"
                if config.backend == "bayeux"
                else " (check the key= and iss= of FANOUT_GRIP_URL)"
            )
        raise click.ClickException(f"FAILED: {exc}{hint}") from None
    elapsed = (time.perf_counter() - started) * 1000
    for delivery in deliveries:
        click.echo(f"OK: {_describe(delivery)}")
    click.echo(f"({elapsed:.0f} ms)")
