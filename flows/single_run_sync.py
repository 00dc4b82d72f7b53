"""One Giga run from a *sync* flow, task by task: start, wait, harvest.

    python flows/single_run_sync.py "Write a haiku about data pipelines"

Uses the `GigaCredentials` block named `giga-wallet` (or GIGA_PRIVATE_KEY and GIGA_BASE_URL
in the environment when no such block is saved).
"""

from __future__ import annotations

import sys

from prefect import flow

from prefect_giga import GigaCredentials, harvest_run, start_run, wait_for_run
from prefect_giga.results import RunOutput


def _credentials() -> GigaCredentials:
    try:
        loaded: GigaCredentials = GigaCredentials.load("giga-wallet")
        return loaded
    except ValueError:
        return GigaCredentials.from_env()


@flow(name="giga-single-run", log_prints=True)
def single_run(prompt: str, tier: str | None = None, dest: str = "giga-outputs") -> RunOutput:
    """Start one run (on the server's default tier unless ``tier`` names one), wait for it,
    download its files and print its output.md."""
    credentials = _credentials()
    started = start_run(credentials, prompt, tier=tier)
    run = wait_for_run(credentials, started.run_id, poll_interval=5, timeout=1800)
    output = harvest_run(credentials, run.id, dest=dest, receipt=started.receipt)
    print(output.output_markdown or "(no output.md)")
    return output


if __name__ == "__main__":
    single_run(" ".join(sys.argv[1:]) or "Write a haiku about data pipelines")
