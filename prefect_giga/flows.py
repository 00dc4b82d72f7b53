"""Ready-made flows: `run_prompt` (one run) and `run_prompts` (a batch), with artifacts."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from prefect import flow
from prefect.client.schemas.objects import State
from prefect.context import FlowRunContext
from prefect.logging import get_run_logger
from prefect.states import Completed, Failed

from .artifacts import (
    BatchProgress,
    artifact_key,
    publish_batch_summary,
    publish_files,
    publish_output,
    publish_payments,
)
from .assets import declare_assets
from .cancellation import INTERRUPTIONS, on_batch_cancellation, report_interrupted_batch
from .core.exceptions import GigaError, RunFailedError
from .core.exchange import normalize_base_url
from .core.models import RunStatus
from .core.money import format_usd
from .credentials import GigaCredentials
from .events import emit_batch_completed
from .idempotency import start_key
from .payments.budget import SpendBudget
from .payments.journal import Journal, StartRef
from .results import BatchItemResult, BatchResult, ItemOutcome, PromptItem, RunOutput
from .tasks import (
    DEFAULT_POLL_INTERVAL,
    DEFAULT_TIMEOUT,
    aharvest_run,
    astart_run,
    await_run,
    is_refusal,
)

__all__ = ["run_prompt", "run_prompts"]


async def _credentials(credentials: GigaCredentials | str) -> GigaCredentials:
    if isinstance(credentials, GigaCredentials):
        return credentials
    loaded: GigaCredentials = await GigaCredentials.aload(credentials)
    return loaded


def _as_item(item: str | PromptItem | dict[str, Any]) -> PromptItem:
    if isinstance(item, PromptItem):
        return item
    if isinstance(item, str):
        return PromptItem(prompt=item)
    return PromptItem.model_validate(item)


@flow(name="giga-run-prompt", log_prints=True)
async def run_prompt(
    prompt: str,
    credentials: GigaCredentials | str,
    tier: str | None = None,
    files: list[str] | None = None,
    dest: str = "giga-outputs",
    include: list[str] | None = None,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    timeout: float = DEFAULT_TIMEOUT,
    idempotency_key: str | None = None,
    artifact_prefix: str = "giga",
) -> RunOutput:
    """Start one Giga run, wait for it, harvest its files and publish artifacts.

    Args:
        prompt: What the agent should do.
        credentials: A `GigaCredentials` block or the name of a saved one.
        tier: The tier (default: the block's).
        files: Local paths to attach.
        dest: Folder the outputs go to (under ``dest/<run_id>/``).
        include: Glob patterns of files to keep.
        poll_interval: Seconds between status reads.
        timeout: Seconds to wait for the run.
        idempotency_key: Your key for this start across flow runs.
        artifact_prefix: Prefix of the artifact keys.

    Returns:
        The run's typed output.

    Example:
        ```python
        from prefect_giga.flows import run_prompt

        output = await run_prompt("Write a README for this CSV", "my-giga-wallet",
                                  files=["data.csv"])
        print(output.output_markdown)
        ```
    """
    creds = await _credentials(credentials)
    started = await astart_run(
        creds, prompt, tier=tier, files=files, idempotency_key=idempotency_key, item_index=0
    )
    run = await await_run(
        creds, started.run_id, poll_interval=poll_interval, timeout=timeout, raise_on_failure=False
    )
    output = await aharvest_run(creds, run.id, dest=dest, include=include, receipt=started.receipt)
    await publish_output(output, artifact_key(artifact_prefix, "output"))
    await publish_files([output], artifact_key(artifact_prefix, "files"))
    if started.receipt is not None:
        await publish_payments(
            [(run.id, started.receipt)], artifact_key(artifact_prefix, "payments")
        )
    if run.status is RunStatus.FAILED:
        raise RunFailedError(
            f"Giga run {run.id} failed ({run.error_code or 'no error code'}); its files were "
            "harvested",
            run_id=run.id,
            error_code=run.error_code,
        )
    return output


async def _run_item(
    index: int,
    item: PromptItem,
    creds: GigaCredentials,
    *,
    batch_id: str | None,
    budget: SpendBudget,
    dest: str,
    include: list[str] | None,
    poll_interval: float,
    timeout: float,
    running: set[str],
    stream_logs: bool,
) -> BatchItemResult:
    base = {"index": index, "prompt": item.prompt}
    try:
        started = await astart_run(
            creds,
            item.prompt,
            tier=item.tier,
            files=item.files or None,
            idempotency_key=item.idempotency_key,
            batch_id=batch_id,
            item_index=index,
            budget=budget,
        )
    except Exception as exc:  # one item's failure must not sink the batch
        outcome = ItemOutcome.REFUSED if is_refusal(exc) else ItemOutcome.ERROR
        return BatchItemResult(**base, outcome=outcome, error=f"{type(exc).__name__}: {exc}")
    if started.receipt is not None and started.idempotency_key is not None:
        budget.record(started.idempotency_key, started.receipt.amount)
    running.add(started.run_id)
    try:
        run = await await_run(
            creds,
            started.run_id,
            poll_interval=poll_interval,
            timeout=timeout,
            stream_logs=stream_logs,
            raise_on_failure=False,
            just_started=not started.reattached,
        )
        running.discard(started.run_id)
        output = await aharvest_run(
            creds, run.id, dest=dest, include=include, receipt=started.receipt
        )
    except Exception as exc:
        return BatchItemResult(
            **base,
            outcome=ItemOutcome.ERROR,
            run_id=started.run_id,
            receipt=started.receipt,
            error=f"{type(exc).__name__}: {exc}",
        )
    outcome = ItemOutcome.COMPLETED if output.succeeded else ItemOutcome.FAILED
    error = None if output.succeeded else f"run failed ({output.error_code or 'no error code'})"
    return BatchItemResult(
        **base, outcome=outcome, run_id=run.id, output=output, receipt=started.receipt, error=error
    )


def _count_earlier_payments(
    budget: SpendBudget,
    creds: GigaCredentials,
    batch: list[PromptItem],
    batch_id: str | None,
) -> None:
    """Count what earlier runs of this batch already paid, before anything new is paid.

    A retried flow run or a re-run with the same ``batch_id`` re-attaches to the items it
    paid for; they count against ``spend_limit`` from the start, so the limit covers the
    whole batch however many times it runs.
    """
    context = FlowRunContext.get()
    flow_run_id = str(context.flow_run.id) if context and context.flow_run else ""
    scope = batch_id or flow_run_id
    journal = Journal()
    for index, item in enumerate(batch):
        key = start_key(
            creds.address,
            item.prompt,
            tier=item.tier,
            files=item.files or None,
            scope=scope,
            item=index,
            idempotency_key=item.idempotency_key,
        )
        entry = journal.get(StartRef(creds.address, normalize_base_url(creds.base_url), key))
        if entry is not None and entry.state.counts_as_spent:
            budget.record(key, entry.amount)


async def _quote_all(
    items: list[PromptItem],
    creds: GigaCredentials,
    concurrency: int,
) -> list[BatchItemResult]:
    semaphore = asyncio.Semaphore(concurrency)

    async def one(index: int, item: PromptItem) -> BatchItemResult:
        async with semaphore, creds.get_client() as giga:
            try:
                quote = await giga.quote(item.prompt, tier=item.tier, files=item.files or None)
            except GigaError as exc:
                outcome = ItemOutcome.REFUSED if is_refusal(exc) else ItemOutcome.ERROR
                return BatchItemResult(
                    index=index,
                    prompt=item.prompt,
                    outcome=outcome,
                    error=f"{type(exc).__name__}: {exc}",
                )
        return BatchItemResult(
            index=index, prompt=item.prompt, outcome=ItemOutcome.QUOTED, quote=quote
        )

    return list(await asyncio.gather(*(one(i, item) for i, item in enumerate(items))))


@flow(name="giga-run-prompts", log_prints=True, on_cancellation=[on_batch_cancellation])
async def run_prompts(
    items: list[str | PromptItem | dict[str, Any]],
    credentials: GigaCredentials | str,
    max_concurrency: int = 10,
    spend_limit: Decimal | None = None,
    batch_id: str | None = None,
    allow_failures: bool = False,
    dry_run: bool = False,
    dedupe: bool = False,
    dest: str = "giga-outputs",
    include: list[str] | None = None,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    timeout: float = DEFAULT_TIMEOUT,
    artifact_prefix: str = "giga-batch",
    stream_logs: bool = False,
) -> State[BatchResult]:
    """Fan a batch of prompts out to Giga, isolate failures, harvest and report everything.

    Args:
        items: Prompts, or `PromptItem` / ``{"prompt", "files", "tier"}`` dicts.
        credentials: A `GigaCredentials` block or the name of a saved one.
        max_concurrency: The most items in flight at once.
        spend_limit: The most the batch may spend, in USD, enforced before each payment.
        batch_id: Re-runs by hand with the same id re-attach instead of paying again.
        allow_failures: End Completed even when items failed.
        dry_run: Quote every item (free), report the total, pay nothing.
        dedupe: Send identical items once (by default identical prompts are separate runs).
        dest: Folder the outputs go to (under ``dest/<run_id>/``).
        include: Glob patterns of files to keep.
        poll_interval: Seconds between status reads of each run.
        timeout: Seconds to wait for each run.
        artifact_prefix: Prefix of the artifact keys.
        stream_logs: Stream every run's log records into the flow's logs (one read per run
            per poll on top of the shared ``/api/list`` poll; off by default for batches).

    Returns:
        A Completed state holding the `BatchResult`, or a Failed one (holding it too) when
        an item failed and ``allow_failures`` is false. Outputs of the items that succeeded
        are harvested and published either way.

    Example:
        ```python
        from prefect_giga.flows import run_prompts

        state = await run_prompts(["Summarise A", "Summarise B"], "my-giga-wallet",
                                  spend_limit="5.00", return_state=True)
        result = await state.result(raise_on_failure=False)
        ```
    """
    logger = get_run_logger()
    creds = await _credentials(credentials)
    batch = [_as_item(item) for item in items]
    if dedupe:
        unique: dict[str, PromptItem] = {}
        for item in batch:
            unique.setdefault(item.model_dump_json(), item)
        batch = list(unique.values())
    concurrency = max(1, max_concurrency)
    summary_key = artifact_key(artifact_prefix, "summary")

    if dry_run:
        quoted = await _quote_all(batch, creds, concurrency)
        total = sum((i.quote.amount for i in quoted if i.quote), Decimal(0))
        result = BatchResult(items=quoted, spent=Decimal(0), dry_run=True, quoted_total=total)
        await publish_batch_summary(result, summary_key)
        print(f"Dry run: {len(batch)} item(s) would cost {format_usd(total)}; nothing was paid")
        return Completed(data=result, message=f"Dry run: {format_usd(total)} quoted")

    budget = SpendBudget(spend_limit)
    flow_context = FlowRunContext.get()
    scope = batch_id or str(
        flow_context.flow_run.id if flow_context and flow_context.flow_run else ""
    )
    _count_earlier_payments(budget, creds, batch, batch_id)
    progress = await BatchProgress.create(artifact_key(artifact_prefix, "progress"), len(batch))
    semaphore = asyncio.Semaphore(concurrency)
    running: set[str] = set()

    async def guarded(index: int, item: PromptItem) -> BatchItemResult:
        async with semaphore:
            result = await _run_item(
                index,
                item,
                creds,
                batch_id=batch_id,
                budget=budget,
                dest=dest,
                include=include,
                poll_interval=poll_interval,
                timeout=timeout,
                running=running,
                stream_logs=stream_logs,
            )
        await progress.advance()
        if result.output is not None:
            await publish_output(result.output, artifact_key(artifact_prefix, "output", index))
        logger.info(
            "Item %d: %s%s",
            index,
            result.outcome.value,
            f" ({result.error})" if result.error else "",
        )
        return result

    try:
        results = list(await asyncio.gather(*(guarded(i, item) for i, item in enumerate(batch))))
    except INTERRUPTIONS:
        logger.warning("Batch interrupted; Giga runs left running: %s", sorted(running) or "none")
        await report_interrupted_batch(creds, batch, scope, running, artifact_prefix)
        raise
    spent = sum((r.receipt.amount for r in results if r.receipt), Decimal(0))
    result = BatchResult(items=results, spent=spent, left_running=sorted(running))
    await publish_files(
        [r.output for r in results if r.output], artifact_key(artifact_prefix, "files")
    )
    await publish_payments(
        [(r.run_id, r.receipt) for r in results if r.receipt],
        artifact_key(artifact_prefix, "payments"),
    )
    await publish_batch_summary(result, summary_key)
    assets = await declare_assets([r.output for r in results if r.output], dest)
    emit_batch_completed(
        result, creds.address, scope=scope, spend_limit=spend_limit, dest=dest, assets=assets
    )
    counts = result.summary()
    message = (
        f"{counts['completed']} of {counts['items']} completed, {counts['failed']} failed, "
        f"{counts['refused']} refused, {counts['errors']} errors; spent {format_usd(spent)}"
    )
    print(message)
    if result.failed_count and not allow_failures:
        return Failed(data=result, message=message)
    return Completed(data=result, message=message)
