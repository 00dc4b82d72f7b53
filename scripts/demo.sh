#!/usr/bin/env bash
# The main job: a batch of prompts through the run_prompts flow, against the embedded Giga emulator,
# on Prefect's embedded default (no server to start). Prints where the outputs and artifacts are.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# The embedded API starts on first use; give it time on a busy machine.
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="${PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS:-120}"
# No usage telemetry from the embedded server: the demo talks to nothing but 127.0.0.1.
export PREFECT_SERVER_ANALYTICS_ENABLED="${PREFECT_SERVER_ANALYTICS_ENABLED:-false}"
python flows/demo_batch.py "$@"
