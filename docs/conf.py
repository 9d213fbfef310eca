"""Sphinx configuration for the txslackrtm documentation."""

import re

project = "txslackrtm"
author = "the txslackrtm developers"
copyright = "2026, the txslackrtm developers"

extensions = ["myst_parser", "sphinx.ext.autodoc"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
html_theme = "alabaster"
myst_heading_anchors = 3
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "undoc-members": False}
suppress_warnings = ["myst.xref_missing"]
# Docstrings are epytext (@param, @return, L{}, C{}). Rewrite epytext fields as Sphinx field
# lists, so that indented continuation lines are valid reStructuredText; L{} and C{} stay raw.
_EPYTEXT_FIELD = re.compile(
    r"^(\s*)@(param|type|return|rtype|raise|raises|ivar|cvar|var|keyword)\b(.*)$"
)
_FIELD_NAMES = {"raise": "raises"}


def _epytext_fields(app, what, name, obj, options, lines):
    out, in_fields = [], False
    for line in lines:
        match = _EPYTEXT_FIELD.match(line)
        if match:
            indent, field, rest = match.groups()
            if out and out[-1].strip() and not in_fields:
                out.append("")  # a field list must start after a blank line
            line = f"{indent}:{_FIELD_NAMES.get(field, field)}{rest}"
            in_fields = True
        elif not line.strip():
            in_fields = False
        out.append(line)
    lines[:] = out


def setup(app):
    app.connect("autodoc-process-docstring", _epytext_fields)
