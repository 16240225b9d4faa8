"""Reading and validating the ``FANOUT_*`` settings.

Everything that reads settings (the publisher, the local realm, the template
helpers, the CLI) reads one validated :class:`FanoutConfig`, built once by
:func:`load_config` at ``init_app``, instead of parsing ``app.config`` again:
a bad value then fails at start-up, with the name of its key.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from collections.abc import Mapping
from typing import Any
from typing import Literal
from urllib.parse import urlsplit

from flask import Flask

from . import _local
from ._channels import CHANNEL_CHARS
from ._errors import FanoutConfigError

TransportMode = Literal["fallback", "upgrade"]


@dataclasses.dataclass(frozen=True)
class FanoutConfig:
    """The effective, validated configuration of one app.

    It is computed once at ``init_app`` so that a bad setting fails at
    start-up, with the name of the key, rather than at the first publish.
    """

    #: ``FANOUT_REALM_ID``; ``"local"`` when none is configured.
    realm_id: str
    #: The decoded ``FANOUT_REALM_KEY`` (raw bytes). Never rendered or logged.
    realm_key: bytes = dataclasses.field(repr=False)
    #: True when no realm is configured and the local realm stands in.
    local: bool
    #: ``FANOUT_PUBLISH_URL``: pubcontrol-style base, ``.../realm/<realm>``.
    publish_url: str
    #: ``FANOUT_BAYEUX_URL``: what browsers connect to.
    bayeux_url: str
    #: ``FANOUT_FAYE_URL`` / ``FANOUT_FAYE_INTEGRITY``; ``None`` means the
    #: bundled Faye served by our blueprint, with its computed hash.
    faye_url: str | None
    faye_integrity: str | None
    #: ``FANOUT_TRANSPORT_MODE``.
    transport_mode: TransportMode
    #: ``FANOUT_THROTTLE`` in seconds (the JS gets milliseconds).
    throttle: float
    #: ``FANOUT_POLL_INTERVAL`` and ``FANOUT_POLL_CONNECTED_INTERVAL``, seconds.
    poll_interval: float
    poll_connected_interval: float
    #: ``FANOUT_CHANNEL_PREFIX``.
    channel_prefix: str
    #: ``FANOUT_SUPPRESS_SEND``: record instead of sending (default: app.testing).
    suppress_send: bool
    #: ``FANOUT_QUEUE_SIZE``, ``FANOUT_BATCH_SIZE``, ``FANOUT_TIMEOUT`` (s).
    queue_size: int
    batch_size: int
    timeout: float
    #: ``FANOUT_LOCAL_REALM_HOST`` / ``_PORT`` / ``_EMBED`` ("auto", True, False).
    local_realm_host: str
    local_realm_port: int
    local_realm_embed: bool | Literal["auto"]


#: Fanout's fork of the Faye browser client, served by every cloud realm,
#: and its Subresource Integrity value (from the protocol notes, which
#: checked it against the served file).
CLOUD_FAYE_FILE = "faye-browser-1.1.2-fanout1-min.js"
CLOUD_FAYE_INTEGRITY = (
    "sha384-/9uLm3UDnP3tBHstjgZiqLa7fopVRjYmFinSBjz+FPS/ibb2C4aowhIttvYIGGt9"
)

#: The longest ``FANOUT_CHANNEL_PREFIX`` accepted.
MAX_PREFIX_LENGTH = 64

#: Every key ``load_config`` reads, with its ``FanoutConfig`` field. The
#: keyword options of ``FanoutExt`` are these field names.
KEYS: Mapping[str, str] = {
    "realm_id": "FANOUT_REALM_ID",
    "realm_key": "FANOUT_REALM_KEY",
    "publish_url": "FANOUT_PUBLISH_URL",
    "bayeux_url": "FANOUT_BAYEUX_URL",
    "faye_url": "FANOUT_FAYE_URL",
    "faye_integrity": "FANOUT_FAYE_INTEGRITY",
    "transport_mode": "FANOUT_TRANSPORT_MODE",
    "throttle": "FANOUT_THROTTLE",
    "poll_interval": "FANOUT_POLL_INTERVAL",
    "poll_connected_interval": "FANOUT_POLL_CONNECTED_INTERVAL",
    "channel_prefix": "FANOUT_CHANNEL_PREFIX",
    "suppress_send": "FANOUT_SUPPRESS_SEND",
    "queue_size": "FANOUT_QUEUE_SIZE",
    "batch_size": "FANOUT_BATCH_SIZE",
    "timeout": "FANOUT_TIMEOUT",
    "local_realm_host": "FANOUT_LOCAL_REALM_HOST",
    "local_realm_port": "FANOUT_LOCAL_REALM_PORT",
    "local_realm_embed": "FANOUT_LOCAL_REALM_EMBED",
}

_REALM_ID = re.compile(r"[A-Za-z0-9_\-.]{1,128}")
_PREFIX = re.compile(f"[{CHANNEL_CHARS}]*")
_SRI_ONE = r"(sha256|sha384|sha512)-[A-Za-z0-9+/]+={0,2}"
_SRI = re.compile(f"{_SRI_ONE}( +{_SRI_ONE})*")


def _number(
    config: Mapping[str, Any], key: str, *, minimum: float, strict: bool = False
) -> float:
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FanoutConfigError(
            key, f"expected a number of seconds, got {type(value).__name__}"
        )
    if value != value or value < minimum or (strict and value == minimum):
        bound = f"greater than {minimum}" if strict else f"at least {minimum}"
        raise FanoutConfigError(key, f"must be {bound}, got {value!r}")
    return float(value)


def _integer(config: Mapping[str, Any], key: str, *, minimum: int, maximum: int) -> int:
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise FanoutConfigError(key, f"expected an integer, got {type(value).__name__}")
    if not minimum <= value <= maximum:
        raise FanoutConfigError(
            key, f"must be between {minimum} and {maximum}, got {value}"
        )
    return value


def _url(
    config: Mapping[str, Any],
    key: str,
    schemes: tuple[str, ...],
    *,
    relative: bool = False,
) -> str:
    value = config[key]
    if not isinstance(value, str) or not value:
        raise FanoutConfigError(key, "expected a non-empty URL string")
    if relative and value.startswith("/") and not value.startswith("//"):
        return value.rstrip("/") or "/"
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.netloc:
        allowed = " or ".join(f"{s}://" for s in schemes)
        extra = " (or an absolute path)" if relative else ""
        raise FanoutConfigError(key, f"expected an {allowed} URL{extra}, got {value!r}")
    if parts.query or parts.fragment:
        raise FanoutConfigError(key, "must not carry a query string or fragment")
    return value.rstrip("/")


def _host_for_url(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _decode_key(value: object) -> bytes:
    key = "FANOUT_REALM_KEY"
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
        raise FanoutConfigError(key, "is not valid base64 (value not shown)") from None
    if not raw:
        raise FanoutConfigError(key, "decodes to an empty key")
    return raw


def load_config(app: Flask, options: Mapping[str, Any] | None = None) -> FanoutConfig:
    """Read and validate the ``FANOUT_*`` settings of ``app``.

    Each key is filled in with :meth:`dict.setdefault`, so after this call
    ``app.config`` shows the effective values (the realm key excepted: an
    unset key stays ``None`` rather than exposing the local development key in
    config dumps). ``options`` (field name to value, from ``FanoutExt``
    keyword arguments) take the place of the built-in defaults; a value set in
    ``app.config`` always wins, so deployments can override code.

    Without ``FANOUT_REALM_ID`` the local realm stands in: realm ``local``
    with the fixed development key, on ``FANOUT_LOCAL_REALM_HOST`` and
    ``FANOUT_LOCAL_REALM_PORT``.

    The defaults are written to ``app.config`` only once every key is valid:
    a failed call leaves it untouched, so defaults computed from a bad
    configuration (say, the local realm's URLs) cannot outlive the fix.

    :raises FanoutConfigError: naming the first key that is missing or
        malformed.

    .. versionadded:: 0.1
    """
    options = options or {}
    # The effective values, read through ``default``; copied into app.config
    # at the end, on success.
    config: dict[str, Any] = {}

    def default(field: str, value: Any) -> Any:
        key = KEYS[field]
        config[key] = app.config.get(key, options.get(field, value))
        return config[key]

    default("realm_id", None)
    default("realm_key", None)
    default("local_realm_host", _local.LOCAL_REALM_HOST)
    default("local_realm_port", _local.LOCAL_REALM_PORT)
    default("local_realm_embed", "auto")

    host = config["FANOUT_LOCAL_REALM_HOST"]
    if not isinstance(host, str) or not host or "/" in host:
        raise FanoutConfigError(
            "FANOUT_LOCAL_REALM_HOST", "expected a host name or IP address"
        )
    port = _integer(config, "FANOUT_LOCAL_REALM_PORT", minimum=1, maximum=65535)
    embed = config["FANOUT_LOCAL_REALM_EMBED"]
    if not (isinstance(embed, bool) or embed == "auto"):
        raise FanoutConfigError(
            "FANOUT_LOCAL_REALM_EMBED", f"expected True, False or 'auto', got {embed!r}"
        )

    realm_id = config["FANOUT_REALM_ID"]
    raw_key = config["FANOUT_REALM_KEY"]
    local = realm_id is None or realm_id == ""
    if local:
        if raw_key not in (None, ""):
            raise FanoutConfigError(
                "FANOUT_REALM_ID",
                "FANOUT_REALM_KEY is set but FANOUT_REALM_ID is not; "
                "set both (or neither, for the local realm)",
            )
        realm_id = _local.LOCAL_REALM_ID
        realm_key = base64.b64decode(_local.LOCAL_REALM_KEY)
        base = f"http://{_host_for_url(host)}:{port}"
        default("publish_url", f"{base}/realm/{realm_id}")
        default("bayeux_url", f"{base}/bayeux")
        default("faye_url", None)
        default("faye_integrity", None)
    else:
        if not isinstance(realm_id, str) or not _REALM_ID.fullmatch(realm_id):
            raise FanoutConfigError(
                "FANOUT_REALM_ID",
                f"expected the realm id (letters, digits, - _ .), got {realm_id!r}",
            )
        if raw_key is None or raw_key == "":
            raise FanoutConfigError(
                "FANOUT_REALM_KEY",
                f"is required when FANOUT_REALM_ID is set (realm {realm_id!r})",
            )
        realm_key = _decode_key(raw_key)
        default("publish_url", f"https://api.fanout.io/realm/{realm_id}")
        default("bayeux_url", f"https://{realm_id}.fanoutcdn.com/bayeux")
        if "FANOUT_FAYE_URL" not in app.config and "faye_url" not in options:
            default(
                "faye_url",
                f"https://{realm_id}.fanoutcdn.com/bayeux/static/{CLOUD_FAYE_FILE}",
            )
            default("faye_integrity", CLOUD_FAYE_INTEGRITY)
        else:
            default("faye_url", None)
            default("faye_integrity", None)

    publish_url = _url(config, "FANOUT_PUBLISH_URL", ("http", "https"))
    bayeux_url = _url(config, "FANOUT_BAYEUX_URL", ("http", "https"), relative=True)
    faye_url: str | None = None
    if config["FANOUT_FAYE_URL"] is not None:
        faye_url = _url(config, "FANOUT_FAYE_URL", ("http", "https"), relative=True)
    faye_integrity = config["FANOUT_FAYE_INTEGRITY"]
    if faye_integrity is not None and (
        not isinstance(faye_integrity, str) or not _SRI.fullmatch(faye_integrity)
    ):
        raise FanoutConfigError(
            "FANOUT_FAYE_INTEGRITY",
            "expected None or an SRI value such as 'sha384-<base64>'",
        )
    if faye_integrity is not None and faye_url is None:
        raise FanoutConfigError(
            "FANOUT_FAYE_INTEGRITY",
            "only applies with FANOUT_FAYE_URL; the bundled Faye gets its hash "
            "computed",
        )

    default("transport_mode", "fallback")
    transport_mode = config["FANOUT_TRANSPORT_MODE"]
    if transport_mode not in ("fallback", "upgrade"):
        raise FanoutConfigError(
            "FANOUT_TRANSPORT_MODE",
            f"expected 'fallback' or 'upgrade', got {transport_mode!r}",
        )

    default("throttle", 0.5)
    default("poll_interval", 5.0)
    default("poll_connected_interval", 300.0)
    throttle = _number(config, "FANOUT_THROTTLE", minimum=0)
    poll_interval = _number(config, "FANOUT_POLL_INTERVAL", minimum=0, strict=True)
    poll_connected = _number(
        config, "FANOUT_POLL_CONNECTED_INTERVAL", minimum=0, strict=True
    )

    default("channel_prefix", "")
    prefix = config["FANOUT_CHANNEL_PREFIX"]
    if not isinstance(prefix, str):
        raise FanoutConfigError(
            "FANOUT_CHANNEL_PREFIX", f"expected a str, got {type(prefix).__name__}"
        )
    if len(prefix) > MAX_PREFIX_LENGTH or not _PREFIX.fullmatch(prefix):
        raise FanoutConfigError(
            "FANOUT_CHANNEL_PREFIX",
            f"expected at most {MAX_PREFIX_LENGTH} of the characters "
            f"A-Z a-z 0-9 - _ ! ~ ( ) $ @, got {prefix!r}",
        )

    default("suppress_send", app.testing)
    suppress = config["FANOUT_SUPPRESS_SEND"]
    if not isinstance(suppress, bool):
        raise FanoutConfigError(
            "FANOUT_SUPPRESS_SEND", f"expected True or False, got {suppress!r}"
        )

    default("queue_size", 10000)
    default("batch_size", 100)
    default("timeout", 5.0)
    queue_size = _integer(config, "FANOUT_QUEUE_SIZE", minimum=1, maximum=10_000_000)
    batch_size = _integer(config, "FANOUT_BATCH_SIZE", minimum=1, maximum=10_000)
    timeout = _number(config, "FANOUT_TIMEOUT", minimum=0, strict=True)

    for key, value in config.items():
        app.config.setdefault(key, value)
    return FanoutConfig(
        realm_id=realm_id,
        realm_key=realm_key,
        local=local,
        publish_url=publish_url,
        bayeux_url=bayeux_url,
        faye_url=faye_url,
        faye_integrity=faye_integrity,
        transport_mode=transport_mode,
        throttle=throttle,
        poll_interval=poll_interval,
        poll_connected_interval=poll_connected,
        channel_prefix=prefix,
        suppress_send=suppress,
        queue_size=queue_size,
        batch_size=batch_size,
        timeout=timeout,
        local_realm_host=host,
        local_realm_port=port,
        local_realm_embed=embed,
    )
