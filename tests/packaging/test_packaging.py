"""The distributions carry the built browser files, so users never need Node.

These tests build a real sdist and wheel with ``python -m build`` and install
the wheel into a fresh virtual environment, because the failure they guard
against (a wheel without its static files, or files whose names drift from the
version) only shows up in an installed copy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]

pytestmark = pytest.mark.timeout(600)


def test_js_package_version_matches_python_package() -> None:
    js_version = json.loads((ROOT / "js" / "package.json").read_text())["version"]
    assert js_version == VERSION


def test_faye_is_pinned_exactly() -> None:
    package = json.loads((ROOT / "js" / "package.json").read_text())
    spec = {**package.get("dependencies", {}), **package.get("devDependencies", {})}[
        "faye"
    ]
    assert spec[0].isdigit(), f"faye must be pinned to one version, not {spec!r}"


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--sdist",
            "--wheel",
            "--outdir",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=540,
    )
    return out


def _expected_static() -> set[str]:
    return {
        *(
            f"flask_fanout/static/flask-fanout-{VERSION}.{backend}.{kind}"
            for backend in ("bayeux", "grip")
            for kind in ("min.js", "mjs")
        ),
        "flask_fanout/static/flask-fanout.d.ts",
        "flask_fanout/static/faye-LICENSE.txt",
    }


def test_wheel_carries_built_files_and_templates(dists: Path) -> None:
    (wheel,) = dists.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert _expected_static() <= names
    assert any(n.startswith("flask_fanout/static/faye-browser-") for n in names)
    assert "flask_fanout/py.typed" in names
    assert "flask_fanout/templates/fanout/macros.html" in names
    assert not any(n.startswith(("tests/", "example/", "js/")) for n in names)


def test_sdist_carries_sources_tests_example_and_built_files(dists: Path) -> None:
    (sdist,) = dists.glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert _expected_static() <= names
    for required in (
        "js/package.json",
        "js/package-lock.json",
        "tests/packaging/test_packaging.py",
        "example/app.py",
        "MANIFEST.in",
    ):
        assert required in names, required
    assert any(n.startswith("js/src/") for n in names)
    assert not any(n.startswith("js/node_modules/") for n in names)


def test_installed_wheel_serves_static_files_without_node(
    dists: Path, tmp_path: Path
) -> None:
    (wheel,) = dists.glob("*.whl")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
    python = env_dir / "bin" / "python"
    # Dependencies come from the test runner's environment; only the wheel is new.
    site = subprocess.run(
        [
            sys.executable,
            "-c",
            "import flask, sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    subprocess.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
        timeout=120,
    )
    script = (
        "import flask_fanout._static as s\n"
        "builds = [f(b) for f in (s.module_filename, s.esm_filename)"
        " for b in ('bayeux', 'grip')]\n"
        "for name in (*builds, s.faye_filename()):\n"
        "    assert s.static_path(name).stat().st_size > 0, name\n"
        "    print(name, s.sri(name))\n"
        "print(s.STATIC_DIR)\n"
    )
    env = {**os.environ, "PYTHONPATH": site, "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [python, "-c", script],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    for backend in ("bayeux", "grip"):
        assert f"flask-fanout-{VERSION}.{backend}.min.js sha384-" in result.stdout
    assert str(env_dir) in result.stdout.splitlines()[-1]
