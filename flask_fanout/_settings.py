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

import base64
import binascii
import dataclasses
import difflib
import logging
import os
import re
import warnings
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any
from typing import Literal
from urllib.parse import urlsplit

from flask import Flask

from . import _local
from ._channels import prefix_problem
from ._errors import FanoutConfigError
from .backends._grip_uri import GripProxy
from .backends._grip_uri import SigVerifier
from .backends._grip_uri import parse_proxies

logger = logging.getLogger("flask_fanout")

BackendName = Literal["bayeux", "grip"]
BOTH: tuple[BackendName, ...] = ("bayeux", "grip")
BAYEUX: tuple[BackendName, ...] = ("bayeux",)
GRIP: tuple[BackendName, ...] = ("grip",)

#: Fanout's fork of the Faye browser client, served by every Fanout Cloud
#: realm, and its Subresource Integrity value (checked against the served file).
CLOUD_FAYE_FILE = "faye-browser-1.1.2-fanout1-min.js"
CLOUD_FAYE_INTEGRITY = (
    "sha384-/9uLm3UDnP3tBHstjgZiqLa7fopVRjYmFinSBjz+FPS/ibb2C4aowhIttvYIGGt9"
)

_REALM_ID = re.compile(r"[A-Za-z0-9_\-.]{1,128}")
_SRI_ONE = r"(sha256|sha384|sha512)-[A-Za-z0-9+/]+={0,2}"
_SRI = re.compile(f"{_SRI_ONE}( +{_SRI_ONE})*")


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
    compute: Callable[[_Context], Any] = dataclasses.field(repr=False)
    #: Turns the raw value into the field's value; raises FanoutConfigError.
    parse: Callable[[_Context, Any], Any] = dataclasses.field(repr=False)
    #: Never written back to ``app.config`` when defaulted (a development key).
    secret: bool = False


class _Context:
    """What a default or a parser may look at while the config is resolved."""

    def __init__(self, app: Flask, options: Mapping[str, Any]) -> None:
        self.app = app
        self.options = options
        #: Field name -> resolved value, for the fields resolved so far.
        self.values: dict[str, Any] = {}
        #: Key -> raw effective value, written to ``app.config`` on success.
        self.raw: dict[str, Any] = {}
        #: The key being resolved, for error messages.
        self.current = ""

    def given_value(self, key: str) -> Any:
        """The value the app or an option sets for ``key``, or ``None``."""
        if key in self.app.config:
            return self.app.config[key]
        return self.options.get(_FIELD_OF.get(key, ""))

    def given(self, key: str) -> bool:
        """Whether the app (or an option) sets ``key``, as opposed to its default."""
        field = _FIELD_OF.get(key)
        return key in self.app.config or (field is not None and field in self.options)

    @property
    def backend(self) -> BackendName:
        value: BackendName = self.values["backend"]
        return value

    @property
    def local(self) -> bool:
        return bool(self.values["local"])

    def local_base(self) -> str:
        return _local.base_url(
            self.values["local_realm_host"], self.values["local_realm_port"]
        )


def _setting(
    key: str,
    *,
    default: str,
    meaning: str,
    compute: Callable[[_Context], Any],
    parse: Callable[[_Context, Any], Any],
    backends: tuple[BackendName, ...] = BOTH,
    secret: bool = False,
    repr: bool = True,
) -> Any:
    row = Setting(key, "", default, meaning, backends, compute, parse, secret)
    return dataclasses.field(repr=repr, metadata={"setting": row})


def _derived(compute: Callable[[_Context], Any]) -> Any:
    """A field computed from the settings above it, not set by users."""
    return dataclasses.field(metadata={"derived": compute})


# -- parsers -----------------------------------------------------------------


def _const(value: Any) -> Callable[[_Context], Any]:
    return lambda ctx: value


def _seconds(*, minimum: float, strict: bool) -> Callable[[_Context, Any], float]:
    def parse(ctx: _Context, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FanoutConfigError(
                ctx.current, f"expected a number of seconds, got {type(value).__name__}"
            )
        if value != value or value < minimum or (strict and value == minimum):
            bound = f"greater than {minimum:g}" if strict else f"at least {minimum:g}"
            raise FanoutConfigError(ctx.current, f"must be {bound}, got {value!r}")
        if value == float("inf"):
            raise FanoutConfigError(ctx.current, "must be finite")
        return float(value)

    return parse


def _integer(minimum: int, maximum: int) -> Callable[[_Context, Any], int]:
    def parse(ctx: _Context, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise FanoutConfigError(
                ctx.current, f"expected an integer, got {type(value).__name__}"
            )
        if not minimum <= value <= maximum:
            raise FanoutConfigError(
                ctx.current, f"must be between {minimum} and {maximum}, got {value}"
            )
        return value

    return parse


def _bool(ctx: _Context, value: Any) -> bool:
    if not isinstance(value, bool):
        raise FanoutConfigError(ctx.current, f"expected True or False, got {value!r}")
    return value


def _url(
    *, relative: bool = False, optional: bool = False
) -> Callable[[_Context, Any], str | None]:
    def parse(ctx: _Context, value: Any) -> str | None:
        if value is None and optional:
            return None
        key = ctx.current
        if not isinstance(value, str) or not value:
            raise FanoutConfigError(key, "expected a non-empty URL string")
        if relative and value.startswith("/") and not value.startswith("//"):
            return value.rstrip("/") or "/"
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            extra = " (or an absolute path)" if relative else ""
            raise FanoutConfigError(
                key, f"expected an http:// or https:// URL{extra}, got {value!r}"
            )
        if parts.username or parts.password:
            raise FanoutConfigError(
                key, "credentials in the URL are not supported (they would be logged)"
            )
        if parts.query or parts.fragment:
            raise FanoutConfigError(key, "must not carry a query string or fragment")
        return value.rstrip("/")

    return parse


def _publish_base(ctx: _Context, value: Any) -> str:
    url = _url()(ctx, value)
    assert url is not None
    if url.endswith("/publish"):
        raise FanoutConfigError(
            ctx.current,
            "give the base URL without /publish (it is appended), e.g. "
            f"{url.removesuffix('/publish')!r}",
        )
    return url


def _host(ctx: _Context, value: Any) -> str:
    if not isinstance(value, str) or not value or "/" in value:
        raise FanoutConfigError(ctx.current, "expected a host name or IP address")
    return value


def _embed(ctx: _Context, value: Any) -> bool | str:
    if isinstance(value, bool) or value == "auto":
        return value  # type: ignore[no-any-return]
    raise FanoutConfigError(
        ctx.current, f"expected True, False or 'auto', got {value!r}"
    )


def _backend_default(ctx: _Context) -> str:
    given = ctx.given_value("FANOUT_GRIP_URL")
    return "bayeux" if given is None or given == "" else "grip"


def _backend(ctx: _Context, value: Any) -> str:
    if value not in ("bayeux", "grip"):
        raise FanoutConfigError(
            ctx.current, f"expected 'bayeux' or 'grip', got {value!r}"
        )
    return str(value)


def _local_flag(ctx: _Context) -> bool:
    """Whether the local realm stands in: no realm (Bayeux) or proxy (GRIP) is set."""
    realm_id = ctx.given_value("FANOUT_REALM_ID")
    grip = ctx.given_value("FANOUT_GRIP_URL")
    if ctx.backend == "bayeux":
        if grip is not None and grip != "":
            raise FanoutConfigError(
                "FANOUT_GRIP_URL",
                "is set but FANOUT_BACKEND is 'bayeux'; remove one of them",
            )
        return realm_id in (None, "")
    if realm_id not in (None, ""):
        raise FanoutConfigError(
            "FANOUT_REALM_ID",
            "is a Bayeux setting but FANOUT_BACKEND is 'grip'; "
            "GRIP proxies are configured with FANOUT_GRIP_URL",
        )
    return grip is None or grip == ""


def _realm_id(ctx: _Context, value: Any) -> str:
    if ctx.local:
        return _local.LOCAL_REALM_ID
    if not isinstance(value, str) or not _REALM_ID.fullmatch(value):
        raise FanoutConfigError(
            ctx.current,
            f"expected the realm id (letters, digits, - _ .), got {value!r}",
        )
    return value


def decode_realm_key(value: object, *, key: str = "FANOUT_REALM_KEY") -> bytes:
    """The raw bytes of a base64 realm key, or an error that never shows it.

    The one decoding of a realm key from configuration: everything after it
    keeps the bytes.
    """
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str) or not value.strip():
        raise FanoutConfigError(
            key, "expected the base64 realm key Fanout issued, as a string"
        )
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        # Never echo the value: it is a secret, even when mistyped.
        raise FanoutConfigError(
            key, "is not valid base64 (value not shown; check its padding '=')"
        ) from None
    if not raw:
        raise FanoutConfigError(key, "decodes to an empty key")
    return raw


def _realm_key(ctx: _Context, value: Any) -> bytes:
    if ctx.local:
        if (
            ctx.given("FANOUT_REALM_KEY")
            and value not in (None, "")
            and ctx.backend == "bayeux"
        ):
            raise FanoutConfigError(
                "FANOUT_REALM_ID",
                "FANOUT_REALM_KEY is set but FANOUT_REALM_ID is not; "
                "set both (or neither, for the local realm)",
            )
        return _local.LOCAL_REALM_KEY_BYTES
    if ctx.backend == "grip":
        return b""
    if value in (None, ""):
        raise FanoutConfigError(
            ctx.current,
            "is required when FANOUT_REALM_ID is set "
            f"(realm {ctx.values['realm_id']!r})",
        )
    return decode_realm_key(value)


def _publish_url_default(ctx: _Context) -> str | None:
    if ctx.backend != "bayeux":
        return None
    if ctx.local:
        return f"{ctx.local_base()}/realm/{_local.LOCAL_REALM_ID}"
    return f"https://api.fanout.io/realm/{ctx.values['realm_id']}"


def _bayeux_url_default(ctx: _Context) -> str | None:
    if ctx.backend != "bayeux":
        return None
    if ctx.local:
        return f"{ctx.local_base()}/bayeux"
    return f"https://{ctx.values['realm_id']}.fanoutcdn.com/bayeux"


def _cloud_faye(ctx: _Context) -> bool:
    """A Fanout Cloud realm with no Faye URL of the user's: use the realm's fork."""
    return (
        ctx.backend == "bayeux" and not ctx.local and not ctx.given("FANOUT_FAYE_URL")
    )


def _faye_url_default(ctx: _Context) -> str | None:
    if _cloud_faye(ctx):
        return (
            f"https://{ctx.values['realm_id']}.fanoutcdn.com/bayeux/static/"
            f"{CLOUD_FAYE_FILE}"
        )
    return None


def _bayeux_value(
    parse: Callable[[_Context, Any], Any],
) -> Callable[[_Context, Any], Any]:
    """Parse only on the Bayeux backend; elsewhere the value is ignored (None)."""
    return lambda ctx, value: parse(ctx, value) if ctx.backend == "bayeux" else None


def _grip_value(
    parse: Callable[[_Context, Any], Any],
) -> Callable[[_Context, Any], Any]:
    return lambda ctx, value: parse(ctx, value) if ctx.backend == "grip" else None


def _faye_integrity(ctx: _Context, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _SRI.fullmatch(value):
        raise FanoutConfigError(
            ctx.current, "expected None or an SRI value such as 'sha384-<base64>'"
        )
    if ctx.values["faye_url"] is None:
        raise FanoutConfigError(
            ctx.current,
            "only applies with FANOUT_FAYE_URL; the bundled Faye gets its hash "
            "computed",
        )
    return value


def _faye_integrity_default(ctx: _Context) -> str | None:
    return CLOUD_FAYE_INTEGRITY if _cloud_faye(ctx) else None


def _grip_url(ctx: _Context, value: Any) -> tuple[GripProxy, ...] | None:
    if ctx.backend != "grip":
        return None
    if ctx.local:
        # The local realm standing in for a GRIP proxy: publishes signed, and
        # Grip-Sig verified, with the development key (see _local).
        key = _local.LOCAL_REALM_KEY_BYTES
        return (
            GripProxy(
                control_uri=ctx.local_base(),
                iss=_local.LOCAL_REALM_ID,
                key=key,
                verifier=SigVerifier("HS256", key, _local.LOCAL_REALM_ID),
            ),
        )
    return parse_proxies(value)


def _stream_url(ctx: _Context, value: Any) -> str | None:
    if ctx.backend != "grip" or value is None:
        return None
    return _url(relative=True)(ctx, value)


def _transport_mode(ctx: _Context, value: Any) -> str:
    modes = {"bayeux": ("fallback", "upgrade"), "grip": ("fallback", "stream", "poll")}
    allowed = modes[ctx.backend]
    if value not in allowed:
        hint = ""
        if value == "upgrade":
            hint = "; 'upgrade' is a Bayeux (Faye) mode"
        shown = ", ".join(repr(m) for m in allowed)
        raise FanoutConfigError(
            ctx.current,
            f"expected {shown} on the {ctx.backend} backend, got {value!r}{hint}",
        )
    return str(value)


def _prefix(ctx: _Context, value: Any) -> str:
    problem = prefix_problem(value)
    if problem is not None:
        raise FanoutConfigError(ctx.current, problem)
    return str(value)


def _use_local_realm(ctx: _Context, value: Any) -> bool | str:
    if isinstance(value, bool) or value == "auto":
        return value  # type: ignore[no-any-return]
    raise FanoutConfigError(
        ctx.current, f"expected True, False or 'auto', got {value!r}"
    )


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
        compute=_backend_default,
        parse=_backend,
    )
    local_realm_host: str = _setting(
        "FANOUT_LOCAL_REALM_HOST",
        default='`"127.0.0.1"`',
        meaning="Where the local realm listens. Anything but loopback needs "
        "`FANOUT_LOCAL_REALM_PUBLIC`, because its key is public.",
        compute=_const(_local.LOCAL_REALM_HOST),
        parse=_host,
    )
    local_realm_port: int = _setting(
        "FANOUT_LOCAL_REALM_PORT",
        default="`7999`",
        meaning="The local realm's port.",
        compute=_const(_local.LOCAL_REALM_PORT),
        parse=_integer(1, 65535),
    )
    local_realm_embed: bool | Literal["auto"] = _setting(
        "FANOUT_LOCAL_REALM_EMBED",
        default='`"auto"`',
        meaning="Start the local realm inside the app on its first request: `True`, "
        '`False`, or `"auto"` (only under the Werkzeug development server, never '
        "while `app.testing`).",
        compute=_const("auto"),
        parse=_embed,
    )
    local_realm_public: bool = _setting(
        "FANOUT_LOCAL_REALM_PUBLIC",
        default="`False`",
        meaning="Allow a local realm bound beyond loopback although anyone who "
        "reads the docs knows its key. For a phone or a VM on your own network.",
        compute=_const(False),
        parse=_bool,
    )
    use_local_realm: bool | Literal["auto"] = _setting(
        "FANOUT_USE_LOCAL_REALM",
        default='`"auto"`',
        meaning='Whether running on the local realm is intended. `"auto"`: only '
        "in development (`flask run`, debug, testing, other `flask` commands); "
        "elsewhere `init_app` refuses. `True`: intended, as for a standalone "
        "realm in front of several workers.",
        compute=_const("auto"),
        parse=_use_local_realm,
    )
    #: True when the local realm stands in (no realm, or no GRIP proxy, is set).
    local: bool = _derived(_local_flag)
    realm_id: str | None = _setting(
        "FANOUT_REALM_ID",
        default='`None` → the local realm `"local"`',
        meaning="The Fanout Cloud realm id. Without it the local realm stands in.",
        backends=BAYEUX,
        compute=_const(None),
        parse=lambda ctx, value: (
            _realm_id(ctx, value) if ctx.backend == "bayeux" or ctx.local else None
        ),
    )
    realm_key: bytes = _setting(
        "FANOUT_REALM_KEY",
        default="`None` (local realm: its public development key)",
        meaning="The base64 realm key Fanout issued. Decoded once; never logged, "
        "rendered or shown.",
        backends=BAYEUX,
        compute=_const(None),
        parse=_realm_key,
        secret=True,
        repr=False,
    )
    publish_url: str | None = _setting(
        "FANOUT_PUBLISH_URL",
        default="`https://api.fanout.io/realm/<realm>`; local: "
        "`http://<host>:<port>/realm/local`",
        meaning="Base of the Bayeux publish API (`/publish/` is appended).",
        backends=BAYEUX,
        compute=_publish_url_default,
        parse=_bayeux_value(_publish_base),
    )
    bayeux_url: str | None = _setting(
        "FANOUT_BAYEUX_URL",
        default="`https://<realm>.fanoutcdn.com/bayeux`; local: "
        "`http://<host>:<port>/bayeux`",
        meaning="What browsers connect to. An absolute path is allowed (a "
        "same-origin proxy).",
        backends=BAYEUX,
        compute=_bayeux_url_default,
        parse=_bayeux_value(_url(relative=True)),
    )
    faye_url: str | None = _setting(
        "FANOUT_FAYE_URL",
        default="cloud: the realm's Faye fork; local: `None` (the bundled Faye)",
        meaning="Where browsers load the Faye client from.",
        backends=BAYEUX,
        compute=_faye_url_default,
        parse=_bayeux_value(_url(relative=True, optional=True)),
    )
    faye_integrity: str | None = _setting(
        "FANOUT_FAYE_INTEGRITY",
        default="cloud: the SRI of that file; otherwise `None`",
        meaning="SRI of `FANOUT_FAYE_URL` (the bundled file's hash is computed).",
        backends=BAYEUX,
        compute=_faye_integrity_default,
        parse=_bayeux_value(_faye_integrity),
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
        compute=_const(None),
        parse=_grip_url,
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
        compute=_const(None),
        parse=_stream_url,
    )
    transport_mode: str = _setting(
        "FANOUT_TRANSPORT_MODE",
        default='`"fallback"`',
        meaning='Bayeux: `"fallback"` (WebSocket first, HTTP if it fails) or '
        '`"upgrade"` (Faye\'s own). GRIP: `"fallback"` (stream first, '
        'long-polling if the stream is buffered or hangs), `"stream"` or `"poll"`.',
        compute=_const("fallback"),
        parse=_transport_mode,
    )
    throttle: float = _setting(
        "FANOUT_THROTTLE",
        default="`0.5`",
        meaning="Seconds; the browser coalesces hints per channel within this window.",
        compute=_const(0.5),
        parse=_seconds(minimum=0, strict=False),
    )
    poll_interval: float = _setting(
        "FANOUT_POLL_INTERVAL",
        default="`5`",
        meaning="Seconds between safety-net polls while realtime is not connected.",
        compute=_const(5.0),
        parse=_seconds(minimum=0, strict=True),
    )
    poll_connected_interval: float = _setting(
        "FANOUT_POLL_CONNECTED_INTERVAL",
        default="`300`",
        meaning="Seconds between safety-net polls while connected.",
        compute=_const(300.0),
        parse=_seconds(minimum=0, strict=True),
    )
    channel_prefix: str = _setting(
        "FANOUT_CHANNEL_PREFIX",
        default='`""`',
        meaning="Prepended to every channel on the wire, so staging and "
        "production can share a realm. At most 64 channel characters.",
        compute=_const(""),
        parse=_prefix,
    )
    max_channels: int | None = _setting(
        "FANOUT_MAX_CHANNELS",
        default="`50`",
        meaning="Most channels one browser stream may carry.",
        backends=GRIP,
        compute=_const(50),
        parse=_grip_value(_integer(1, 1000)),
    )
    keep_alive: float | None = _setting(
        "FANOUT_KEEP_ALIVE",
        default="`20`",
        meaning="Seconds of silence after which the proxy sends a keep-alive "
        "comment on a stream; the browser treats a stream silent for much "
        "longer as hung.",
        backends=GRIP,
        compute=_const(20.0),
        parse=_grip_value(_seconds(minimum=1, strict=False)),
    )
    long_poll_timeout: float | None = _setting(
        "FANOUT_LONG_POLL_TIMEOUT",
        default="`25`",
        meaning="Seconds a long-poll is held (GRIP proxies raise it to at least 5).",
        backends=GRIP,
        compute=_const(25.0),
        parse=_grip_value(_seconds(minimum=5, strict=False)),
    )
    suppress_send: bool = _setting(
        "FANOUT_SUPPRESS_SEND",
        default="`app.testing`",
        meaning="Record publishes instead of sending them.",
        compute=lambda ctx: ctx.app.testing,
        parse=_bool,
    )
    queue_size: int = _setting(
        "FANOUT_QUEUE_SIZE",
        default="`10000`",
        meaning="Most non-blocking publishes waiting per endpoint; beyond it they "
        "are dropped (counted, logged, signalled).",
        compute=_const(10000),
        parse=_integer(1, 10_000_000),
    )
    batch_size: int = _setting(
        "FANOUT_BATCH_SIZE",
        default="`100`",
        meaning="Most items per POST.",
        compute=_const(100),
        parse=_integer(1, 10_000),
    )
    batch_bytes: int = _setting(
        "FANOUT_BATCH_BYTES",
        default="`262144`",
        meaning="Most bytes per POST body. A single publish larger than this is "
        "refused by `publish()`.",
        compute=_const(256 * 1024),
        parse=_integer(4096, 64 * 1024 * 1024),
    )
    timeout: float = _setting(
        "FANOUT_TIMEOUT",
        default="`5`",
        meaning="Seconds a request to an endpoint may take in all: connecting, "
        "sending and reading the whole answer.",
        compute=_const(5.0),
        parse=_seconds(minimum=0, strict=True),
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
    ctx = _Context(app, options)
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
