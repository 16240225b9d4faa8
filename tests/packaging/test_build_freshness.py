"""A build from a checkout never ships stale browser files."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _setup_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "flask_fanout_setup", ROOT / "setup.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # defines, does not run setup()
    return module


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A checkout's shape: JS sources and built files, with real timestamps."""
    (tmp_path / "js" / "src").mkdir(parents=True)
    (tmp_path / "js" / "package.json").write_text("{}")
    (tmp_path / "js" / "src" / "index.ts").write_text("export {};")
    static = tmp_path / "flask_fanout" / "static"
    static.mkdir(parents=True)
    for name in ("flask-fanout-0.2.0.grip.min.js", "faye-browser-1.4.3.min.js"):
        (static / name).write_text("built")
    old = (ROOT / "setup.py").stat().st_mtime - 1000
    os.utime(tmp_path / "js" / "src" / "index.ts", (old, old))
    os.utime(tmp_path / "js" / "package.json", (old, old))
    return tmp_path


def test_current_files_need_no_build(tree: Path) -> None:
    assert _setup_module().stale_reason(tree) is None


def test_a_newer_source_makes_them_stale(tree: Path) -> None:
    (tree / "js" / "src" / "index.ts").write_text("export const changed = 1;")
    reason = _setup_module().stale_reason(tree)
    assert reason is not None and "newer than the built files" in reason


def test_no_built_files_means_a_build(tree: Path) -> None:
    shutil.rmtree(tree / "flask_fanout" / "static")
    assert "not been built" in (_setup_module().stale_reason(tree) or "")


def test_an_sdist_without_js_uses_what_it_ships(tree: Path) -> None:
    shutil.rmtree(tree / "js")
    assert _setup_module().stale_reason(tree) is None


def test_stale_files_without_npm_fail_with_a_message(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tree / "js" / "src" / "index.ts").write_text("export const changed = 1;")
    monkeypatch.setenv("PATH", str(tree))  # no npm on it
    with pytest.raises(RuntimeError, match="FLASK_FANOUT_SKIP_JS=1"):
        _setup_module().build_js(tree)
    monkeypatch.setenv("FLASK_FANOUT_SKIP_JS", "1")
    _setup_module().build_js(tree)  # the packager's explicit choice
