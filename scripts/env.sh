#!/usr/bin/env bash
# Creates .venv and installs prefect-giga with its test and docs tools; re-installs only when pyproject.toml changes.
# Sourced by scripts/demo.sh and scripts/test.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip uv
  if ! .venv/bin/uv pip install --quiet --python .venv/bin/python -e '.[test,docs]'; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test,docs]'
  fi
  rm -f .venv/.installed-*
  touch "$stamp"
fi
export PATH="$root/.venv/bin:$PATH"
