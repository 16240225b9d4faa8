"""Where the built browser files live, and their integrity hashes.

The files are produced by ``npm run build`` in ``js/`` (hooked into the
Python build by ``setup.py``) and shipped inside the package, so this module
only ever reads them. Hashes are computed from the shipped bytes, never typed
by hand: a stale hand-typed SRI hash silently breaks every page.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from importlib.metadata import version
from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"


@functools.cache
def package_version() -> str:
    """The installed distribution's version, which also names the JS files."""
    return version("Flask-Fanout")


def module_filename(backend: str) -> str:
    """The versioned, minified build for ``backend`` that defines ``window.Fanout``.

    One build per backend keeps each within its size budget: a GRIP page
    never downloads the Faye adapter, a Bayeux page never the EventSource one.
    """
    return f"flask-fanout-{package_version()}.{backend}.min.js"


def esm_filename(backend: str) -> str:
    """The versioned ES module build for ``backend``."""
    return f"flask-fanout-{package_version()}.{backend}.mjs"


def faye_filename() -> str:
    """The Faye browser client copied from the pinned npm package at build time."""
    found = sorted(STATIC_DIR.glob("faye-browser-*.min.js"))
    if not found:
        raise FileNotFoundError(
            f"No Faye browser build in {STATIC_DIR}: "
            "run `make js` (or reinstall the package)."
        )
    return found[-1].name


def static_path(filename: str) -> Path:
    """The shipped file ``filename``, which must exist."""
    path = STATIC_DIR / filename
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: the JS client was not built. "
            "Run `make js` or reinstall."
        )
    return path


@functools.cache
def _sri_cached(path: Path, mtime_ns: int) -> str:
    digest = hashlib.sha384(path.read_bytes()).digest()
    return "sha384-" + base64.b64encode(digest).decode("ascii")


def sri(filename: str) -> str:
    """The Subresource Integrity value (``sha384-...``) of a shipped file."""
    path = static_path(filename)
    return _sri_cached(path, path.stat().st_mtime_ns)
