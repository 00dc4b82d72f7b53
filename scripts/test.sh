#!/usr/bin/env bash
# The whole test suite: lint, type-check, then pytest (unit, emulator, integration, Prefect).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
echo "== ruff"
ruff check .
ruff format --check .
echo "== mypy --strict prefect_giga"
mypy --strict prefect_giga
echo "== doctests (the Examples in prefect_giga's docstrings)"
python -m pytest -q -p no:cacheprovider --doctest-modules prefect_giga
echo "== pytest"
python -m pytest -q -p no:cacheprovider "$@"
