"""Ready-made flows: `run_prompt` (one run) and `run_prompts` (a batch), with artifacts."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any
from uuid import UUID

from prefect import flow
from prefect.client.schemas.objects import State
from prefect.context import FlowRunContext
from prefect.logging import get_run_logger
from prefect.states import Completed, Failed

from .artifacts import (
    PROGRESS_INTERVAL,
    BatchProgress,
    artifact_key,
    publish_batch_summary,
    publish_files,
    publish_output,
    publish_payments,
)
from .assets import declare_assets
from .batch import BatchOptions, BatchRunner, is_refusal, running_batch
from .cancellation import INTERRUPTIONS, on_batch_cancellation, report_interrupted_batch
from .chunks import DEFAULT_CHUNK_SIZE, count_earlier_payments, plan_chunks, run_prompts_chunk
from .core.exceptions import GigaError, RunFailedError
from .core.models import RunStatus
from .core.money import format_usd
from .credentials import GigaCredentials
from .events import emit_batch_completed
from .flow_scope import FlowScope, owned_scope
from .item_files import batch_items
from .payments.budget import SpendBudget
from .results import BatchItemResult, BatchResult, ChunkShare, ItemOutcome, PromptItem, RunOutput
from .spread import spread_batch
from .tasks import (
    DEFAULT_POLL_INTERVAL,
    DEFAULT_TIMEOUT,
    aharvest_run,
    astart_run,
    await_run,
)

__all__ = ["run_prompt", "run_prompts"]


async def _credentials(credentials: GigaCredentials | str) -> GigaCredentials:
    if isinstance(credentials, GigaCredentials):
        return credentials
    loaded: GigaCredentials = await GigaCredentials.aload(credentials)
    return loaded


def _flow_run_id() -> str | None:
    context = FlowRunContext.get()
    return str(context.flow_run.id) if context and context.flow_run else None


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
    async with owned_scope(_flow_run_id() or "run-prompt"):
        started = await astart_run(
            creds, prompt, tier=tier, files=files, idempotency_key=idempotency_key, item_index=0
        )
        run = await await_run(
            creds,
            started.run_id,
            poll_interval=poll_interval,
            timeout=timeout,
            raise_on_failure=False,
        )
        output = await aharvest_run(
            creds, run.id, dest=dest, include=include, receipt=started.receipt
        )
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


async def _quote_all(
    items: list[PromptItem],
    creds: GigaCredentials,
    concurrency: int,
    scope: FlowScope,
) -> list[BatchItemResult]:
    semaphore = asyncio.Semaphore(concurrency)
    giga = scope.client(creds)

    async def one(index: int, item: PromptItem) -> BatchItemResult:
        async with semaphore:
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


async def _drive_chunks(
    runner: BatchRunner, batch: list[PromptItem], chunk_size: int, concurrency: int
) -> list[BatchItemResult]:
    """Run the batch's chunks as sub-flows, enough at once to keep ``concurrency`` items busy."""
    plan = list(plan_chunks(len(batch), chunk_size))
    results: list[BatchItemResult] = []
    pending = iter(plan)
    several = len(plan) > 1

    async def worker() -> None:
        for first, stop in pending:
            done = await run_prompts_chunk(
                runner.credentials, batch[first:stop], first, runner.options, several
            )
            results.extend(done)

    in_flight = min(len(plan), -(-concurrency // max(1, chunk_size)) + 1)
    with running_batch(runner):
        await asyncio.gather(*(worker() for _ in range(in_flight)))
    results.sort(key=lambda r: r.index)
    return results


def _spread_checks(
    chunk_deployment: str | None, credentials: GigaCredentials | str, batch_id: str | None
) -> str | None:
    """The credentials block's name for chunk runs on a deployment; refuse what cannot work."""
    if chunk_deployment is None:
        return None
    if not batch_id:
        raise ValueError(
            "chunk_deployment needs a batch_id: the chunk runs' item keys and flow-run "
            "idempotency keys come from it, so a retried or re-run batch re-attaches instead "
            "of paying again"
        )
    name = credentials if isinstance(credentials, str) else credentials._block_document_name
    if not name:
        raise ValueError(
            "chunk_deployment needs credentials as the name of a saved GigaCredentials block "
            "(the chunk runs load it by name; a key never goes into flow-run parameters)"
        )
    return name


async def _publish_batch(result: BatchResult, prefix: str, flow_run_id: UUID | None) -> None:
    """The batch's files, payments and summary tables (the one place a batch ends)."""
    items = result.items
    await publish_files(
        [r.output for r in items if r.output], artifact_key(prefix, "files"), flow_run_id
    )
    await publish_payments(
        [(r.run_id, r.receipt) for r in items if r.receipt],
        artifact_key(prefix, "payments"),
        flow_run_id,
    )
    await publish_batch_summary(result, artifact_key(prefix, "summary"), flow_run_id)


@flow(name="giga-run-prompts", log_prints=True, on_cancellation=[on_batch_cancellation])
async def run_prompts(
    items: list[str | PromptItem | dict[str, Any]] | None,
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
    item_artifacts: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress_interval: float = PROGRESS_INTERVAL,
    chunk_deployment: str | None = None,
    items_from: str | None = None,
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
        item_artifacts: Also publish one markdown artifact per item with its ``output.md``
            (``<prefix>-output-<index>``); off by default, as it costs a write per item.
        chunk_size: Items per chunk. Each chunk is one sub-flow run
            (``giga-run-prompts-chunk``) that drives its items without a task run each;
            item keys come from ``batch_id`` (or this flow run) and the item's index.
        progress_interval: Seconds between updates of the progress artifact (the last
            update always lands).
        chunk_deployment: ``"giga-run-prompts-chunk/<deployment>"``: run each chunk as a
            flow run of this deployment (entry point ``prefect_giga.spread:chunk_flow``) on
            its work pool instead of in this process, so its workers share the batch.
            Needs ``batch_id`` and ``credentials`` as a saved block's name; each chunk gets
            its share of ``spend_limit`` up front (`prefect_giga.shares`), and
            ``max_concurrency`` then applies per chunk run (docs:
            recipes/spread-over-workers.md).
        items_from: Instead of ``items`` (give ``None``): a JSON Lines file of items, a path
            or an fsspec URL, read by this flow run (`prefect_giga.item_files`). For batches
            too big for flow-run parameters (the Prefect server refuses over 512 KiB by
            default, about 8,000 short prompts).

    The batch costs about what the bare client costs per item: no task run, state change,
    log line or artifact per item (errors are logged one line each; each chunk logs one
    line). Every item's result is kept in the returned `BatchResult`.

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
    # Off the event loop: an items_from file may be remote.
    batch = await asyncio.to_thread(batch_items, items, items_from, dedupe=dedupe)
    concurrency = max(1, max_concurrency)
    block_name = _spread_checks(chunk_deployment, credentials, batch_id)
    flow_run_id = _flow_run_id()
    async with owned_scope(flow_run_id or "run-prompts") as scope:
        if dry_run:
            quoted = await _quote_all(batch, creds, concurrency, scope)
            total = sum((i.quote.amount for i in quoted if i.quote), Decimal(0))
            result = BatchResult(items=quoted, spent=Decimal(0), dry_run=True, quoted_total=total)
            await publish_batch_summary(result, artifact_key(artifact_prefix, "summary"))
            print(f"Dry run: {len(batch)} item(s) would cost {format_usd(total)}; nothing was paid")
            return Completed(data=result, message=f"Dry run: {format_usd(total)} quoted")

        options = BatchOptions(
            key_scope=batch_id or flow_run_id or "run-prompts",
            dest=dest,
            include=include,
            poll_interval=poll_interval,
            timeout=timeout,
            stream_logs=stream_logs,
            item_artifacts=item_artifacts,
            artifact_prefix=artifact_prefix,
            spend_limit=spend_limit,
            batch_limit=spend_limit,
        )
        progress = await BatchProgress.create(
            artifact_key(artifact_prefix, "progress"), len(batch), progress_interval
        )
        runner = BatchRunner(
            creds,
            options,
            scope,
            SpendBudget(spend_limit),
            concurrency,
            progress,
            artifacts_flow_run=UUID(flow_run_id) if flow_run_id else None,
            logger=logger,
        )
        chunks: list[ChunkShare] = []
        try:
            if chunk_deployment is not None and batch_id and block_name:
                results, chunks = await spread_batch(
                    chunk_deployment,
                    block_name,
                    creds,
                    batch,
                    options,
                    batch_id=batch_id,
                    chunk_size=chunk_size,
                    max_concurrency=concurrency,
                    progress=progress,
                    logger=logger,
                )
            else:
                count_earlier_payments(runner, batch)
                results = await _drive_chunks(runner, batch, chunk_size, concurrency)
        except INTERRUPTIONS:
            # Chunk runs drove the items elsewhere (and are cancelled): the report then asks
            # the journal and Giga what still runs.
            running = None if chunk_deployment is not None else runner.running
            if running is not None:
                logger.warning(
                    "Batch interrupted; Giga runs left running: %s",
                    ", ".join(sorted(running)) or "none",
                )
            await report_interrupted_batch(
                creds, batch, options.key_scope, running, artifact_prefix
            )
            raise
    spent = sum((r.receipt.amount for r in results if r.receipt), Decimal(0))
    if chunks:  # what lost chunk runs paid is in the journal, not in a receipt
        spent = sum((c.spent for c in chunks), Decimal(0))
    result = BatchResult(
        items=results, spent=spent, left_running=sorted(runner.running), chunks=chunks
    )
    await _publish_batch(result, artifact_prefix, runner.artifacts_flow_run)
    assets = await declare_assets([r.output for r in results if r.output], dest)
    emit_batch_completed(
        result,
        creds.address,
        scope=options.key_scope,
        spend_limit=spend_limit,
        dest=dest,
        assets=assets,
    )
    counts = result.summary()
    message = (
        f"{counts['completed']} of {counts['items']} completed, {counts['failed']} failed, "
        f"{counts['refused']} refused, {counts['errors']} errors; spent {format_usd(spent)}"
    )
    if result.unspent_shares is not None:
        message += f" ({format_usd(result.unspent_shares)} of the chunks' shares unspent)"
    print(message)
    if result.failed_count and not allow_failures:
        return Failed(data=result, message=message)
    return Completed(data=result, message=message)
