"""Which modules of `prefect_giga` get an API reference page, and where.

Public means: no part of the dotted name starts with an underscore, and the module is not a
re-export shim (a plain module whose body is only imports, kept so that old import paths
work). Packages always get a page. The site's reference is generated from this list
(`scripts/gen_ref_pages.py`), so a module added or split later gets a page by itself.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "prefect_giga"


@dataclass(frozen=True)
class ModuleDoc:
    """One module to document: its dotted name, whether it is a package, its page path."""

    name: str
    is_package: bool

    @property
    def page(self) -> str:
        """The page's path under ``docs/``, e.g. ``reference/prefect_giga/client/files.md``."""
        stem = "reference/" + self.name.replace(".", "/")
        return stem + "/index.md" if self.is_package else stem + ".md"

    @property
    def url(self) -> str:
        """The page's address in the built site (directory URLs)."""
        return "reference/" + self.name.replace(".", "/") + "/"


def is_reexport_shim(source: str) -> bool:
    """True when a module's body holds nothing but its docstring, imports and ``__all__``."""
    body = ast.parse(source).body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == ["__all__"]:
            continue
        return False
    return bool(body)


def public_modules(root: Path = ROOT) -> list[ModuleDoc]:
    """Every module of the package that gets a reference page, sorted by name."""
    found = []
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        if any(part.startswith("_") for part in parts) or parts[-1] == "__main__":
            continue
        if not is_package and is_reexport_shim(path.read_text(encoding="utf-8")):
            continue
        found.append(ModuleDoc(".".join(parts), is_package))
    return sorted(found, key=lambda module: module.name)
