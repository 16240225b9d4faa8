"""``FANOUT_GRIP_URL``: GRIP proxy URIs in the convention gripcontrol uses.

One URI names one proxy: where to publish (``control_uri`` + ``/publish/``),
how to authenticate the publish (``iss`` + ``key`` for a JWT, ``key`` alone
for a bearer token) and how to verify the ``Grip-Sig`` header the proxy adds
to the requests it forwards (``verify-key``, ``verify-iss``). gripcontrol's
:func:`~gripcontrol.parse_grip_uri` does the parsing, so a URI that works with
django-grip works here; this module adds the checks gripcontrol leaves out
(unknown parameters, credentials in the URL, a proxy whose signature could
not be verified) and Fastly's published verification key.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

from gripcontrol import parse_grip_uri

from .._errors import FanoutConfigError

#: Fastly Fanout signs ``Grip-Sig`` with ES256 and this P-256 public key.
#: Source: Fastly's GRIP library for JavaScript, fanout/js-grip,
#: ``src/fastly-fanout/keys.ts`` (``PUBLIC_KEY_FASTLY_FANOUT_PEM``), and the
#: "Fastly Fanout as a GRIP proxy" section of its README. A JWT issued by Fanout
#: was checked against it.
FASTLY_PUBLIC_KEY_PEM = b"""-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAECKo5A1ebyFcnmVV8SE5On+8G81Jy
BjSvcrx4VLetWCjuDAmppTo3xM/zz763COTCgHfp/6lPdCyYjjqc+GM7sw==
-----END PUBLIC KEY-----
"""
#: The host of Fastly's publishing API: URIs on it verify with the key above.
FASTLY_API_HOST = "api.fastly.com"

_KNOWN_PARAMS = frozenset({"iss", "key", "verify-iss", "verify-key"})
_SETTING = "FANOUT_GRIP_URL"


@dataclasses.dataclass(frozen=True)
class SigVerifier:
    """How to check one proxy's ``Grip-Sig``: a pinned algorithm and its key."""

    algorithm: str  # "HS256" or "ES256"
    key: Any = dataclasses.field(repr=False)  # bytes, or a PEM public key
    issuer: str | None


@dataclasses.dataclass(frozen=True)
class GripProxy:
    """One GRIP proxy: where publishes go, how they are signed, how it signs.

    .. versionadded:: 0.2
    """

    #: The publish base (``/publish/`` is appended), without credentials.
    control_uri: str
    #: The JWT issuer; with :attr:`key`, publishes carry a signed JWT.
    iss: str | None
    #: The JWT key (raw bytes) or, without :attr:`iss`, a bearer token (str).
    key: bytes | str | None = dataclasses.field(repr=False)
    verifier: SigVerifier | None

    @property
    def publish_url(self) -> str:
        return self.control_uri + "/publish/"


def _valid_base64(text: str) -> bool:
    try:
        return bool(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        return False


def _as_bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


def parse_proxy(uri: object, *, position: int | None = None) -> GripProxy:
    """Parse one ``FANOUT_GRIP_URL`` entry.

    :raises FanoutConfigError: naming the setting (and the entry's position in
        a list), never echoing a key or token.
    """
    where = _SETTING if position is None else f"{_SETTING}[{position}]"
    if not isinstance(uri, str) or not uri.strip():
        raise FanoutConfigError(where, "expected a GRIP proxy URI string")
    parts = urlsplit(uri.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FanoutConfigError(
            where, f"expected an http:// or https:// URI, got scheme {parts.scheme!r}"
        )
    if parts.username or parts.password:
        raise FanoutConfigError(
            where,
            "credentials in the URL are not supported (they would end up in logs); "
            "pass the publish key as ?key=...",
        )
    if parts.fragment:
        raise FanoutConfigError(where, "must not carry a fragment")
    params = parse_qs(parts.query.replace("+", "%2B"))
    unknown = sorted(set(params) - _KNOWN_PARAMS)
    if unknown:
        raise FanoutConfigError(
            where,
            f"unknown parameter(s) {', '.join(unknown)}; expected iss, key, "
            "verify-iss, verify-key",
        )
    if parts.path.rstrip("/").endswith("/publish"):
        raise FanoutConfigError(
            where,
            "give the proxy's base URI without /publish/ (it is appended), "
            f"e.g. {parts.scheme}://{parts.netloc}"
            f"{parts.path.rstrip('/').removesuffix('/publish')}",
        )
    for name in ("key", "verify-key"):
        for value in params.get(name, []):
            if value.startswith("base64:") and not _valid_base64(value[7:]):
                raise FanoutConfigError(
                    where, f"{name}= is not valid base64 (value not shown)"
                )
    parsed = parse_grip_uri(uri.strip())
    iss = parsed.get("control_iss")
    key = parsed.get("key")
    if iss is not None and key is None:
        raise FanoutConfigError(where, "iss= needs key= to sign the publish JWT")
    verifier = _verifier(parts.hostname, parsed, where)
    if isinstance(key, str) and iss is not None:
        key = key.encode("utf-8")
    return GripProxy(
        control_uri=parsed["control_uri"],
        iss=iss,
        key=key,
        verifier=verifier,
    )


def _verifier(host: str, parsed: dict[str, Any], where: str) -> SigVerifier:
    issuer = parsed.get("verify_iss")
    if "verify_key" in parsed:
        key = _as_bytes(parsed["verify_key"])
        if key.lstrip().startswith(b"-----BEGIN"):
            return SigVerifier("ES256", key, issuer)
        return SigVerifier("HS256", key, issuer)
    if host == FASTLY_API_HOST:
        return SigVerifier("ES256", FASTLY_PUBLIC_KEY_PEM, issuer)
    if "key" in parsed and "control_iss" in parsed:
        # django-grip's convention: a proxy whose publishes are signed with
        # a shared key signs Grip-Sig with the same key.
        return SigVerifier("HS256", _as_bytes(parsed["key"]), issuer)
    raise FanoutConfigError(
        where,
        "no way to verify Grip-Sig: add verify-key=<the proxy's sig_key> "
        "(base64:... for binary keys) and, ideally, verify-iss=<its sig_iss>",
    )


def parse_proxies(value: object) -> tuple[GripProxy, ...]:
    """Parse ``FANOUT_GRIP_URL``: one URI or a non-empty list of them."""
    if isinstance(value, str):
        return (parse_proxy(value),)
    if isinstance(value, list | tuple) and value:
        proxies = tuple(parse_proxy(v, position=i) for i, v in enumerate(value))
        uris = [p.control_uri for p in proxies]
        if len(set(uris)) != len(uris):
            raise FanoutConfigError(_SETTING, "lists the same proxy twice")
        return proxies
    raise FanoutConfigError(
        _SETTING, "expected a GRIP proxy URI or a non-empty list of them"
    )
