"""GRIP test helpers: Grip-Sig tokens, and apps on the GRIP backend.

The keys here are test keys (32 bytes, so PyJWT does not warn), and the
ES256 pair is made fresh per process with ``cryptography``: no key of
Fastly's is needed to test the ES256 path, only one of the same kind.
"""

from __future__ import annotations

import base64
import functools
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask

SIG_KEY = b"pushpin-test-sig-key-32-bytes-ok"
SIG_ISS = "pushpin"
SIG_KEY_B64 = base64.b64encode(SIG_KEY).decode()


def proxy_uri(
    publish_url: str, *, key: bytes = SIG_KEY, iss: str | None = SIG_ISS
) -> str:
    """A FANOUT_GRIP_URL for a Pushpin-like proxy at ``publish_url``."""
    uri = f"{publish_url}/?verify-key=base64:{base64.b64encode(key).decode()}"
    return uri + (f"&verify-iss={iss}" if iss else "")


def grip_sig(
    *,
    key: Any = SIG_KEY,
    iss: str | None = SIG_ISS,
    exp: int | None = None,
    algorithm: str = "HS256",
) -> str:
    """A Grip-Sig as a proxy makes it (valid unless told otherwise)."""
    claims: dict[str, Any] = {"exp": int(time.time()) + 3600 if exp is None else exp}
    if iss is not None:
        claims["iss"] = iss
    return jwt.encode(claims, key, algorithm=algorithm)


@functools.cache
def es256_pair() -> tuple[bytes, bytes]:
    """A fresh P-256 key pair: (private PEM, public PEM)."""
    private = ec.generate_private_key(ec.SECP256R1())
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, public_pem


def grip_app(grip_url: str | list[str], **config: Any) -> Flask:
    """A bare app on the GRIP backend, sending for real."""
    app = Flask("grip_test_app")
    app.config.update(
        FANOUT_GRIP_URL=grip_url,
        FANOUT_SUPPRESS_SEND=False,
        SECRET_KEY="test-only",
        **config,
    )
    return app
