"""Sphinx configuration of the Flask-Fanout documentation.

Build it with ``make docs`` (warnings are errors); the pages are Markdown,
read by MyST.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pallets_sphinx_themes import get_version

# Our own Sphinx extensions live next to this file, not in the package.
sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "Flask-Fanout"
author = "The Flask-Fanout developers"
copyright = "the Flask-Fanout developers"
release, version = get_version("Flask-Fanout")

extensions = [
    "sphinx.ext.autodoc",
    "myst_parser",
    "pallets_sphinx_themes",
    "fanout_refs",
    "fanout_settings",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext"]

# MyST: `{role}` and ```{directive}``` syntax, heading anchors so that
# `page.md#section` links resolve, `:::` fences for admonitions.
myst_enable_extensions = ["colon_fence", "deflist", "fieldlist"]
myst_heading_anchors = 3

# Pages whose FANOUT_* names are not all settings: the changelog (old names)
# and the contributing guide (the build's FLASK_FANOUT_* switches).
fanout_settings_unchecked = ["changes", "contributing"]

# autodoc: document the names the package exports, in source order, with the
# type hints in the signature. Private modules are never named on a page:
# ``fanout_refs`` points references to them at the public names.
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autodoc_default_options = {"members": True}

# Nitpicky mode checks every reference to our own API; references to other
# projects (Flask, blinker, the standard library) are left as plain text,
# since the build must not need the network to fetch their inventories.
nitpicky = True
nitpick_ignore_regex = [(r"py:.*", r"(?!flask_fanout\b).*")]
# The sidebar lists classes and functions, not every method and attribute.
toc_object_entries_show_parents = "hide"

html_theme = "flask"
html_title = f"Flask-Fanout {version}"
html_short_title = "Flask-Fanout"
html_sidebars = {"**": ["localtoc.html", "relations.html", "searchbox.html"]}
html_show_sourcelink = False
html_copy_source = False
# The theme's version banner asks PyPI which release is newest; a locally
# built copy must not make requests of its own.
version_banner = False
html_static_path = ["_static"]
html_css_files = ["fanout.css"]
