"""A batch of prompts with a spend limit for the whole batch."""

import asyncio
from decimal import Decimal

from prefect_giga.flows import run_prompts
from prefect_giga.results import PromptItem

items = [
    "Summarise yesterday's support tickets",
    PromptItem(prompt="Clean data.csv and describe its columns", files=["data.csv"]),
    {"prompt": "Draft the weekly sales memo", "tier": "$1.00"},
    "List ten risks in our ETL pipeline",
]


async def main() -> None:
    # Free: quote every item and report the total, pay nothing.
    dry = await run_prompts(items, "my-giga-wallet", dry_run=True, return_state=True)
    print("the batch would cost", (await dry.result()).quoted_total, "USD")

    state = await run_prompts(
        items,
        "my-giga-wallet",
        spend_limit=Decimal("3.00"),  # USD for the whole batch, checked before each payment
        max_concurrency=10,
        allow_failures=True,  # end Completed even when an item was refused or failed
        return_state=True,
    )
    result = await state.result(raise_on_failure=False)  # a BatchResult
    print(result.summary())
    for item in result.items:
        print(item.index, item.outcome.value, item.run_id, item.error or "")


asyncio.run(main())
