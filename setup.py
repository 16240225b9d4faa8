"""Build glue: compile the JS client into ``flask_fanout/static`` before packaging.

Everything declarative lives in ``pyproject.toml``. This file only hooks the
``js/`` build (npm + esbuild) into ``build_py`` and ``sdist``, so that a wheel
or an sdist always carries the built browser files and the people who install
them never need Node.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

ROOT = Path(__file__).resolve().parent
JS = ROOT / "js"
STATIC = ROOT / "flask_fanout" / "static"


def _built() -> bool:
    return any(STATIC.glob("flask-fanout-*.min.js")) and any(
        STATIC.glob("faye-browser-*.min.js")
    )


def build_js(force: bool = False) -> None:
    """Run ``npm ci`` (when needed) and ``npm run build`` in ``js/``.

    Building from an sdist finds no ``js/package-lock.json`` next to already
    built files and skips straight on, which is what keeps Node optional for
    anyone installing a release.
    """
    if os.environ.get("FLASK_FANOUT_SKIP_JS") == "1":
        return
    if not (JS / "package.json").exists():
        if _built():
            return
        raise RuntimeError(
            "flask_fanout/static is empty and js/ is missing: cannot build"
        )
    if _built() and not force and os.environ.get("FLASK_FANOUT_BUILD_JS") != "1":
        return
    npm = shutil.which("npm")
    if npm is None:
        if _built():
            return
        raise RuntimeError(
            "Building Flask-Fanout from source needs Node.js and npm for js/"
        )
    if not (JS / "node_modules" / ".package-lock.json").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS, check=True)
    subprocess.run([npm, "run", "build"], cwd=JS, check=True)


class BuildPyWithJS(build_py):
    def run(self) -> None:
        build_js()
        super().run()


class SdistWithJS(sdist):
    def run(self) -> None:
        build_js()
        super().run()


setup(cmdclass={"build_py": BuildPyWithJS, "sdist": SdistWithJS})
