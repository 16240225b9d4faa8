"""Build glue: compile the JS client into ``flask_fanout/static`` before packaging.

Everything declarative lives in ``pyproject.toml``. This file only hooks the
``js/`` build (npm + esbuild) into ``build_py`` and ``sdist``, so that a wheel
or an sdist always carries the built browser files and the people who install
them never need Node.

The built files are rebuilt whenever a source under ``js/`` is newer than any
of them, so a wheel never ships a stale bundle. Switches (environment):

* ``FLASK_FANOUT_BUILD_JS=1``: always rebuild;
* ``FLASK_FANOUT_SKIP_JS=1``: never build, ship what is there (for packagers
  who built the JS themselves).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent
#: What the JS build reads: a change to any of them makes the output stale.
SOURCES = (
    "js/src",
    "js/scripts",
    "js/types",
    "js/package.json",
    "js/package-lock.json",
)


def _built(root: Path) -> list[Path]:
    static = root / "flask_fanout" / "static"
    return [
        *static.glob("flask-fanout-*.min.js"),
        *static.glob("faye-browser-*.min.js"),
    ]


def _newest_source(root: Path) -> float:
    newest = 0.0
    for name in SOURCES:
        path = root / name
        files = path.rglob("*") if path.is_dir() else [path]
        for file in files:
            if file.is_file():
                newest = max(newest, file.stat().st_mtime)
    return newest


def stale_reason(root: Path = ROOT) -> str | None:
    """Why the built files must be (re)built, or ``None`` when they are current.

    Building from an sdist finds no ``js/package.json``: the shipped files
    are used as they are, which is what keeps Node optional for anyone
    installing a release.
    """
    built = _built(root)
    if not (root / "js" / "package.json").exists():
        return None if built else "flask_fanout/static is empty and js/ is missing"
    if not built:
        return "the JS client has not been built"
    if _newest_source(root) > min(p.stat().st_mtime for p in built):
        return "js/ has sources newer than the built files in flask_fanout/static"
    return None


def build_js(root: Path = ROOT) -> None:
    """Run ``npm ci`` (when needed) and ``npm run build`` in ``js/`` if needed."""
    if os.environ.get("FLASK_FANOUT_SKIP_JS") == "1":
        return
    reason = stale_reason(root)
    if os.environ.get("FLASK_FANOUT_BUILD_JS") == "1":
        reason = reason or "FLASK_FANOUT_BUILD_JS=1"
    if reason is None:
        return
    js = root / "js"
    npm = shutil.which("npm")
    if not (js / "package.json").exists() or npm is None:
        raise RuntimeError(
            f"Cannot build Flask-Fanout's browser files ({reason}): building from "
            "a source checkout needs Node.js and npm. Install them, or set "
            "FLASK_FANOUT_SKIP_JS=1 to ship the files as they are."
        )
    if not (js / "node_modules" / ".package-lock.json").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=js, check=True)
    subprocess.run([npm, "run", "build"], cwd=js, check=True)


if __name__ == "__main__":  # setuptools runs this file as __main__
    from setuptools import setup
    from setuptools.command.build_py import build_py
    from setuptools.command.sdist import sdist

    class BuildPyWithJS(build_py):
        def run(self) -> None:
            build_js()
            super().run()

    class SdistWithJS(sdist):
        def run(self) -> None:
            build_js()
            super().run()

    setup(cmdclass={"build_py": BuildPyWithJS, "sdist": SdistWithJS})
