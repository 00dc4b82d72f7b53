"""A daily job: a prompt filled from the date, the day's files attached, outputs in a block.

Deployed by `deployments/prefect.yaml` (``daily-report``). The prompt template gets the
run's date (the scheduled date, so a late or retried run still reports on its own day);
every file of ``attachments_dir`` is attached; the outputs go into the storage block named
``storage_block``, given as ``<block type slug>/<name>`` (``local-file-system/giga-reports``,
``remote-file-system/...``, ``s3-bucket/...``), under
``reports/<date>/<run_id>/``, declared to Prefect as an asset.

    python flows/daily_report.py --storage-block local-file-system/giga-reports
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import date, datetime, timezone
from pathlib import Path

from prefect import flow
from prefect.blocks.core import Block
from prefect.runtime import flow_run

from prefect_giga import GigaCredentials
from prefect_giga.assets import declare_assets
from prefect_giga.results import RunOutput
from prefect_giga.tasks import aharvest_run, astart_run, await_run

TEMPLATE = (
    "Here are the order files for {date:%A %d %B %Y}. Summarise the day's sales by region, "
    "flag anything unusual, and write the summary to output.md."
)


def report_date() -> date:
    """The day this flow run reports on: its scheduled start (today when run by hand)."""
    scheduled = flow_run.scheduled_start_time
    moment = scheduled if isinstance(scheduled, datetime) else datetime.now(timezone.utc)
    return moment.date()


def files_in(folder: Path) -> list[str]:
    """The files directly inside ``folder`` (none when it does not exist), sorted."""
    return sorted(str(p) for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


@flow(name="giga-daily-report", log_prints=True)
async def daily_report(
    credentials_block: str = "giga-wallet",
    attachments_dir: str = "flows/daily-inputs",
    storage_block: str = "local-file-system/giga-reports",
    prompt_template: str = TEMPLATE,
    day: date | None = None,
    poll_interval: float = 5.0,
) -> RunOutput:
    """Start one run over the day's files, wait for it, and store its outputs in a block."""
    when = day or report_date()
    credentials = await GigaCredentials.aload(credentials_block)
    storage = await Block.aload(storage_block)
    files = await asyncio.to_thread(files_in, Path(attachments_dir))
    started = await astart_run(credentials, prompt_template.format(date=when), files=files)
    run = await await_run(credentials, started.run_id, poll_interval=poll_interval)
    dest = f"reports/{when.isoformat()}"
    output = await aharvest_run(
        credentials, run.id, dest=dest, filesystem=storage, receipt=started.receipt
    )
    await declare_assets([output], dest, filesystem=storage)
    print(f"{len(output.files)} file(s) of run {run.id} stored in {storage_block}:{dest}")
    return output


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--block", default="giga-wallet")
    parser.add_argument("--storage-block", default="local-file-system/giga-reports")
    args = parser.parse_args()
    asyncio.run(daily_report(args.block, storage_block=args.storage_block))
