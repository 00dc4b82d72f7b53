"""mkdocs-gen-files script: the Recipes section of the nav, from the recipe pages that exist.

The recipes written here come first, in reading order; any other page under
``docs/recipes/`` (and ``docs/cli.md``, the command line) follows by itself once it exists,
so a recipe added later needs no change to ``mkdocs.yml``.
"""

from __future__ import annotations

import re
from pathlib import Path

import mkdocs_gen_files

DOCS = Path(__file__).resolve().parents[1] / "docs"
FIRST = ["one-run.md", "batch-spend-limit.md", "harvest-to-storage.md"]
OUTSIDE = ["../cli.md"]


def title(page: Path) -> str:
    """The page's first heading, else its file name."""
    match = re.search(r"^# (.+)$", page.read_text(encoding="utf-8"), re.MULTILINE)
    return match.group(1).strip() if match else page.stem.replace("-", " ").capitalize()


recipes = DOCS / "recipes"
others = sorted(p.name for p in recipes.glob("*.md") if p.name not in FIRST)
entries = [name for name in FIRST + others if (recipes / name).is_file()]
entries += [link for link in OUTSIDE if (recipes / link).resolve().is_file()]
with mkdocs_gen_files.open("recipes/SUMMARY.md", "w") as summary:
    for link in entries:
        summary.write(f"- [{title((recipes / link).resolve())}]({link})\n")
