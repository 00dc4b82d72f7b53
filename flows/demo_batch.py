"""The README's main job: a batch of prompts through `run_prompts`, against the embedded emulator.

Runs on Prefect's embedded default (a temporary local API) and costs nothing: the emulator
verifies every payment and signature for real, with test USDC, offline.

    bash scripts/demo.sh            # or: python flows/demo_batch.py --items 8 --spend-limit 3
"""

from __future__ import annotations

import argparse
import asyncio
from decimal import Decimal
from pathlib import Path

from eth_account import Account

from prefect_giga import GigaCredentials
from prefect_giga.core.money import to_usd
from prefect_giga.flows import run_prompts
from prefect_giga.results import BatchResult
from prefect_giga.testing import EmulatorConfig, GigaEmulator

PROMPTS = [
    "Summarise last week's support tickets into five themes [files=1]",
    "Write a Python script that sorts a CSV by its date column [files=2]",
    "Draft a one-page memo on Q3 sales for the leadership team",
    "Produce a data dictionary for the orders table [files=3] [size=200KB]",
    "List ten risks in our ETL pipeline and how to detect each [duration=120]",
]


async def main(items: int, spend_limit: Decimal, dest: Path) -> BatchResult:
    """Start an emulator, run the batch against it, and print what happened."""
    throwaway = Account.create()  # a fresh wallet; the emulator funds it with test USDC
    config = EmulatorConfig(time_scale=200.0, logs_delay_seconds=1.0)
    with GigaEmulator(config).run() as server:
        credentials = GigaCredentials(
            private_key="0x" + throwaway.key.hex().removeprefix("0x"),
            base_url=server.url,
            max_price_per_run=Decimal("1.00"),
        )
        prompts = [PROMPTS[i % len(PROMPTS)] for i in range(items)]
        state = await run_prompts(
            prompts,
            credentials,
            max_concurrency=5,
            spend_limit=spend_limit,
            dest=str(dest),
            poll_interval=0.2,
            item_artifacts=True,  # a small batch: one output artifact per item too
            return_state=True,
        )
        result: BatchResult = await state.result(raise_on_failure=False)
        ledger = server.emulator.ledger
    print()
    print(f"Flow run ended {state.name}: {state.message}")
    paid = to_usd(sum(entry.amount for entry in ledger))
    print(f"Emulator ledger: {len(ledger)} payment(s), {paid} test USDC")
    for item in result.items:
        where = dest / item.run_id if item.run_id and item.output else ""
        print(f"  item {item.index}: {item.outcome.value:9} {item.run_id or '':24} {where}")
    print(f"Outputs are under {dest}/<run_id>/")
    print(
        "Artifacts (keys giga-batch-summary, giga-batch-files, giga-batch-payments, "
        "giga-batch-progress, giga-batch-output-<n>) are in the local Prefect database: "
        "`prefect artifact ls` lists them, `prefect server start` shows them in the UI."
    )
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=len(PROMPTS))
    parser.add_argument("--spend-limit", type=Decimal, default=Decimal("10.00"))
    parser.add_argument("--dest", type=Path, default=Path("giga-outputs"))
    args = parser.parse_args()
    asyncio.run(main(args.items, args.spend_limit, args.dest.absolute()))
