"""One run inside your own flow: the run_prompt flow as a subflow."""

import asyncio

from prefect import flow

from prefect_giga.flows import run_prompt


@flow(log_prints=True)
async def weekly_memo() -> str:
    output = await run_prompt(
        "Draft a one-page memo on this week's sales",
        credentials="my-giga-wallet",
        include=["*.md"],  # keep only markdown files
    )
    print("cost", output.receipt.amount if output.receipt else "nothing (re-attached)")
    return output.output_markdown or ""


memo = asyncio.run(weekly_memo())
print(memo[:200])
