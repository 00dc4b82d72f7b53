"""Scenario (c): the `run_prompts` flow under Prefect's embedded (ephemeral) API.

``prepare`` runs a trivial flow first, so Prefect's start-up (its temporary API server and
database) is measured apart and not counted against the runs.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from decimal import Decimal
from typing import Any, cast

import eth_account  # noqa: F401 - imported before the timed window, as in a warm process
from prefect import flow
from prefect.client.schemas.objects import State

from benchmarks.harness import Context, Outcome, scenario_main
from benchmarks.measure import cpu_self
from prefect_giga import GigaCredentials, save_items
from prefect_giga.flows import run_prompts
from prefect_giga.results import BatchResult, ItemOutcome


@flow(name="benchmark-warm-up")
async def warm_up() -> int:
    """A flow that does nothing: starting it brings Prefect's API up."""
    return 1


async def prepare(ctx: Context) -> dict[str, Any]:
    """Start Prefect's ephemeral API with a trivial flow; report what it cost."""
    started, cpu = time.time(), cpu_self()
    await warm_up()
    return {"prefect_startup_wall": time.time() - started, "prefect_startup_cpu": cpu_self() - cpu}


INLINE_ITEMS = 5000
"""Batches up to this size pass their prompts as flow-run parameters; bigger ones pass a
JSON Lines file (``items_from``), as Prefect's server refuses parameters over 512 KiB."""


async def work(ctx: Context) -> Outcome:
    """The whole batch through ``run_prompts``, every item in flight at once."""
    credentials = GigaCredentials(
        private_key=ctx.key, base_url=ctx.url, max_price_per_run=Decimal("0.50")
    )
    inline = ctx.n <= INLINE_ITEMS
    items_from = None if inline else save_items(ctx.prompts, ctx.dest.parent / "items.jsonl")
    batch = run_prompts(
        list(ctx.prompts) if inline else None,
        credentials,
        items_from=items_from,
        max_concurrency=ctx.n,
        dest=str(ctx.dest),
        poll_interval=ctx.plan.poll,
        allow_failures=True,
        return_state=True,
    )
    state = await cast(Awaitable[State[BatchResult]], batch)
    result = await cast(Awaitable[BatchResult], state.result(raise_on_failure=False))
    outcome = Outcome()
    for item in result.items:
        if item.outcome is ItemOutcome.COMPLETED:
            outcome.completed += 1
        else:
            outcome.failed += 1
            if len(outcome.errors) < 5:
                outcome.errors.append(f"item {item.index}: {item.outcome.value}: {item.error}")
    outcome.extra["flow_state"] = state.name
    outcome.extra["items_passed"] = "inline" if inline else "file"
    return outcome


if __name__ == "__main__":
    raise SystemExit(scenario_main("flow", work, prepare))
