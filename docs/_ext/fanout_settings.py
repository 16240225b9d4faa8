"""The settings table, rendered from the code that reads the settings.

Flask-Fanout declares every ``FANOUT_*`` setting once, in
``flask_fanout._settings.SETTINGS``: its key, the ``FanoutExt`` keyword, how
its default reads, a one-line meaning and the backends it applies to. This
extension turns that table into documentation, so the docs cannot drift from
the code:

* the ``fanout-settings`` directive renders the table: every setting, those
  that apply to a backend (``:backend: grip``), or those that apply to
  exactly ``bayeux``, ``grip`` or ``both`` (``:applies-to: grip``); each key
  gets a link target;
* the ``setting`` role links to a key's row (``{setting}`FANOUT_GRIP_URL```);
  in the nitpicky build an unknown key is an error;
* every page is scanned for ``FANOUT_*`` names, and one that is not a
  setting (a typo, or a setting that was renamed) is a warning, which the
  ``-W`` build turns into an error.

In a Markdown page::

    ```{fanout-settings}
    :applies-to: grip
    ```

``:no-index:`` leaves out the link targets, for a second table that repeats
keys already listed (a key may have only one target).
"""

from __future__ import annotations

import difflib
import importlib
import re
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from typing import ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.errors import ConfigError
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

#: The backends a setting may name, with how the table spells them.
BACKENDS = {"bayeux": "Bayeux", "grip": "GRIP"}

#: A setting named in prose: ``FANOUT_…``, also as the environment variable
#: that ``app.config.from_prefixed_env()`` reads (``FLASK_FANOUT_…``).
_MENTION = re.compile(r"(?<![A-Za-z0-9_])(?:FLASK_)?(FANOUT_[A-Z0-9_]*[A-Z0-9])")


@dataclass(frozen=True)
class _Row:
    key: str
    default: str
    meaning: str
    backends: tuple[str, ...]


def _load(module_name: str) -> tuple[_Row, ...]:
    """Import ``SETTINGS`` and check its shape, naming any culprit."""
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"fanout_settings: cannot import {module_name} ({exc}). The settings "
            "table is generated from its SETTINGS tuple; set "
            "fanout_settings_module (sphinx-build -D) to build against another "
            "module."
        ) from exc
    settings = getattr(module, "SETTINGS", None)
    if not isinstance(settings, Sequence) or not settings:
        raise ConfigError(f"fanout_settings: {module_name}.SETTINGS must be a tuple")
    rows = []
    for setting in settings:
        name = getattr(setting, "key", setting)
        for attr in ("key", "default", "meaning"):
            if not isinstance(getattr(setting, attr, None), str):
                raise ConfigError(
                    f"fanout_settings: {name!r} in {module_name}.SETTINGS has no "
                    f"str {attr!r}"
                )
        backends = tuple(getattr(setting, "backends", ()))
        if not backends or not set(backends) <= set(BACKENDS):
            raise ConfigError(
                f"fanout_settings: {name!r} in {module_name}.SETTINGS: backends "
                f"must be a non-empty subset of {tuple(BACKENDS)}, not {backends!r}"
            )
        rows.append(_Row(setting.key, setting.default, setting.meaning, backends))
    keys = [row.key for row in rows]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"fanout_settings: duplicate keys in {module_name}.SETTINGS")
    return tuple(rows)


def _rows(app: Sphinx) -> tuple[_Row, ...]:
    rows: tuple[_Row, ...] | None = getattr(app, "_fanout_settings", None)
    if rows is None:
        rows = _load(app.config.fanout_settings_module)
        app._fanout_settings = rows  # type: ignore[attr-defined]
    return rows


def _anchor(key: str) -> str:
    return "setting-" + key.lower().replace("_", "-")


def _backends_cell(backends: tuple[str, ...]) -> str:
    if set(backends) == set(BACKENDS):
        return "both"
    return ", ".join(BACKENDS[b] for b in backends)


class SettingsTable(SphinxDirective):
    """``fanout-settings``: the table of settings, or a part of it."""

    has_content = False
    option_spec: ClassVar[dict[str, Callable[[str], Any]]] = {
        "backend": lambda value: directives.choice(value, tuple(BACKENDS)),
        "applies-to": lambda value: directives.choice(value, (*BACKENDS, "both")),
        "no-index": directives.flag,
    }

    def _selected(self) -> list[_Row]:
        rows = list(_rows(self.env.app))
        backend = self.options.get("backend")
        if backend is not None:
            rows = [r for r in rows if backend in r.backends]
        applies_to = self.options.get("applies-to")
        if applies_to is not None:
            wanted = set(BACKENDS) if applies_to == "both" else {applies_to}
            rows = [r for r in rows if set(r.backends) == wanted]
        return rows

    def run(self) -> list[nodes.Node]:
        index = "no-index" not in self.options
        # Without a filter the table needs a column saying where each applies.
        with_backends = not {"backend", "applies-to"} & set(self.options)
        columns = [("Key", 36), ("Default", 26), ("Meaning", 38)]
        if with_backends:
            columns = [("Key", 32), ("Default", 24), ("Meaning", 34), ("Backends", 10)]

        # "colwidths-given" makes the HTML writer emit the widths, so the
        # one-line meanings get the room rather than a long default.
        table = nodes.table(classes=["fanout-settings", "colwidths-given"])
        group = nodes.tgroup(cols=len(columns))
        table += group
        for _, width in columns:
            group += nodes.colspec(colwidth=width)
        head = nodes.thead()
        group += head
        head += self._row([nodes.paragraph(text=title) for title, _ in columns])
        body = nodes.tbody()
        group += body
        std: Any = self.env.get_domain("std")
        for row in self._selected():
            key = nodes.paragraph()
            key += nodes.literal(text=row.key)
            cells: list[nodes.Node] = [
                key,
                *self._markdown(row.default),
                *self._markdown(row.meaning),
            ]
            if with_backends:
                cells.append(nodes.paragraph(text=_backends_cell(row.backends)))
            entry_row = self._row(cells)
            if index:
                entry_row["ids"].append(_anchor(row.key))
                std.note_object("setting", row.key, _anchor(row.key), location=self)
            body += entry_row
        return [table]

    def _markdown(self, text: str) -> list[nodes.Node]:
        """Parse one cell's Markdown into a single container node."""
        holder = nodes.container()
        self.state.nested_parse(StringList([text]), self.content_offset, holder)
        return [holder]

    @staticmethod
    def _row(cells: list[nodes.Node]) -> nodes.row:
        row = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            if isinstance(cell, nodes.container):
                entry.extend(cell.children)
            else:
                entry += cell
            row += entry
        return row


def _check_mentions(app: Sphinx, docname: str, source: list[str]) -> None:
    """Warn about ``FANOUT_*`` names in a page that are not settings."""
    if docname in app.config.fanout_settings_unchecked:
        return
    known = {row.key for row in _rows(app)}
    for lineno, line in enumerate(source[0].splitlines(), start=1):
        for match in _MENTION.finditer(line):
            key = match.group(1)
            if key in known:
                continue
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            logger.warning(
                "%s is not a Flask-Fanout setting%s",
                key,
                hint,
                location=(docname, lineno),
                type="fanout",
                subtype="setting",
            )


def _check_import(app: Sphinx) -> None:
    _rows(app)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("fanout_settings_module", "flask_fanout._settings", "env")
    app.add_config_value("fanout_settings_unchecked", ["changes"], "env")
    app.add_object_type(
        "setting", "setting", indextemplate="pair: %s; configuration key"
    )
    app.add_directive("fanout-settings", SettingsTable)
    app.connect("builder-inited", _check_import)
    app.connect("source-read", _check_mentions)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
