"""A scheduled batch: every night, run a list of prompts and keep their outputs.

Deployed by `deployments/prefect.yaml`. Runs the prompts of `prompts.txt` (one per line)
through `run_prompts` with the wallet saved as the `GigaCredentials` block named
`giga-wallet`, within a nightly spend limit.

    python flows/nightly_reports.py --prompts flows/prompts.txt   # once, by hand
"""

from __future__ import annotations

import argparse
import asyncio
from decimal import Decimal
from pathlib import Path

from prefect import flow

from prefect_giga.flows import run_prompts
from prefect_giga.results import BatchResult


# A crashed run retried (retries=1, or from the UI) keeps its flow run id, so the batch
# re-attaches to what it already paid for instead of paying again.
@flow(name="giga-nightly-reports", log_prints=True, retries=1)
async def nightly_reports(
    prompts_file: str = "flows/prompts.txt",
    credentials_block: str = "giga-wallet",
    spend_limit: Decimal = Decimal("10.00"),
    dest: str = "giga-outputs/nightly",
) -> BatchResult:
    """Run every prompt of ``prompts_file`` through Giga and keep the outputs.

    Each night is a new flow run, so a new batch; a retry of the same flow run (by the
    deployment's retries or from the UI) re-attaches to what it already paid for.
    """
    text = await asyncio.to_thread(Path(prompts_file).read_text, encoding="utf-8")
    prompts = [line.strip() for line in text.splitlines() if line.strip()]
    state = await run_prompts(
        prompts, credentials_block, spend_limit=spend_limit, dest=dest, return_state=True
    )
    result: BatchResult = await state.result(raise_on_failure=False)
    print(f"{result.summary()}")
    if state.is_failed():
        raise RuntimeError(state.message or "some prompts failed")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prompts", default="flows/prompts.txt")
    parser.add_argument("--block", default="giga-wallet")
    args = parser.parse_args()
    asyncio.run(nightly_reports(args.prompts, args.block))
