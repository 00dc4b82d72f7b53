"""Scenario (b): `GigaClient` with a `RunWatcher`.

Start every run, ``watcher.wait(run_id, fresh=True)`` for each (one ``/api/list`` loop for
all of them), then ``read(include_files=True)`` and ``download`` each file.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import eth_account  # noqa: F401 - imported before the timed window, as in a warm process

from benchmarks.harness import Context, Outcome, scenario_main
from benchmarks.plan import TIER
from prefect_giga.client.async_client import GigaClient
from prefect_giga.client.watcher import RunWatcher


async def one_run(giga: GigaClient, watcher: RunWatcher, prompt: str, dest: Path) -> None:
    """Start one run, wait for it through the shared watcher, download its files."""
    started = await giga.start(prompt, tier=TIER)
    await watcher.wait(started.run_id, fresh=True)
    run = await giga.read(started.run_id, include_files=True)
    for entry in run.files or []:
        if entry.is_file:
            await giga.download(run.id, entry.path, dest / run.id)


async def work(ctx: Context) -> Outcome:
    """Every run at once through one client and one watcher."""
    async with GigaClient(private_key=ctx.key, base_url=ctx.url, max_price_per_run="0.50") as giga:
        watcher = RunWatcher(giga, poll_interval=ctx.plan.poll)
        try:
            results = await asyncio.gather(
                *(one_run(giga, watcher, p, ctx.dest) for p in ctx.prompts),
                return_exceptions=True,
            )
        finally:
            await watcher.aclose()
    outcome = Outcome().count(results)
    outcome.extra["watcher"] = dataclasses.asdict(watcher.stats)
    return outcome


if __name__ == "__main__":
    raise SystemExit(scenario_main("client", work))
