"""mkdocs-gen-files script: one API reference page per public module, plus the nav for them."""

from __future__ import annotations

import sys
from pathlib import Path

import mkdocs_gen_files

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_modules import public_modules

modules = public_modules()
nav = mkdocs_gen_files.Nav()
for module in modules:
    nav[tuple(module.name.split("."))] = module.page.removeprefix("reference/")
    with mkdocs_gen_files.open(module.page, "w") as page:
        if module.is_package:
            page.write(f"::: {module.name}\n    options:\n      members: false\n\n")
            children = [m for m in modules if m.name.rpartition(".")[0] == module.name]
            if children:
                page.write("## Modules\n\n")
                for child in children:
                    link = Path(child.page).relative_to(Path(module.page).parent).as_posix()
                    page.write(f"- [`{child.name}`]({link})\n")
        else:
            page.write(f"::: {module.name}\n")
    mkdocs_gen_files.set_edit_path(module.page, "scripts/gen_ref_pages.py")

with mkdocs_gen_files.open("reference/SUMMARY.md", "w") as summary:
    summary.writelines(nav.build_literate_nav())
