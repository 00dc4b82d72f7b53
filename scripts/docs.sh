#!/usr/bin/env bash
# Builds the documentation site into site/ (or the folder given) with `mkdocs build --strict`:
# any broken link, missing page or docstring that does not render fails the build.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# mkdocs-material prints a long banner about MkDocs 2 on every build; we pin mkdocs<2.
export DISABLE_MKDOCS_2_WARNING=true
mkdocs build --strict --site-dir "${1:-site}"
