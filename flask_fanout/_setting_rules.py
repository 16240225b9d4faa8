"""The parsers and defaults of the settings table (``_settings``).

Each function here is one rule of one or more settings: how its default is
computed from the settings resolved before it, or how a raw value becomes the
field's value (raising :class:`~flask_fanout.FanoutConfigError` naming the
key). The table in :mod:`flask_fanout._settings` says which rule each setting
uses; nothing else calls these.
"""

from __future__ import annotations

import re
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


class Context:
    """What a default or a parser may look at while the config is resolved."""

    def __init__(
        self, app: Flask, options: Mapping[str, Any], fields: Mapping[str, str]
    ) -> None:
        self.app = app
        self.options = options
        #: Key -> field name, for looking up keyword options.
        self.fields = fields
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
        return self.options.get(self.fields.get(key, ""))

    def given(self, key: str) -> bool:
        """Whether the app (or an option) sets ``key``, as opposed to its default."""
        field = self.fields.get(key)
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


def const(value: Any) -> Callable[[Context], Any]:
    return lambda ctx: value


def seconds(*, minimum: float, strict: bool) -> Callable[[Context, Any], float]:
    def parse(ctx: Context, value: Any) -> float:
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


def integer(minimum: int, maximum: int) -> Callable[[Context, Any], int]:
    def parse(ctx: Context, value: Any) -> int:
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


def boolean(ctx: Context, value: Any) -> bool:
    if not isinstance(value, bool):
        raise FanoutConfigError(ctx.current, f"expected True or False, got {value!r}")
    return value


def url_rule(
    *, relative: bool = False, optional: bool = False
) -> Callable[[Context, Any], str | None]:
    def parse(ctx: Context, value: Any) -> str | None:
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


def publish_base(ctx: Context, value: Any) -> str:
    url = url_rule()(ctx, value)
    assert url is not None
    if url.endswith("/publish"):
        raise FanoutConfigError(
            ctx.current,
            "give the base URL without /publish (it is appended), e.g. "
            f"{url.removesuffix('/publish')!r}",
        )
    return url


def host(ctx: Context, value: Any) -> str:
    if not isinstance(value, str) or not value or "/" in value:
        raise FanoutConfigError(ctx.current, "expected a host name or IP address")
    return value


def embed(ctx: Context, value: Any) -> bool | str:
    if isinstance(value, bool) or value == "auto":
        return value  # type: ignore[no-any-return]
    raise FanoutConfigError(
        ctx.current, f"expected True, False or 'auto', got {value!r}"
    )


def backend_default(ctx: Context) -> str:
    given = ctx.given_value("FANOUT_GRIP_URL")
    return "bayeux" if given is None or given == "" else "grip"


def backend(ctx: Context, value: Any) -> str:
    if value not in ("bayeux", "grip"):
        raise FanoutConfigError(
            ctx.current, f"expected 'bayeux' or 'grip', got {value!r}"
        )
    return str(value)


def local_flag(ctx: Context) -> bool:
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


def realm_id(ctx: Context, value: Any) -> str:
    if ctx.local:
        return _local.LOCAL_REALM_ID
    if not isinstance(value, str) or not _REALM_ID.fullmatch(value):
        raise FanoutConfigError(
            ctx.current,
            f"expected the realm id (letters, digits, - _ .), got {value!r}",
        )
    return value


def decode_realm_key(value: object, *, key: str = "FANOUT_REALM_KEY") -> bytes:
    """The raw bytes of a base64 realm key setting, or an error naming ``key``
    that never shows the value: :func:`flask_fanout._local.decode_realm_key`,
    the one decoding of a realm key, as a configuration error.
    """
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str) or not value.strip():
        raise FanoutConfigError(
            key, "expected the base64 realm key Fanout issued, as a string"
        )
    try:
        return _local.decode_realm_key(value)
    except ValueError as exc:
        raise FanoutConfigError(key, str(exc)) from None


def realm_key(ctx: Context, value: Any) -> bytes:
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


def publish_url_default(ctx: Context) -> str | None:
    if ctx.backend != "bayeux":
        return None
    if ctx.local:
        return f"{ctx.local_base()}/realm/{_local.LOCAL_REALM_ID}"
    return f"https://api.fanout.io/realm/{ctx.values['realm_id']}"


def bayeux_url_default(ctx: Context) -> str | None:
    if ctx.backend != "bayeux":
        return None
    if ctx.local:
        return f"{ctx.local_base()}/bayeux"
    return f"https://{ctx.values['realm_id']}.fanoutcdn.com/bayeux"


def cloud_faye(ctx: Context) -> bool:
    """A Fanout Cloud realm with no Faye URL of the user's: use the realm's fork."""
    return (
        ctx.backend == "bayeux" and not ctx.local and not ctx.given("FANOUT_FAYE_URL")
    )


def faye_url_default(ctx: Context) -> str | None:
    if cloud_faye(ctx):
        return (
            f"https://{ctx.values['realm_id']}.fanoutcdn.com/bayeux/static/"
            f"{CLOUD_FAYE_FILE}"
        )
    return None


def bayeux_value(
    parse: Callable[[Context, Any], Any],
) -> Callable[[Context, Any], Any]:
    """Parse only on the Bayeux backend; elsewhere the value is ignored (None)."""
    return lambda ctx, value: parse(ctx, value) if ctx.backend == "bayeux" else None


def grip_value(
    parse: Callable[[Context, Any], Any],
) -> Callable[[Context, Any], Any]:
    return lambda ctx, value: parse(ctx, value) if ctx.backend == "grip" else None


def faye_integrity(ctx: Context, value: Any) -> str | None:
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


def faye_integrity_default(ctx: Context) -> str | None:
    return CLOUD_FAYE_INTEGRITY if cloud_faye(ctx) else None


def grip_url(ctx: Context, value: Any) -> tuple[GripProxy, ...] | None:
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


def stream_url(ctx: Context, value: Any) -> str | None:
    if ctx.backend != "grip" or value is None:
        return None
    return url_rule(relative=True)(ctx, value)


def transport_mode(ctx: Context, value: Any) -> str:
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


def prefix(ctx: Context, value: Any) -> str:
    problem = prefix_problem(value)
    if problem is not None:
        raise FanoutConfigError(ctx.current, problem)
    return str(value)


def use_local_realm(ctx: Context, value: Any) -> bool | str:
    if isinstance(value, bool) or value == "auto":
        return value  # type: ignore[no-any-return]
    raise FanoutConfigError(
        ctx.current, f"expected True, False or 'auto', got {value!r}"
    )
