"""Every ``FANOUT_*`` setting, declared once.

:class:`FanoutConfig` *is* the table: each field that is a setting carries
its key, its default, its parser and a one-line meaning (see
:func:`_setting`), and :func:`load_config` walks the fields in order. The
defaults, the validation, the error messages (always naming the key), the
keyword options of ``FanoutExt`` and the settings table in the docs (rendered
from :data:`SETTINGS` by a Sphinx extension) all come from here, so they
cannot drift apart.

Fields are resolved in declaration order, so a default may depend on the
settings above it (the publish URL on the realm id, say).
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import os
import warnings
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any
from typing import Literal

from flask import Flask

from . import _local
from . import _setting_rules as rules
from ._errors import FanoutConfigError
from ._setting_rules import BAYEUX
from ._setting_rules import BOTH
from ._setting_rules import GRIP
from ._setting_rules import BackendName as BackendName
from .backends._grip_uri import GripProxy

logger = logging.getLogger("flask_fanout")


class FanoutConfigWarning(UserWarning):
    """A ``FANOUT_*`` key that Flask-Fanout does not know (a typo, usually).

    .. versionadded:: 0.2
    """


@dataclasses.dataclass(frozen=True)
class Setting:
    """One row of the settings table.

    :param key: The ``app.config`` key.
    :param field: The :class:`FanoutConfig` field, and the ``FanoutExt``
        keyword option that replaces the built-in default.
    :param default: How the default reads in the docs (Markdown).
    :param meaning: One line saying what it does (Markdown).
    :param backends: The backends it applies to.
    """

    key: str
    field: str
    default: str
    meaning: str
    backends: tuple[BackendName, ...]
    #: Computes the raw default from the settings resolved so far.
    compute: Callable[[rules.Context], Any] = dataclasses.field(repr=False)
    #: Turns the raw value into the field's value; raises FanoutConfigError.
    parse: Callable[[rules.Context, Any], Any] = dataclasses.field(repr=False)
    #: Never written back to ``app.config`` when defaulted (a development key).
    secret: bool = False


def _setting(
    key: str,
    *,
    default: str,
    meaning: str,
    compute: Callable[[rules.Context], Any],
    parse: Callable[[rules.Context, Any], Any],
    backends: tuple[BackendName, ...] = BOTH,
    secret: bool = False,
    repr: bool = True,
) -> Any:
    row = Setting(key, "", default, meaning, backends, compute, parse, secret)
    return dataclasses.field(repr=repr, metadata={"setting": row})


def _derived(compute: Callable[[rules.Context], Any]) -> Any:
    """A field computed from the settings above it, not set by users."""
    return dataclasses.field(metadata={"derived": compute})


# -- the table ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class FanoutConfig:
    """The effective, validated configuration of one app, and the settings table.

    Computed once at ``init_app`` so that a bad setting fails at start-up,
    with the name of the key, rather than at the first publish. Settings that
    do not apply to the chosen backend are ``None``.

    .. versionchanged:: 0.2
        Backends, GRIP settings, ``batch_bytes``, ``use_local_realm``.
    """

    backend: BackendName = _setting(
        "FANOUT_BACKEND",
        default='`"grip"` when `FANOUT_GRIP_URL` is set, else `"bayeux"`',
        meaning='`"bayeux"`: Faye and a Bayeux realm (the local realm or Fanout '
        'Cloud). `"grip"`: SSE through Pushpin, Fastly Fanout or the local realm.',
        compute=rules.backend_default,
        parse=rules.backend,
    )
    local_realm_host: str = _setting(
        "FANOUT_LOCAL_REALM_HOST",
        default='`"127.0.0.1"`',
        meaning="Where the local realm listens. Anything but loopback needs "
        "`FANOUT_LOCAL_REALM_PUBLIC`, because its key is public.",
        compute=rules.const(_local.LOCAL_REALM_HOST),
        parse=rules.host,
    )
    local_realm_port: int = _setting(
        "FANOUT_LOCAL_REALM_PORT",
        default="`7999`",
        meaning="The local realm's port.",
        compute=rules.const(_local.LOCAL_REALM_PORT),
        parse=rules.integer(1, 65535),
    )
    local_realm_embed: bool | Literal["auto"] = _setting(
        "FANOUT_LOCAL_REALM_EMBED",
        default='`"auto"`',
        meaning="Start the local realm inside the app on its first request: `True`, "
        '`False`, or `"auto"` (only under the Werkzeug development server, never '
        "while `app.testing`).",
        compute=rules.const("auto"),
        parse=rules.embed,
    )
    local_realm_public: bool = _setting(
        "FANOUT_LOCAL_REALM_PUBLIC",
        default="`False`",
        meaning="Allow a local realm bound beyond loopback although anyone who "
        "reads the docs knows its key. For a phone or a VM on your own network.",
        compute=rules.const(False),
        parse=rules.boolean,
    )
    use_local_realm: bool | Literal["auto"] = _setting(
        "FANOUT_USE_LOCAL_REALM",
        default='`"auto"`',
        meaning='Whether running on the local realm is intended. `"auto"`: only '
        "in development (`flask run`, debug, testing, other `flask` commands); "
        "elsewhere `init_app` refuses. `True`: intended, as for a standalone "
        "realm in front of several workers.",
        compute=rules.const("auto"),
        parse=rules.use_local_realm,
    )
    #: True when the local realm stands in (no realm, or no GRIP proxy, is set).
    local: bool = _derived(rules.local_flag)
    realm_id: str | None = _setting(
        "FANOUT_REALM_ID",
        default='`None` → the local realm `"local"`',
        meaning="The Fanout Cloud realm id. Without it the local realm stands in.",
        backends=BAYEUX,
        compute=rules.const(None),
        parse=lambda ctx, value: (
            rules.realm_id(ctx, value) if ctx.backend == "bayeux" or ctx.local else None
        ),
    )
    realm_key: bytes = _setting(
        "FANOUT_REALM_KEY",
        default="`None` (local realm: its public development key)",
        meaning="The base64 realm key Fanout issued. Decoded once; never logged, "
        "rendered or shown.",
        backends=BAYEUX,
        compute=rules.const(None),
        parse=rules.realm_key,
        secret=True,
        repr=False,
    )
    publish_url: str | None = _setting(
        "FANOUT_PUBLISH_URL",
        default="`https://api.fanout.io/realm/<realm>`; local: "
        "`http://<host>:<port>/realm/local`",
        meaning="Base of the Bayeux publish API (`/publish/` is appended).",
        backends=BAYEUX,
        compute=rules.publish_url_default,
        parse=rules.bayeux_value(rules.publish_base),
    )
    bayeux_url: str | None = _setting(
        "FANOUT_BAYEUX_URL",
        default="`https://<realm>.fanoutcdn.com/bayeux`; local: "
        "`http://<host>:<port>/bayeux`",
        meaning="What browsers connect to. An absolute path is allowed (a "
        "same-origin proxy).",
        backends=BAYEUX,
        compute=rules.bayeux_url_default,
        parse=rules.bayeux_value(rules.url_rule(relative=True)),
    )
    faye_url: str | None = _setting(
        "FANOUT_FAYE_URL",
        default="cloud: the realm's Faye fork; local: `None` (the bundled Faye)",
        meaning="Where browsers load the Faye client from.",
        backends=BAYEUX,
        compute=rules.faye_url_default,
        parse=rules.bayeux_value(rules.url_rule(relative=True, optional=True)),
    )
    faye_integrity: str | None = _setting(
        "FANOUT_FAYE_INTEGRITY",
        default="cloud: the SRI of that file; otherwise `None`",
        meaning="SRI of `FANOUT_FAYE_URL` (the bundled file's hash is computed).",
        backends=BAYEUX,
        compute=rules.faye_integrity_default,
        parse=rules.bayeux_value(rules.faye_integrity),
    )
    grip_url: tuple[GripProxy, ...] | None = _setting(
        "FANOUT_GRIP_URL",
        default="`None` → the local realm, standing in for a GRIP proxy",
        meaning="A GRIP proxy URI (gripcontrol's convention), or a list of them: "
        "every publish reaches every one. Pushpin: "
        "`http://127.0.0.1:5561/?verify-key=<sig_key>&verify-iss=<sig_iss>`; "
        "Fastly: `https://api.fastly.com/service/<SID>?verify-iss=fastly:<SID>"
        "&key=<token>`.",
        backends=GRIP,
        compute=rules.const(None),
        parse=rules.grip_url,
        secret=True,
        repr=False,
    )
    stream_url: str | None = _setting(
        "FANOUT_STREAM_URL",
        default="`None` → the app's own `/_fanout/events` (local realm: "
        "`http://<page host>:<port>/_fanout/events`)",
        meaning="What browsers open their stream on. Set it only when the proxy "
        "serves the stream on another path or host.",
        backends=GRIP,
        compute=rules.const(None),
        parse=rules.stream_url,
    )
    transport_mode: str = _setting(
        "FANOUT_TRANSPORT_MODE",
        default='`"fallback"`',
        meaning='Bayeux: `"fallback"` (WebSocket first, HTTP if it fails) or '
        '`"upgrade"` (Faye\'s own). GRIP: `"fallback"` (stream first, '
        'long-polling if the stream is buffered or hangs), `"stream"` or `"poll"`.',
        compute=rules.const("fallback"),
        parse=rules.transport_mode,
    )
    throttle: float = _setting(
        "FANOUT_THROTTLE",
        default="`0.5`",
        meaning="Seconds; the browser coalesces hints per channel within this window.",
        compute=rules.const(0.5),
        parse=rules.seconds(minimum=0, strict=False),
    )
    poll_interval: float = _setting(
        "FANOUT_POLL_INTERVAL",
        default="`5`",
        meaning="Seconds between safety-net polls while realtime is not connected.",
        compute=rules.const(5.0),
        parse=rules.seconds(minimum=0, strict=True),
    )
    poll_connected_interval: float = _setting(
        "FANOUT_POLL_CONNECTED_INTERVAL",
        default="`300`",
        meaning="Seconds between safety-net polls while connected.",
        compute=rules.const(300.0),
        parse=rules.seconds(minimum=0, strict=True),
    )
    channel_prefix: str = _setting(
        "FANOUT_CHANNEL_PREFIX",
        default='`""`',
        meaning="Prepended to every channel on the wire, so staging and "
        "production can share a realm. At most 64 channel characters.",
        compute=rules.const(""),
        parse=rules.prefix,
    )
    max_channels: int | None = _setting(
        "FANOUT_MAX_CHANNELS",
        default="`20`",
        meaning="Most channels one browser stream may carry (over all the tabs "
        "sharing it). Pushpin subscribes a request to at most 20 "
        "(`connection_subscription_max`): raise both together.",
        backends=GRIP,
        compute=rules.const(20),
        parse=rules.grip_value(rules.integer(1, 1000)),
    )
    keep_alive: float | None = _setting(
        "FANOUT_KEEP_ALIVE",
        default="`20`",
        meaning="Seconds of silence after which the proxy sends a `keep-alive` "
        "event on a stream; the browser treats a stream silent for much "
        "longer as hung.",
        backends=GRIP,
        compute=rules.const(20.0),
        parse=rules.grip_value(rules.seconds(minimum=1, strict=False)),
    )
    long_poll_timeout: float | None = _setting(
        "FANOUT_LONG_POLL_TIMEOUT",
        default="`25`",
        meaning="Seconds a long-poll is held (GRIP proxies raise it to at least 5).",
        backends=GRIP,
        compute=rules.const(25.0),
        parse=rules.grip_value(rules.seconds(minimum=5, strict=False)),
    )
    suppress_send: bool = _setting(
        "FANOUT_SUPPRESS_SEND",
        default="`app.testing`",
        meaning="Record publishes instead of sending them.",
        compute=lambda ctx: ctx.app.testing,
        parse=rules.boolean,
    )
    queue_size: int = _setting(
        "FANOUT_QUEUE_SIZE",
        default="`10000`",
        meaning="Most non-blocking publishes waiting per endpoint; beyond it they "
        "are dropped (counted, logged, signalled).",
        compute=rules.const(10000),
        parse=rules.integer(1, 10_000_000),
    )
    batch_size: int = _setting(
        "FANOUT_BATCH_SIZE",
        default="`100`",
        meaning="Most items per POST.",
        compute=rules.const(100),
        parse=rules.integer(1, 10_000),
    )
    batch_bytes: int = _setting(
        "FANOUT_BATCH_BYTES",
        default="`262144`",
        meaning="Most bytes per POST body. A single publish larger than this is "
        "refused by `publish()`.",
        compute=rules.const(256 * 1024),
        parse=rules.integer(4096, 64 * 1024 * 1024),
    )
    timeout: float = _setting(
        "FANOUT_TIMEOUT",
        default="`5`",
        meaning="Seconds a request to an endpoint may take in all: connecting, "
        "sending and reading the whole answer.",
        compute=rules.const(5.0),
        parse=rules.seconds(minimum=0, strict=True),
    )

    @property
    def realm_description(self) -> str:
        """Which backend and endpoint this is, in words, with no secret."""
        if self.backend == "grip":
            if self.local:
                return "GRIP backend on the local realm (development stand-in)"
            proxies = ", ".join(p.control_uri for p in self.grip_url or ())
            return f"GRIP backend via {proxies}"
        if self.local:
            return "Bayeux backend on the local realm"
        return f"Bayeux backend on Fanout realm {self.realm_id!r}"


#: Every setting, in resolution order. The docs table is rendered from this.
SETTINGS: tuple[Setting, ...] = tuple(
    dataclasses.replace(f.metadata["setting"], field=f.name)
    for f in dataclasses.fields(FanoutConfig)
    if "setting" in f.metadata
)
_FIELD_OF = {s.key: s.field for s in SETTINGS}
KEYS: Mapping[str, str] = {s.field: s.key for s in SETTINGS}
_WARNED: set[str] = set()


def _warn_unknown_keys(app: Flask) -> None:
    known = set(_FIELD_OF)
    for key in app.config:
        if key.startswith("FANOUT_") and key not in known and key not in _WARNED:
            _WARNED.add(key)
            close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else ""
            warnings.warn(
                f"unknown Flask-Fanout setting {key}{hint}",
                FanoutConfigWarning,
                stacklevel=4,
            )


def _in_development(app: Flask) -> bool:
    """Whether this process is development, where the local realm is expected.

    Testing, debug mode, a ``flask`` command (``flask run`` without
    ``--debug`` included: Flask marks every CLI invocation), or a Werkzeug
    reloader child. Anything else, gunicorn workers for one, is not.
    """
    return (
        app.testing
        or app.debug
        or os.environ.get("FLASK_RUN_FROM_CLI") == "true"
        or os.environ.get("WERKZEUG_RUN_MAIN") == "true"
    )


def _check_local_realm(app: Flask, config: FanoutConfig) -> None:
    if not config.local:
        return
    if config.use_local_realm is False or (
        config.use_local_realm == "auto" and not _in_development(app)
    ):
        needed = "FANOUT_GRIP_URL" if config.backend == "grip" else "FANOUT_REALM_ID"
        raise FanoutConfigError(
            "FANOUT_USE_LOCAL_REALM",
            f"no {needed} is set, so publishes would go to the local development "
            f"realm at {config.local_realm_host}:{config.local_realm_port}, and "
            "this is not the development server. Set the realm for production, "
            "or FANOUT_USE_LOCAL_REALM = True if a standalone local realm is "
            "intended (e.g. `flask fanout realm` in front of several workers).",
        )
    problem = _local.public_dev_key_problem(config.local_realm_host, config.realm_key)
    if problem is not None and not config.local_realm_public:
        raise FanoutConfigError(
            "FANOUT_LOCAL_REALM_HOST",
            f"{problem} (or, on a network you trust, set "
            "FANOUT_LOCAL_REALM_PUBLIC = True)",
        )


def load_config(app: Flask, options: Mapping[str, Any] | None = None) -> FanoutConfig:
    """Read and validate the ``FANOUT_*`` settings of ``app``.

    Each key is filled in with :meth:`dict.setdefault`, so after this call
    ``app.config`` shows the effective values (secrets excepted: a defaulted
    development key stays ``None`` rather than showing up in config dumps).
    ``options`` (field name to value, from ``FanoutExt`` keyword arguments)
    take the place of the built-in defaults; a value set in ``app.config``
    always wins, so deployments can override code.

    The defaults are written to ``app.config`` only once every key is valid:
    a failed call leaves it untouched.

    :raises FanoutConfigError: naming the first key that is missing or
        malformed.

    .. versionadded:: 0.1
    """
    options = options or {}
    ctx = rules.Context(app, options, _FIELD_OF)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(FanoutConfig):
        if "derived" in field.metadata:
            values[field.name] = ctx.values[field.name] = field.metadata["derived"](ctx)
            continue
        row: Setting = field.metadata["setting"]
        ctx.current = row.key
        if row.key in app.config:
            raw = app.config[row.key]
        elif field.name in options:
            raw = options[field.name]
        else:
            raw = row.compute(ctx)
        ctx.raw[row.key] = raw
        values[field.name] = ctx.values[field.name] = row.parse(ctx, raw)
    config = FanoutConfig(**values)
    _check_local_realm(app, config)
    _warn_unknown_keys(app)
    for row in SETTINGS:
        shown = ctx.raw[row.key]
        if row.secret and not ctx.given(row.key):
            shown = None
        app.config.setdefault(row.key, shown)
    return config
