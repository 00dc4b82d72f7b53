"""Spreading a batch over workers: each chunk a flow run of a deployment, on a work pool.

`run_prompts` with ``chunk_deployment="giga-run-prompts-chunk/<deployment>"`` runs each chunk
of the batch (`plan_chunks`) as a flow run of that deployment (`chunk_flow`: the chunk flow
with its result persisted) instead of an in-process sub-flow, so the workers of the
deployment's pool, on one machine or many, share the batch. The parent plans, dispatches,
waits and reports; it pays nothing itself.

The spend limit holds across chunks by construction: before a chunk run is created the
parent gives it a share of ``spend_limit`` as its own limit, a parameter of that flow run,
fixed for its life (`prefect_giga.shares.allocate_shares`).

A chunk counts what its items already paid against its share before it pays anything
(`count_earlier_payments`), and its item keys are the batch's (``batch_id`` and the global
index), so a chunk run that is run again re-attaches to its paid runs through the journal.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import anyio
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import arun_deployment
from prefect.events.filters import (
    EventFilter,
    EventNameFilter,
    EventOccurredFilter,
    EventRelatedFilter,
)
from prefect.states import Cancelling, Scheduled

from .artifacts import BatchProgress
from .batch import BatchOptions
from .cancellation import INTERRUPTIONS
from .chunks import plan_chunks, run_prompts_chunk
from .credentials import GigaCredentials
from .payments.journal import JournalEntry
from .results import BatchItemResult, ChunkShare, ItemOutcome, PromptItem
from .shares import PlannedChunk, allocate_shares, paid_items

__all__ = [
    "CHUNK_RERUNS",
    "batch_tag",
    "chunk_flow",
    "spread_batch",
]

CHUNK_RERUNS = 2
"""Times the parent puts a chunk run that crashed or failed back on its pool."""
PAGE = 200
"""Flow runs read per API call."""
SETTLE_SECONDS = 60.0
"""Longest wait, after a chunk run ended unfinished, for its worker to be done with it."""

chunk_flow = run_prompts_chunk.with_options(persist_result=True, result_serializer="json")
"""The deployable chunk flow (entry point ``prefect_giga.spread:chunk_flow``).

The flow `run_prompts_chunk` with its result persisted (as JSON, in the default result
storage), so the parent reads the chunk's item results back. Across machines that storage
must be one both reach (``PREFECT_DEFAULT_RESULT_STORAGE_BLOCK``).
"""

_logger = logging.getLogger(__name__)


def batch_tag(batch_id: str) -> str:
    """The tag of every chunk flow run of the batch ``batch_id``.

    Example:
        >>> batch_tag("nightly-2026-12-03")
        'giga-batch:nightly-2026-12-03'
    """
    return f"giga-batch:{batch_id}"


def _chunk_key(batch_id: str, index: int, parameters: dict[str, Any]) -> str:
    """The chunk run's idempotency key: the batch, the chunk, and what it would run."""
    text = json.dumps(parameters, sort_keys=True, default=str)
    return f"{batch_id}-chunk-{index}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def _share_of(run: FlowRun) -> Decimal | None:
    options = (run.parameters or {}).get("options") or {}
    limit = options.get("spend_limit") if isinstance(options, dict) else None
    return None if limit is None else Decimal(str(limit))


def _state(run: FlowRun) -> str:
    return (run.state.name or run.state.type.value) if run.state is not None else "unknown"


class _Spread:
    """One parent's dispatch of a batch to chunk runs, and its wait for them."""

    def __init__(
        self,
        deployment: str,
        credentials_block: str,
        credentials: GigaCredentials,
        batch: list[PromptItem],
        options: BatchOptions,
        batch_id: str,
        chunk_size: int,
        max_concurrency: int,
        progress: BatchProgress | None,
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger],
    ) -> None:
        self.deployment = deployment
        self.block = credentials_block
        self.credentials = credentials
        self.batch = batch
        self.options = options
        self.batch_id = batch_id
        self.plan = list(plan_chunks(len(batch), chunk_size))
        self.concurrency = max(1, min(max_concurrency, chunk_size))
        self.progress = progress
        self.logger = logger
        self.poll = min(max(options.poll_interval, 0.5), 10.0)
        self.runs: dict[int, FlowRun] = {}
        self.reruns: dict[int, int] = {}
        self.results: dict[int, list[BatchItemResult]] = {}
        self.lost: dict[int, str] = {}
        self.paid: dict[int, JournalEntry] = {}
        self.paid_now: dict[int, JournalEntry] = {}
        self.revive: set[int] = set()
        self.ended_at: dict[UUID, float] = {}

    def _parameters(self, first: int, stop: int, limit: Decimal | None) -> dict[str, Any]:
        options = self.options.model_copy(update={"spend_limit": limit})
        return {
            "credentials": self.block,
            "items": [item.model_dump(mode="json") for item in self.batch[first:stop]],
            "first_index": first,
            "options": options.model_dump(mode="json"),
            "publish_summary": True,
            "max_concurrency": self.concurrency,
        }

    async def run(self) -> tuple[list[BatchItemResult], list[ChunkShare]]:
        scope = self.options.key_scope
        self.paid = await asyncio.to_thread(paid_items, self.credentials, self.batch, scope)
        async with get_client() as client:
            deployment = await client.read_deployment_by_name(self.deployment)
            flow = await client.read_flow(deployment.flow_id)
            if flow.name != chunk_flow.name:  # another flow would not drive these items
                raise ValueError(
                    f"Deployment {self.deployment} runs the flow {flow.name!r}, not the chunk "
                    f"flow {chunk_flow.name!r} (entry point prefect_giga.spread.chunk_flow)"
                )
            earlier = await _batch_runs(client, deployment.id, batch_tag(self.batch_id))
            try:
                await self._dispatch(client, earlier)
                await self._wait(client)
            except INTERRUPTIONS:
                await _cancel(self._unfinished(), self.logger)
                raise
        if self.lost:  # what the lost chunks paid, as the journal knows it now
            self.paid_now = await asyncio.to_thread(paid_items, self.credentials, self.batch, scope)
        return self._outcome()

    async def _dispatch(self, client: PrefectClient, earlier: list[FlowRun]) -> None:
        by_key = {run.idempotency_key: run for run in earlier if run.idempotency_key}
        planned: list[PlannedChunk] = []
        for index, (first, stop) in enumerate(self.plan):
            parameters = self._parameters(first, stop, self.options.spend_limit)
            key = _chunk_key(self.batch_id, index, parameters)
            run = by_key.get(key)
            paid = [self.paid[i] for i in range(first, stop) if i in self.paid]
            planned.append(
                PlannedChunk(
                    index,
                    first,
                    stop,
                    key,
                    paid=sum((e.amount for e in paid), Decimal(0)),
                    unpaid=stop - first - len(paid),
                    existing=run is not None,
                    share=_share_of(run) if run is not None else None,
                )
            )
            if run is not None:
                self.runs[index] = run
        keys = {c.key for c in planned}
        outstanding = Decimal(0)
        for run in earlier:
            if run.idempotency_key in keys or (run.state is not None and run.state.is_final()):
                continue
            share = _share_of(run)
            if share is None and self.options.spend_limit is not None:
                raise ValueError(
                    f"Chunk run {run.name} of batch {self.batch_id} (another plan) is still "
                    "going with no spend limit; let it finish or cancel it first"
                )
            outstanding += share or Decimal(0)
        limit = self.options.spend_limit
        for chunk, share in zip(planned, allocate_shares(limit, planned, outstanding), strict=True):
            if chunk.index in self.runs:  # ended unfinished: `_wait` runs it again, even
                self.revive.add(chunk.index)  # if it was cancelled with an earlier attempt
                continue
            self.runs[chunk.index] = await arun_deployment(
                self.deployment,
                client=client,
                parameters=self._parameters(chunk.first, chunk.stop, share),
                flow_run_name=f"{self.batch_id}-chunk-{chunk.index}",
                timeout=0,
                tags=[batch_tag(self.batch_id)],
                idempotency_key=chunk.key,
            )
        self.logger.info(
            "Batch %s: %d chunk run(s) of %s (%d existed already); spend shares: %s",
            self.batch_id,
            len(planned),
            self.deployment,
            sum(1 for c in planned if c.existing),
            ", ".join(str(_share_of(self.runs[c.index])) for c in planned) or "none",
        )

    async def _rerun(self, client: PrefectClient, index: int, why: str) -> None:
        run = self.runs[index]
        self.logger.warning(
            "Chunk run %s %s; running it again: it re-attaches to what it paid", run.name, why
        )
        await client.set_flow_run_state(
            run.id,
            Scheduled(name="AwaitingRetry", message=f"Run again by batch {self.batch_id}"),
            force=True,
        )

    def _unfinished(self) -> list[UUID]:
        done = set(self.results) | set(self.lost)
        return [run.id for index, run in self.runs.items() if index not in done]

    async def _wait(self, client: PrefectClient) -> None:
        index_of = {run.id: index for index, run in self.runs.items()}
        while pending := self._unfinished():
            for start in range(0, len(pending), PAGE):
                ids = pending[start : start + PAGE]
                page = await client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)), limit=PAGE
                )
                for run in page:
                    if run.state is not None and run.state.is_final():
                        await self._ended(client, index_of[run.id], run)
            if self._unfinished():
                await asyncio.sleep(self.poll)

    async def _ended(self, client: PrefectClient, index: int, run: FlowRun) -> None:
        self.runs[index] = run
        first, stop = self.plan[index]
        assert run.state is not None
        why = f"ended {_state(run)}"
        if run.state.is_completed():
            try:
                results = await run.state.aresult(retry_result_failure=False)
                if [r.index for r in results] != list(range(first, stop)):
                    raise ValueError("its results are not its items")
            except Exception as exc:  # unreadable results: the re-run re-attaches
                why = f"results unreadable: {type(exc).__name__}: {exc}"
            else:
                self.results[index] = list(results)
                for _ in results:
                    if self.progress is not None:
                        await self.progress.advance()
                return
        revive = index in self.revive or not run.state.is_cancelled()
        if revive and self.reruns.get(index, 0) < CHUNK_RERUNS:
            if not await self._settled(client, run):
                return  # its worker may still report on it: look again at the next poll
            self.revive.discard(index)
            self.reruns[index] = self.reruns.get(index, 0) + 1
            await self._rerun(client, index, why)
            return
        self.lost[index] = why
        self.logger.warning("Chunk run %s %s; its items are reported as errors", run.name, why)
        for _ in range(first, stop):
            if self.progress is not None:
                await self.progress.advance()

    async def _settled(self, client: PrefectClient, run: FlowRun) -> bool:
        """Whether the worker that ran the chunk's ended attempt is done reporting on it.

        A process that dies is reported Crashed twice (by the runner, then by its worker a
        little later): putting the run back on the pool in between would let the late
        report crash the next attempt. The worker's ``prefect.worker.executed-flow-run``
        event comes after its report; without one, `SETTLE_SECONDS` after the end will do.
        """
        assert run.state is not None
        first_seen = self.ended_at.setdefault(run.state.id, time.monotonic())
        if time.monotonic() - first_seen > SETTLE_SECONDS:
            return True
        since = run.state.timestamp - timedelta(seconds=1)
        page = await client.read_events(
            EventFilter(
                occurred=EventOccurredFilter(since=since, until=since + timedelta(days=1)),
                event=EventNameFilter(name=["prefect.worker.executed-flow-run"]),
                related=EventRelatedFilter(id=[f"prefect.flow-run.{run.id}"]),
            ),
            limit=1,
        )
        return bool(page.events)

    def _lost_items(self, index: int) -> list[BatchItemResult]:
        first, stop = self.plan[index]
        run = self.runs[index]
        error = (
            f"chunk run {run.name} {self.lost[index]}; run the batch again with "
            f"batch_id={self.batch_id!r} to re-attach to what it paid"
        )
        items = []
        for i in range(first, stop):
            entry = self.paid_now.get(i)
            items.append(
                BatchItemResult(
                    index=i,
                    prompt=self.batch[i].prompt,
                    outcome=ItemOutcome.ERROR,
                    run_id=entry.run_id if entry is not None else None,
                    error=error,
                )
            )
        return items

    def _outcome(self) -> tuple[list[BatchItemResult], list[ChunkShare]]:
        results: list[BatchItemResult] = []
        chunks: list[ChunkShare] = []
        for index, (first, stop) in enumerate(self.plan):
            run = self.runs[index]
            if index in self.results:
                items = self.results[index]
                spent = sum((r.receipt.amount for r in items if r.receipt), Decimal(0))
            else:
                items = self._lost_items(index)
                spent = sum(
                    (self.paid_now[i].amount for i in range(first, stop) if i in self.paid_now),
                    Decimal(0),
                )
            results += items
            chunks.append(
                ChunkShare(
                    index=index,
                    first=first,
                    stop=stop,
                    flow_run_id=str(run.id),
                    state=_state(run),
                    share=_share_of(run),
                    spent=spent,
                )
            )
        return results, chunks


async def _batch_runs(client: PrefectClient, deployment_id: UUID, tag: str) -> list[FlowRun]:
    """Every flow run of the chunk deployment tagged with the batch."""
    runs: list[FlowRun] = []
    while True:
        page = await client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[tag])),
            limit=PAGE,
            offset=len(runs),
        )
        runs += page
        if len(page) < PAGE:
            return runs


async def _cancel(
    flow_run_ids: list[UUID], logger: logging.Logger | logging.LoggerAdapter[logging.Logger]
) -> None:
    """Cancel the chunk runs still going: the batch was cancelled or timed out."""
    with anyio.CancelScope(shield=True), anyio.move_on_after(15):
        try:
            async with get_client() as client:
                for flow_run_id in flow_run_ids:
                    await client.set_flow_run_state(flow_run_id, Cancelling())
            logger.warning("Batch interrupted; cancelled %d chunk run(s)", len(flow_run_ids))
        except Exception as exc:  # the interruption goes on whatever this does
            logger.warning("Could not cancel the batch's chunk runs: %s", exc)


async def spread_batch(
    deployment: str,
    credentials_block: str,
    credentials: GigaCredentials,
    batch: list[PromptItem],
    options: BatchOptions,
    *,
    batch_id: str,
    chunk_size: int,
    max_concurrency: int,
    progress: BatchProgress | None = None,
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
) -> tuple[list[BatchItemResult], list[ChunkShare]]:
    """Run the batch's chunks as flow runs of ``deployment`` and gather their results.

    Each chunk run gets its share of ``options.spend_limit`` (`allocate_shares`) and the
    idempotency key ``<batch_id>-chunk-<i>-<digest of its parameters>``: a retried parent
    finds the runs it created instead of creating (and paying for) them again. A chunk run
    that crashed or failed is put back on its pool up to `CHUNK_RERUNS` times; one that is
    still lost is reported item by item as errors (with the run the journal knows).

    Example:
        ```python
        results, chunks = await spread_batch(
            "giga-run-prompts-chunk/giga-chunks", "giga-wallet", credentials, items,
            BatchOptions(key_scope="orders-2026-12-03", spend_limit=Decimal("40")),
            batch_id="orders-2026-12-03", chunk_size=10, max_concurrency=10,
        )
        ```
    """
    spread = _Spread(
        deployment,
        credentials_block,
        credentials,
        batch,
        options,
        batch_id,
        chunk_size,
        max_concurrency,
        progress,
        logger or _logger,
    )
    return await spread.run()
