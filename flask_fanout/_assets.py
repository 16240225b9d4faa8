"""Serving the bundled browser files, and the ``<script>`` tags that load them.

Two things live here because they must agree with each other:

* a blueprint that serves ``flask_fanout/static`` at ``/_fanout/static/``,
  and only the versioned files in it, with far-future immutable caching;
* :func:`render_script`, which renders the config element the JS module reads
  and the ``<script>`` tags whose ``integrity`` is computed from exactly the
  bytes that blueprint serves.

Nothing here ever sees the realm key except through :class:`FanoutConfig`,
and only fields that are safe to publish are copied into the page.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint
from flask import Flask
from flask import Response
from flask import abort
from flask import current_app
from flask import has_request_context
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup
from markupsafe import escape

from flask_fanout import _static
from flask_fanout._settings import FanoutConfig
from flask_fanout.backends import Backend

__all__ = ["BLUEPRINT_NAME", "STATIC_URL_PREFIX", "register_assets", "render_script"]

#: The blueprint's name, hence the endpoint ``fanout.static`` for ``url_for``.
BLUEPRINT_NAME = "fanout"
#: Where the files are served. A blueprint without its own URL prefix would be
#: shadowed by the app's ``/static`` folder, so the prefix is explicit.
STATIC_URL_PREFIX = "/_fanout/static"

#: One year: the longest lifetime caches honour. Safe only because every
#: served name carries a version, so a new release is a new URL.
_IMMUTABLE = "public, max-age=31536000, immutable"

#: The id of the JSON element the JS module reads its configuration from.
CONFIG_ELEMENT_ID = "flask-fanout-config"

#: What could end the ``<script>`` element or start markup inside it. Line
#: terminators such as U+2028 need nothing here: ``json.dumps`` escapes every
#: non-ASCII character already.
_JSON_ESCAPES = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
}

#: Names of Faye builds copied from npm (``faye-browser-1.4.3.min.js``): the
#: version is the part that changes between releases.
_FAYE_NAME = re.compile(r"faye-browser-\d+(?:\.\d+)*(?:-[0-9A-Za-z.]+)?\.min\.js")


#: The suffixes of the module's builds: one classic and one ES module per backend.
_BUILDS = frozenset(
    f"{backend}.{kind}" for backend in ("bayeux", "grip") for kind in ("min.js", "mjs")
)


def _is_versioned(filename: str) -> bool:
    """Whether ``filename`` is a versioned shipped file we may serve forever.

    Anything else (the ``.d.ts``, licence text, stray files, paths with
    separators) is not meant for browsers, and serving it under an immutable
    cache header would pin a name whose content can change.
    """
    if "/" in filename or "\\" in filename or filename.startswith("."):
        return False
    prefix = f"flask-fanout-{_static.package_version()}."
    if filename.startswith(prefix):
        return filename[len(prefix) :] in _BUILDS
    return _FAYE_NAME.fullmatch(filename) is not None


@functools.cache
def _load(path: Path, mtime_ns: int) -> tuple[bytes, str]:
    """A shipped file's bytes and a strong ETag, read once per file version.

    The files are small (tens of KB) and immutable once built, so keeping them
    in memory beats reopening them on every request, and leaves no file handle
    for a response to forget to close.
    """
    body = path.read_bytes()
    return body, hashlib.sha256(body).hexdigest()[:32]


_MIMETYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
}


def _serve_static(filename: str) -> ResponseReturnValue:
    if not _is_versioned(filename):
        abort(404)
    path = _static.STATIC_DIR / filename
    try:
        stat = path.stat()
    except OSError:
        abort(404)
    body, etag = _load(path, stat.st_mtime_ns)
    response = Response(body, mimetype=_MIMETYPES[path.suffix])
    response.set_etag(etag)
    response.last_modified = datetime.datetime.fromtimestamp(
        stat.st_mtime, datetime.UTC
    )
    response.headers["Cache-Control"] = _IMMUTABLE
    # The module and Faye are loaded with crossorigin="anonymous" (needed for
    # SRI on a cross-origin CDN); allowing any origin here keeps that working
    # when pages and static files are served from different hosts.
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response.make_conditional(request)


def _make_blueprint() -> Blueprint:
    blueprint = Blueprint(
        BLUEPRINT_NAME,
        __name__,
        # Makes ``{% from "fanout/macros.html" import ... %}`` resolve.
        template_folder="templates",
        url_prefix=STATIC_URL_PREFIX,
    )
    # A route of our own instead of ``static_folder=``: Flask's static view
    # would serve every file in the folder, with the app's default caching.
    blueprint.add_url_rule(
        "/<path:filename>", endpoint="static", view_func=_serve_static
    )
    return blueprint


def register_assets(app: Flask) -> None:
    """Serve the bundled JS at ``/_fanout/static/`` and expose the macros.

    Called by ``FanoutExt.init_app``. Registering twice on one app is a no-op,
    so an app that also calls it by hand is not broken.
    """
    if BLUEPRINT_NAME in app.blueprints:
        return
    app.register_blueprint(_make_blueprint())


def _fingerprint(filename: str) -> str:
    """A short digest of a shipped file's current bytes."""
    path = _static.static_path(filename)
    return _load(path, path.stat().st_mtime_ns)[1][:12]


def static_url(filename: str) -> str:
    """The URL of a shipped file, honouring ``SCRIPT_NAME``/``APPLICATION_ROOT``.

    Inside a request ``url_for`` knows the mount point. Outside one (an e-mail
    template, a pre-rendered page) it does too when ``SERVER_NAME`` is set;
    otherwise the app's ``APPLICATION_ROOT`` is the best available answer.

    The URL carries ``?v=<digest of the content>``. Released files never
    change under a versioned name, but a rebuilt checkout (``npm run build``
    without a version bump) does; without the digest a browser would keep the
    old, immutable-cached copy and refuse it against the new integrity hash.
    """
    version = _fingerprint(filename)
    try:
        return url_for(f"{BLUEPRINT_NAME}.static", filename=filename, v=version)
    except RuntimeError:
        if has_request_context():
            raise
        root = str(current_app.config.get("APPLICATION_ROOT") or "/").rstrip("/")
        return f"{root}{STATIC_URL_PREFIX}/{filename}?v={version}"


def faye_source(config: FanoutConfig) -> tuple[str, str | None]:
    """The Faye script's URL and integrity for this config.

    ``faye_url`` is None for the bundled Faye (the local realm's default): its
    hash is computed from the shipped file. A configured integrity still wins,
    so a deliberate override is honoured rather than silently replaced.
    """
    if config.faye_url is None:
        name = _static.faye_filename()
        return static_url(name), config.faye_integrity or _static.sri(name)
    return config.faye_url, config.faye_integrity


def _current_nonce(nonce: str | None) -> str | None:
    """The explicit nonce, else the one Flask-Talisman made for this request.

    Talisman stores its per-request nonce on ``request.csp_nonce`` (and exposes
    it to templates as ``csp_nonce()``); reading the attribute works without
    importing Talisman, which is an optional dependency.
    """
    if nonce:
        return nonce
    if has_request_context():
        found = getattr(request, "csp_nonce", None)
        if isinstance(found, str) and found:
            return found
    return None


def _page_host() -> str | None:
    """The host name this page was requested on, if rendered in a request."""
    if not has_request_context():
        return None
    host = urlsplit("//" + request.host).hostname
    return host or None


def client_config(
    config: FanoutConfig,
    backend: Backend,
    *,
    nonce: str | None = None,
    lazy: bool = True,
) -> dict[str, Any]:
    """The browser-facing settings, as the JS module expects them.

    This is an allow-list: only these keys ever leave the server, which is
    what guarantees that the realm key, the GRIP keys and the publish
    endpoints never reach a page. Every duration is in milliseconds.
    """
    return {
        "backend": backend.name,
        "transportMode": config.transport_mode,
        "throttle": round(config.throttle * 1000),
        "pollInterval": round(config.poll_interval * 1000),
        "pollConnectedInterval": round(config.poll_connected_interval * 1000),
        "channelPrefix": "",
        "nonce": nonce,
        "lazy": lazy,
        **backend.page_config(config, _page_host()),
    }


def _json_for_html(value: Any) -> str:
    """JSON that cannot close or confuse the ``<script>`` element holding it."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True).translate(
        _JSON_ESCAPES
    )


def _script_tag(src: str, integrity: str | None, nonce: str | None) -> str:
    attrs = [f'src="{escape(src)}"']
    if integrity:
        attrs.append(f'integrity="{escape(integrity)}"')
    attrs.append('crossorigin="anonymous"')
    attrs.append("defer")
    if nonce:
        attrs.append(f'nonce="{escape(nonce)}"')
    return f"<script {' '.join(attrs)}></script>"


def _config_tag(settings: dict[str, Any]) -> str:
    return (
        f'<script type="application/json" id="{CONFIG_ELEMENT_ID}">'
        f"{_json_for_html(settings)}</script>"
    )


def render_config(
    config: FanoutConfig,
    backend: Backend,
    *,
    nonce: str | None = None,
    lazy: bool = True,
) -> Markup:
    """Only the config element (see :func:`render_script`)."""
    nonce = _current_nonce(nonce)
    return Markup(_config_tag(client_config(config, backend, nonce=nonce, lazy=lazy)))


def module_url(backend: Backend) -> str:
    """The versioned URL of the ES module build for ``backend``."""
    return static_url(_static.esm_filename(backend.name))


def render_script(
    config: FanoutConfig,
    backend: Backend,
    *,
    nonce: str | None = None,
    lazy: bool = True,
) -> Markup:
    """Render the config element and the module's ``<script>`` tag.

    :param config: the app's effective configuration.
    :param backend: its backend, which picks the build of the module.
    :param nonce: the CSP nonce for the tags. Defaults to Flask-Talisman's
        per-request nonce when Talisman is in use; pages with a strict
        ``script-src`` need one, and the JS module reuses it for Faye.
    :param lazy: Bayeux only: when true (the default) Faye is only fetched by
        the module on the first subscribe, so pages that subscribe to nothing
        never load it. ``lazy=False`` adds Faye's own tag, before the module,
        to start the download early on pages that always subscribe.

    Every ``integrity`` value is computed from the file being served, never
    typed in, so a rebuilt bundle cannot ship with a stale hash.
    """
    nonce = _current_nonce(nonce)
    settings = client_config(config, backend, nonce=nonce, lazy=lazy)
    parts = [_config_tag(settings)]
    if not lazy and settings.get("fayeUrl"):
        parts.append(_script_tag(settings["fayeUrl"], settings["fayeIntegrity"], nonce))
    module = _static.module_filename(backend.name)
    parts.append(_script_tag(static_url(module), _static.sri(module), nonce))
    return Markup("\n".join(parts))
