"""Point cross-references at Flask-Fanout's public names.

Docstrings and annotations sometimes name an object by the private module
that defines it (``flask_fanout._settings.FanoutConfig``, or the
``flask_fanout._publisher.Publish`` that a type hint expands to), or by a
short name relative to another module (``FanoutExt.record_publishes`` in the
signals module). The API page documents each object once, under the name
users import (``flask_fanout.FanoutConfig``). This extension resolves such
references to that name, so moving code between private modules never
breaks a link.

A reference to something private that has no public name (``_State``,
``flask_fanout._publisher.Publisher``) is rendered as plain text instead of
failing the nitpicky build: private objects are not documented, on purpose.
A reference to a public-looking name that does not exist still fails.

It also checks that every name a public module exports (its ``__all__``)
is documented somewhere, so a new export cannot be left off the API page.
"""

from __future__ import annotations

import importlib
import types
from typing import Any

from docutils import nodes
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging

logger = logging.getLogger(__name__)

PACKAGE = "flask_fanout"

#: The public modules a short name may live in, tried in this order.
_PUBLIC_MODULES = (PACKAGE, f"{PACKAGE}.signals", f"{PACKAGE}.realm")


def _is_private(part: str) -> bool:
    return part.startswith("_") and not part.startswith("__")


def _candidates(target: str) -> list[str]:
    """Public spellings to try for ``target``, most specific first."""
    parts = target.split(".")
    if parts[0] == PACKAGE:
        public = [p for p in parts if not _is_private(p)]
        return [".".join(public)] if public != parts else []
    if any(_is_private(p) for p in parts):
        return []
    return [f"{module}.{target}" for module in _PUBLIC_MODULES]


def _resolve(
    app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: nodes.Element
) -> nodes.Element | None:
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"]
    domain: Any = env.get_domain("py")
    for candidate in _candidates(target):
        found = domain.resolve_xref(
            env,
            node["refdoc"],
            app.builder,
            node["reftype"],
            candidate,
            node,
            contnode,
        )
        if found is not None:
            return found  # type: ignore[no-any-return]
    if any(_is_private(part) for part in target.split(".")):
        return contnode
    return None


def _check_exports(app: Sphinx, env: BuildEnvironment) -> None:
    documented: Any = env.get_domain("py")
    objects = documented.objects
    for module_name in app.config.fanout_exported_modules:
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            if isinstance(getattr(module, name, None), types.ModuleType):
                continue
            if f"{module_name}.{name}" not in objects:
                logger.warning(
                    "%s.%s is exported but not documented; add it to the API page",
                    module_name,
                    name,
                    type="fanout",
                    subtype="api",
                )


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value(
        "fanout_exported_modules", [PACKAGE, f"{PACKAGE}.signals"], "env"
    )
    app.connect("missing-reference", _resolve)
    app.connect("env-check-consistency", _check_exports)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
