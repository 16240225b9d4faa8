"""Checking ``Grip-Sig``: the proof that a request came through our GRIP proxy.

A GRIP proxy forwards the browser's request to the app with a ``Grip-Sig``
header, a JWT it signs: HS256 with Pushpin's ``sig_key`` (and the local
realm's development key), ES256 with Fastly's private key. Only a request
that carries a valid one may be answered with hold instructions: anything
else either did not come through the proxy (so holding it would tie up a
WSGI worker for good) or is forged.

Why PyJWT directly rather than gripcontrol's ``validate_sig``: it accepts any
of HS256, RS256 and ES256 for any key (so the token picks how it is checked),
answers only ``True``/``False`` (so the app could not say *why* it refused),
and returns ``False`` without a word when ``cryptography`` is missing, which
would refuse every Fastly request silently. Here the algorithm is pinned per
proxy, the refusal names its reason, and a missing ``cryptography`` is a
configuration error at start-up.
"""

from __future__ import annotations

from collections.abc import Sequence

import jwt

from .._errors import FanoutConfigError
from .._jwt import decode
from ._grip_uri import SigVerifier


def check_verifiers(verifiers: Sequence[SigVerifier]) -> None:
    """Fail at start-up if a verification key cannot be used.

    :raises FanoutConfigError: naming ``FANOUT_GRIP_URL``.
    """
    for verifier in verifiers:
        if verifier.algorithm != "ES256":
            continue
        if not jwt.algorithms.has_crypto:
            raise FanoutConfigError(
                "FANOUT_GRIP_URL",
                "verifying an ES256 Grip-Sig (Fastly) needs the 'cryptography' "
                "package: pip install 'pyjwt[crypto]'",
            )
        try:
            jwt.algorithms.ECAlgorithm(jwt.algorithms.ECAlgorithm.SHA256).prepare_key(
                verifier.key
            )
        except (jwt.InvalidKeyError, ValueError, TypeError):
            raise FanoutConfigError(
                "FANOUT_GRIP_URL", "verify-key is not a usable P-256 public key (PEM)"
            ) from None


def problem(token: str | None, verifiers: Sequence[SigVerifier]) -> str | None:
    """Why ``token`` is not a valid ``Grip-Sig`` from any configured proxy.

    ``None`` means it is valid for at least one of them. The reason given is
    that of the first proxy, which is the only one in most deployments.
    """
    if not token:
        return "missing"
    first: str | None = None
    for verifier in verifiers:
        try:
            decode(
                token,
                verifier.key,
                verifier.algorithm,
                issuer=verifier.issuer,
                max_lifetime=None,
            )
        except jwt.ExpiredSignatureError:
            reason = "expired"
        except (jwt.InvalidIssuerError, jwt.MissingRequiredClaimError) as exc:
            reason = f"refused: {exc}"
        except jwt.InvalidSignatureError:
            reason = "invalid: wrong signature"
        except jwt.InvalidAlgorithmError:
            reason = f"invalid: not signed with {verifier.algorithm}"
        except jwt.PyJWTError as exc:
            reason = f"invalid: {exc}"
        else:
            return None
        first = first or reason
    return first
