#!/usr/bin/env bash
# The main job: a batch of prompts through the run_prompts flow, against the embedded Giga emulator,
# on Prefect's embedded default (no server to start). Prints where the outputs and artifacts are.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
python flows/demo_batch.py "$@"
