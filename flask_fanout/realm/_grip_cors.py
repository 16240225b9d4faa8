"""CORS for the stream endpoint while the realm stands in for a GRIP proxy.

In development the pages come from the app (``http://127.0.0.1:5000``) and
the stream from the realm (``http://127.0.0.1:7999``): same host, another
port, so another origin. The browser opens the stream with credentials (the
app's session cookie must reach its stream view), and a credentialed
cross-origin read needs the exact ``Origin`` echoed with
``Access-Control-Allow-Credentials: true``.

Which origins: one whose host is the host the browser asked the realm for
(its ``Host`` header, which the realm's ``Host`` check has already vetted
against DNS rebinding), whatever the port, or one listed with
``--allow-origin``. Any other page gets no CORS headers, so it cannot read a
developer's streams through the realm on their machine. Behind Pushpin the
page and the stream share an origin and none of this applies (Pushpin's own
``auto_cross_origin`` is off by default).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Collection

from aiohttp import web
from multidict import CIMultiDict

#: ``Access-Control-Request-Headers`` echoed back when it is a plain list of
#: header names of reasonable length.
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_HEADER_LIST = re.compile(rf"{_TOKEN}(?:\s*,\s*{_TOKEN})*")
_MAX_HEADER_LIST = 1024
_MAX_ORIGIN = 512
#: Seconds a browser may cache a preflight answer.
PREFLIGHT_MAX_AGE = 600


def check_allowed_origin(origin: str) -> str:
    """A page origin as a browser sends it in ``Origin``, or a ``ValueError``.

    ``*`` is refused: the stream is read with credentials, and browsers
    refuse a wildcard on a credentialed answer.
    """
    if not isinstance(origin, str):
        raise ValueError(
            f"allowed origin must be a string, got {type(origin).__name__}"
        )
    text = origin.strip().rstrip("/")
    if text == "*":
        raise ValueError(
            "allowed origin '*' cannot work: the stream is read with credentials, "
            "and browsers refuse a wildcard on a credentialed answer"
        )
    try:
        parts = urllib.parse.urlsplit(text)
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        parts = urllib.parse.urlsplit("")
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path
        or parts.query
        or parts.fragment
        or parts.username
        or parts.password
    ):
        raise ValueError(
            f"allowed origin {origin!r} must look like http://host[:port], "
            "as a browser sends it in the Origin header"
        )
    return f"{parts.scheme}://{parts.netloc.lower()}"


def _hostname(url: str) -> str | None:
    try:
        return urllib.parse.urlsplit(url).hostname
    except ValueError:
        return None


def allowed_origin(request: web.Request, allowed: Collection[str]) -> str | None:
    """The request's ``Origin`` if it may read the answer, else ``None``."""
    origin = request.headers.get("Origin")
    if not origin or len(origin) > _MAX_ORIGIN or origin == "null":
        return None
    if origin.lower() in allowed:
        return origin
    scheme = origin.partition(":")[0].lower()
    if scheme not in ("http", "https"):
        return None
    page_host = _hostname(origin)
    host_header = request.headers.get("Host")
    if not page_host or not host_header:
        return None
    if page_host == _hostname("//" + host_header):
        return origin
    return None


def add_cors(headers: CIMultiDict[str], origin: str | None) -> None:
    """Grant ``origin`` (if any) a credentialed read of this answer."""
    if origin is None:
        return
    for name in ("Access-Control-Allow-Origin", "Access-Control-Allow-Credentials"):
        headers.popall(name, None)
    headers["Access-Control-Allow-Origin"] = origin
    headers["Access-Control-Allow-Credentials"] = "true"
    vary = [v.strip() for v in ",".join(headers.getall("Vary", [])).split(",")]
    if not any(v.lower() in ("origin", "*") for v in vary):
        headers.add("Vary", "Origin")


def preflight(request: web.Request, allowed: Collection[str]) -> web.Response:
    """Answer an ``OPTIONS`` to the stream endpoint without asking the app."""
    headers: CIMultiDict[str] = CIMultiDict({"Allow": "GET, OPTIONS"})
    origin = allowed_origin(request, allowed)
    if origin is not None:
        add_cors(headers, origin)
        headers["Access-Control-Allow-Methods"] = "GET, OPTIONS"
        asked = request.headers.get("Access-Control-Request-Headers", "").strip()
        if asked and len(asked) <= _MAX_HEADER_LIST and _HEADER_LIST.fullmatch(asked):
            headers["Access-Control-Allow-Headers"] = asked
        headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
    return web.Response(status=204, headers=headers)
