"""A batch in chunks: each chunk is a flow run (`run_prompts_chunk`) that drives its items.

`run_prompts` runs its chunks as in-process sub-flows, a few at a time, sharing one
`BatchRunner` (budget, concurrency, progress, client). A chunk carries only plain data (the
batch's key scope, its first global index, its items and the options), so a scale-out can
run the very same chunk as a deployment run on another machine: it then drives its items
with a runner and client of its own, and its item keys are still the batch's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from prefect import flow
from prefect.context import FlowRunContext
from prefect.logging import get_run_logger

from .artifacts import publish_batch_summary
from .batch import BatchOptions, BatchRunner, active_runner
from .credentials import GigaCredentials
from .flow_scope import owned_scope
from .payments.budget import SpendBudget
from .payments.journal import StartRef
from .results import BatchItemResult, BatchResult, PromptItem

__all__ = ["DEFAULT_CHUNK_SIZE", "count_earlier_payments", "plan_chunks", "run_prompts_chunk"]

DEFAULT_CHUNK_SIZE = 250
"""Items per chunk: one sub-flow run (a handful of Prefect API calls) per this many items."""


def plan_chunks(total: int, chunk_size: int) -> Iterator[tuple[int, int]]:
    """The ``(first, stop)`` global index ranges of a batch's chunks, in order.

    Example:
        >>> list(plan_chunks(5, 2))
        [(0, 2), (2, 4), (4, 5)]
    """
    size = max(1, chunk_size)
    for first in range(0, total, size):
        yield first, min(first + size, total)


def count_earlier_payments(
    runner: BatchRunner, items: list[PromptItem], first_index: int = 0
) -> None:
    """Count what earlier runs of this batch already paid, before anything new is paid.

    A retried flow run or a re-run with the same ``batch_id`` re-attaches to the items it
    paid for; they count against the spend limit from the start, so the limit covers the
    whole batch however many times it runs.

    Example:
        ```python
        count_earlier_payments(runner, batch)
        ```
    """
    credentials = runner.credentials
    server = credentials.base_url  # canonical: the block checked it
    journal = credentials.open_journal()
    for offset, item in enumerate(items):
        key = runner.key_for(first_index + offset, item)
        entry = journal.get(StartRef(credentials.address, server, key))
        if entry is not None and entry.state.counts_as_spent:
            runner.budget.record(key, entry.amount)


def summarize_chunk(results: list[BatchItemResult]) -> str:
    """One line for a chunk's items: counts per outcome.

    Example:
        >>> summarize_chunk([])
        'no items'
    """
    if not results:
        return "no items"
    counts: dict[str, int] = {}
    for result in results:
        counts[result.outcome.value] = counts.get(result.outcome.value, 0) + 1
    first, last = results[0].index, results[-1].index
    parts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
    return f"items {first}-{last}: {parts}"


@flow(name="giga-run-prompts-chunk", persist_result=False, validate_parameters=False)
async def run_prompts_chunk(
    credentials: GigaCredentials | str,
    items: list[PromptItem],
    first_index: int,
    options: BatchOptions,
    publish_summary: bool = False,
    max_concurrency: int = 10,
) -> list[BatchItemResult]:
    """Drive one chunk of a batch: items ``first_index`` onwards, keys scoped to the batch.

    Inside `run_prompts` the chunk shares the batch's runner; run on its own (for example as
    a deployment run, `prefect_giga.spread`), it drives its items with a client, budget and
    watcher of its own, its budget being ``options.spend_limit`` (the chunk's share of the
    batch's limit), from which what earlier attempts paid for its items is counted first.
    As a deployment run its parameters are plain JSON: the block's name, item and option
    dicts.

    Args:
        credentials: The paying wallet, or the name of a saved `GigaCredentials` block.
        items: The chunk's items (`PromptItem` or their dicts).
        first_index: The global index of the chunk's first item.
        options: How items are driven (including the batch's key scope), or its dict.
        publish_summary: Publish a table artifact with this chunk's rows.
        max_concurrency: The most of the chunk's items in flight at once, when it runs
            on its own (inside `run_prompts` the batch's limit applies).

    Returns:
        One `BatchItemResult` per item, in order.

    Example:
        ```python
        results = await run_prompts_chunk(credentials, items, 500, BatchOptions(key_scope="b-1"))
        ```
    """
    logger = get_run_logger()
    items = [_plain(PromptItem, item) for item in items]
    options = _plain(BatchOptions, options)
    runner = active_runner(options.key_scope)
    if runner is not None:
        results = await _drive(runner, items, first_index)
    else:
        if isinstance(credentials, str):
            credentials = await GigaCredentials.aload(credentials)
        context = FlowRunContext.get()
        owner = str(context.flow_run.id) if context and context.flow_run else options.key_scope
        async with owned_scope(owner) as scope:
            runner = BatchRunner(
                credentials,
                options,
                scope,
                SpendBudget(options.spend_limit),
                max(1, max_concurrency),
                None,
                logger=logger,
            )
            count_earlier_payments(runner, items, first_index)
            results = await _drive(runner, items, first_index)
    logger.info("Chunk %s", summarize_chunk(results))
    if publish_summary:
        spent = sum((r.receipt.amount for r in results if r.receipt), Decimal(0))
        chunk = BatchResult(items=results, spent=spent)
        try:
            await publish_batch_summary(chunk, None, runner.artifacts_flow_run)
        except Exception as exc:  # a report that did not land must not lose the items
            logger.warning("Chunk summary artifact not published: %s", exc)
    return results


def _plain(model: Any, value: Any) -> Any:
    """``value`` as ``model``: a deployment run's parameters arrive as JSON dicts."""
    return value if isinstance(value, model) else model.model_validate(value)


async def _drive(
    runner: BatchRunner, items: list[PromptItem], first_index: int
) -> list[BatchItemResult]:
    coroutines = (runner.run_item(first_index + i, item) for i, item in enumerate(items))
    return list(await asyncio.gather(*coroutines))
