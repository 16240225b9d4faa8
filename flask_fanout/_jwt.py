"""The JWTs Flask-Fanout makes and checks: one place for every token rule.

Three kinds of token cross the wire, and all three are HS256 or ES256 JWTs
with ``iss`` and ``exp`` claims:

* the publish token the extension sends to a realm or a GRIP proxy
  (:func:`sign_hs256`);
* the publish token the local realm checks (:func:`decode_hs256`);
* the ``Grip-Sig`` header a GRIP proxy adds to requests it forwards to the app,
  which the app checks (``backends._grip_sig`` calls :func:`decode`), and which
  the local realm signs when it stands in for such a proxy.

Why the extension signs with :mod:`hmac` rather than ``jwt.encode``: PyJWT
(2.10+) emits ``InsecureKeyLengthWarning`` on *every* call with a key shorter
than 32 bytes, and the key's length is the realm owner's (or Pushpin's
``sig_key``) choice, not the user's. Under ``-W error`` that warning would turn
every publish into a failure. An HS256 JWT is a few lines of ``hmac``; tests
verify it with PyJWT. Decoding does use PyJWT, with the key zero-padded to 32
bytes (:func:`hmac_equivalent_key`), which changes no signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt

#: Lifetime of the tokens the extension makes, and so the longest lifetime a
#: receiver needs to accept (plus :data:`CLOCK_LEEWAY`).
TOKEN_LIFETIME = 3600
#: Seconds of clock difference tolerated between signer and verifier.
CLOCK_LEEWAY = 60

_COMPACT = json.JSONEncoder(separators=(",", ":"))


def _b64url(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


_HS256_HEADER = _b64url(b'{"alg":"HS256","typ":"JWT"}')


def sign_hs256(iss: str, key: bytes, *, lifetime: int = TOKEN_LIFETIME) -> str:
    """A fresh HS256 JWT ``{"iss": iss, "exp": now + lifetime}`` signed with ``key``."""
    claims = {"iss": iss, "exp": int(time.time()) + lifetime}
    signing_input = _HS256_HEADER + b"." + _b64url(_COMPACT.encode(claims).encode())
    signature = hmac.digest(key, signing_input, hashlib.sha256)
    return (signing_input + b"." + _b64url(signature)).decode("ascii")


def hmac_equivalent_key(key: bytes) -> bytes:
    """``key`` zero-padded to 32 bytes: the same HMAC-SHA256 key, without a warning.

    HMAC itself zero-pads any key shorter than its 64-byte block, so padding
    to 32 bytes changes no signature; it only keeps PyJWT from warning about a
    key length that the verifier cannot change. Silencing the warning with
    ``warnings.catch_warnings()`` instead would change process-wide filters
    from whatever thread verifies.
    """
    return key.ljust(32, b"\0") if len(key) < 32 else key


def decode(
    token: str,
    key: Any,
    algorithm: str,
    *,
    issuer: str | None,
    max_lifetime: int | None = TOKEN_LIFETIME,
) -> dict[str, Any]:
    """Verify ``token`` and return its claims.

    The algorithm is pinned by the caller, never read from the token, so a
    token cannot pick how it is checked. ``exp`` is required and must be an
    integer; with ``max_lifetime`` it may be at most that far in the future
    (plus leeway), so a leaked token cannot be made to live for a century.

    :raises jwt.PyJWTError: with a message saying what is wrong.
    """
    if algorithm == "HS256" and isinstance(key, bytes):
        key = hmac_equivalent_key(key)
    required = ["exp", "iss"] if issuer else ["exp"]
    claims: dict[str, Any] = jwt.decode(
        token,
        key,
        algorithms=[algorithm],
        issuer=issuer,
        leeway=CLOCK_LEEWAY,
        options={"require": required},
    )
    exp = claims.get("exp")
    # PyJWT converts exp with int(), so "1700000000" and 1.5 would pass.
    if not (type(exp) is int or (type(exp) is float and exp.is_integer())):
        raise jwt.InvalidTokenError("exp must be an integer (NumericDate)")
    if max_lifetime is not None and exp > time.time() + max_lifetime + CLOCK_LEEWAY:
        raise jwt.InvalidTokenError(
            f"exp is more than {max_lifetime} s in the future; tokens are short-lived"
        )
    return claims


def decode_hs256(token: str, key: bytes, *, issuer: str) -> dict[str, Any]:
    """:func:`decode` for the publish tokens signed with a shared secret."""
    return decode(token, key, "HS256", issuer=issuer)
