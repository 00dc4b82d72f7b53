"""Griffe extension for the docs build: read a Google-style ``Example:`` section as ``Examples:``.

Griffe renders a singular ``Example:`` as a free-text admonition, where ``>>>`` lines turn
into nested quotes; the plural is parsed as an examples section whose ``>>>`` lines render
as Python. Our docstrings say ``Example:`` (the style guide's word), so the docs build maps
one to the other instead of rewriting every docstring.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_SINGULAR = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)


class ExampleSections(griffe.Extension):
    """Rewrites ``Example:`` section titles to ``Examples:`` before docstrings are parsed."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Called for every object griffe loads; edits its docstring text in place."""
        if obj.docstring is not None:
            obj.docstring.value = _SINGULAR.sub(r"\1Examples:", obj.docstring.value)
