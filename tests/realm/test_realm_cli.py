"""The realm's one command line: options, keys, and what it refuses to start with.

``python -m flask_fanout.realm`` and ``flask fanout realm`` are the same
click command; most of these run it in-process with click's runner (the
realm is never started when an option is refused), and subprocesses only
where a real start is the point.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask

from flask_fanout import FanoutConfigError
from flask_fanout import FanoutExt
from flask_fanout.realm import Limits
from flask_fanout.realm._cli import PROG
from flask_fanout.realm._cli import realm_command
from flask_fanout.realm._limits import option_name
from tests.helpers.realm import REPO
from tests.helpers.realm import RealmProcess
from tests.helpers.realm import make_token
from tests.helpers.realm import publish
from tests.helpers.realm import realm_argv

APPS = Path(__file__).resolve().parents[1] / "helpers" / "apps"
OWN_KEY = b"k" * 32
OWN_KEY_B64 = base64.b64encode(OWN_KEY).decode()


def run(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=str(REPO),
        env={**os.environ, "COLUMNS": "100", **(env or {})},
    )


def test_python_m_and_flask_fanout_realm_have_the_same_help() -> None:
    module = run("-m", "flask_fanout.realm", "--help")
    flask = run(
        "-m",
        "flask",
        "--app",
        "fanout_app",
        "fanout",
        "realm",
        "--help",
        env={"PYTHONPATH": str(APPS)},
    )
    assert module.returncode == flask.returncode == 0, flask.stderr
    assert module.stdout.startswith(f"Usage: {PROG} [OPTIONS]")
    assert flask.stdout.startswith("Usage: python -m flask fanout realm [OPTIONS]")
    assert module.stdout.replace(PROG, "PROG") == flask.stdout.replace(
        "python -m flask fanout realm", "PROG"
    )
    for option in ("--host", "--port", "--no-websocket", "--realm", "--key"):
        assert option in module.stdout
    assert "--allow-client-publish" in module.stdout


def test_every_limit_is_an_option_with_its_default() -> None:
    help_text = CliRunner().invoke(realm_command, ["--help"], terminal_width=200)
    for field in dataclasses.fields(Limits):
        assert option_name(field) in help_text.output
        assert f"[default: {field.default}" in help_text.output


@pytest.mark.parametrize(
    ("args", "env", "fragment"),
    [
        (["--key", ""], {}, "from --key is empty"),
        (["--key", "   "], {}, "from --key is empty"),
        (["--key", "not base64!"], {}, "not valid base64"),
        (["--key", base64.b64encode(b"short").decode()], {}, "5 bytes long"),
        (["--key-env", "NO_SUCH_VAR_X"], {}, "NO_SUCH_VAR_X is not set"),
        (["--key-env", "EMPTY_VAR_X"], {"EMPTY_VAR_X": ""}, "EMPTY_VAR_X is empty"),
        ([], {"FANOUT_REALM_KEY": "%%%"}, "from $FANOUT_REALM_KEY is not valid"),
        (["--key", OWN_KEY_B64, "--key-env", "X"], {}, "only one of --key, --key-env"),
        (["--host", "0.0.0.0"], {}, "public development key"),
        (["--connect-timeout", "0"], {}, "not in the range x>0"),
        (["--websocket-heartbeat", "40"], {}, "websocket_idle_timeout"),
    ],
)
def test_refused_options_exit_2_with_one_clear_line(
    args: list[str], env: dict[str, str], fragment: str
) -> None:
    result = CliRunner().invoke(
        realm_command, ["--port", "0", *args], env={"FANOUT_REALM_KEY": "", **env}
    )
    assert result.exit_code == 2, result.output
    assert fragment in result.output
    assert "Traceback" not in result.output
    assert OWN_KEY_B64 not in result.output


def test_an_empty_or_short_key_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    short = tmp_path / "short"
    short.write_text(base64.b64encode(b"x" * 15).decode() + "\n")
    for path, fragment in ((empty, "is empty"), (short, "15 bytes long")):
        result = CliRunner().invoke(
            realm_command, ["--port", "0", "--key-file", str(path)]
        )
        assert result.exit_code == 2
        assert fragment in result.output


@pytest.mark.parametrize("source", ["key-file", "key-env", "FANOUT_REALM_KEY"])
def test_the_key_can_stay_out_of_ps(tmp_path: Path, source: str) -> None:
    key_file = tmp_path / "realm.key"
    key_file.write_text(OWN_KEY_B64 + "\n")
    args, env = {
        "key-file": (["--key-file", str(key_file)], {}),
        "key-env": (["--key-env", "MY_REALM_KEY"], {"MY_REALM_KEY": OWN_KEY_B64}),
        "FANOUT_REALM_KEY": ([], {"FANOUT_REALM_KEY": OWN_KEY_B64}),
    }[source]
    realm = RealmProcess(realm_argv("--port", "0", *args), env=env)
    try:
        item = [{"channel": "a", "json-object": 1}]
        assert publish(realm.url, item, token=make_token(key=OWN_KEY)).ok
        assert publish(realm.url, item).status_code == 401  # not the dev key
        assert OWN_KEY_B64 not in " ".join(map(str, realm.proc.args))  # type: ignore[arg-type]
    finally:
        realm.kill()


def test_a_public_bind_with_the_dev_key_needs_the_flag_and_warns() -> None:
    realm = RealmProcess(
        realm_argv("--port", "0", "--host", "0.0.0.0", "--allow-public-dev-key")
    )
    try:
        assert realm.terminate() == 0
        assert "DANGER" in realm.stderr()
        assert "public development key" in realm.stderr()
    finally:
        realm.kill()


def test_a_public_bind_with_an_own_key_starts_quietly() -> None:
    realm = RealmProcess(
        realm_argv("--port", "0", "--host", "0.0.0.0", "--key", OWN_KEY_B64)
    )
    try:
        assert realm.terminate() == 0
        assert realm.stderr() == ""
    finally:
        realm.kill()


def flask_app(**config: object) -> Flask:
    app = Flask(__name__)
    app.config.update(
        FANOUT_LOCAL_REALM_EMBED=False, FANOUT_USE_LOCAL_REALM=True, **config
    )
    FanoutExt(app)
    return app


def test_flask_fanout_realm_refuses_the_apps_public_host_with_the_dev_key() -> None:
    # The app itself refuses the setting (naming its opt-in) before any
    # realm starts ...
    with pytest.raises(FanoutConfigError) as info:
        flask_app(FANOUT_LOCAL_REALM_HOST="0.0.0.0")
    assert info.value.key == "FANOUT_LOCAL_REALM_HOST"
    assert "0.0.0.0 (beyond loopback) with the public development key" in str(
        info.value
    )
    assert "FANOUT_LOCAL_REALM_PUBLIC" in str(info.value)
    # ... and the realm refuses such a bind on its own command line.
    app = flask_app()
    result = app.test_cli_runner().invoke(
        args=["fanout", "realm", "--port", "0", "--host", "0.0.0.0"]
    )
    assert result.exit_code == 2
    assert "0.0.0.0 (beyond loopback) with the public development key" in result.output
    assert "--allow-public-dev-key" in result.output


def test_flask_fanout_realm_takes_a_short_key_from_the_app_and_refuses_it() -> None:
    app = flask_app(
        FANOUT_REALM_ID="r", FANOUT_REALM_KEY=base64.b64encode(b"tiny").decode()
    )
    result = app.test_cli_runner().invoke(args=["fanout", "realm", "--port", "0"])
    assert result.exit_code == 2
    assert "4 bytes long" in result.output
