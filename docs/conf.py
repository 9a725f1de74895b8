"""Sphinx configuration: `make docs` builds with warnings as errors (furo, MyST, autodoc)."""

from __future__ import annotations

import importlib.metadata

project = "esper-cmds"
author = "esper-cmds developers"
copyright = "2026, esper-cmds developers"
release = importlib.metadata.version("esper-cmds")
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# The docstrings are Google style with `Args:` / `Returns:` / `Raises:`.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
# Single backticks in docstrings name code, as in the source.
default_role = "code"

# Offline builds: no inventories are fetched.
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}

# A return type `list[...]` also names every resource's `list` method: Sphinx warns that the
# reference is ambiguous, which says nothing about the docs.
suppress_warnings = ["ref.python"]

html_theme = "furo"
html_title = "esper-cmds"
