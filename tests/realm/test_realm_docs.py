"""docs/local-realm.md lists every limit and every option of the realm."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click
import pytest

from flask_fanout.realm import Limits
from flask_fanout.realm._cli import realm_command
from flask_fanout.realm._limits import option_name

DOC = (Path(__file__).resolve().parents[2] / "docs" / "local-realm.md").read_text()


def section(title: str) -> str:
    start = DOC.index(f"\n## {title}\n")
    end = DOC.find("\n## ", start + 1)
    return DOC[start:end]


def shown(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


@pytest.mark.parametrize("field", dataclasses.fields(Limits), ids=lambda f: f.name)
def test_every_limit_has_a_row_with_its_option_and_default(
    field: dataclasses.Field[float],
) -> None:
    rows = [
        line
        for line in section("Limits").splitlines()
        if f"`{option_name(field)}` (`{field.name}`)" in line
    ]
    assert len(rows) == 1, f"no row for {option_name(field)} in the Limits section"
    default = rows[0].split("|")[3]
    assert shown(field.default) in default  # type: ignore[arg-type]


def test_every_other_option_is_in_the_options_table() -> None:
    limits = {f.name for f in dataclasses.fields(Limits)}
    options = section("Options")
    for param in realm_command.params:
        if not isinstance(param, click.Option) or param.name in limits:
            continue
        if param.name == "help":
            continue
        assert f"`{param.opts[0]}" in options, param.opts[0]
