"""The same from a script without an event loop: the blocking client mirrors every method."""

import os

from prefect_giga import SyncGigaClient

with SyncGigaClient(
    private_key=os.environ["GIGA_PRIVATE_KEY"], base_url=os.environ["GIGA_BASE_URL"]
) as giga:
    started = giga.start("Summarise data.csv in five bullet points", files=["data.csv"])
    print("started", started.run_id)
    for run in giga.iter_runs():  # every run of this wallet, newest first
        print(run.id, run.status.value)
