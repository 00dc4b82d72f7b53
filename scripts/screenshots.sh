#!/usr/bin/env bash
# Pictures of the Prefect UI for the docs (docs/images/*.png and manifest.json): starts a real
# `prefect server` (own PREFECT_HOME, free port, PREFECT_UI_API_URL set), runs the demo batch
# against the emulator, saves a GigaCredentials block with the public test key, and takes
# headless-Chromium screenshots. Needs Debian's chromium: apt-get install -y chromium.
# Look at every picture before committing it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
if ! command -v "${CHROMIUM:-chromium}" >/dev/null; then
  echo "chromium not found: apt-get update && apt-get install -y chromium (or set CHROMIUM)" >&2
  exit 1
fi
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="${PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS:-120}"
python scripts/screenshots.py --chromium "$(command -v "${CHROMIUM:-chromium}")" "$@"
