"""Driving the items of a `run_prompts` batch: start, wait, harvest, report, one item at a time.

A batch item costs what it costs with the bare client (one paid start, shared polls, one
read with files, two requests per file) plus no Prefect task run, state change or log line
of its own: items are driven as coroutines inside the batch's chunks, sharing the flow run's
client and watcher. Each item has one place where it starts (`BatchRunner.start_item`),
ends (`BatchRunner.item_ended`) and is harvested (`BatchRunner.harvest_item`), so hooks
such as events and assets have one seam each.

Item keys come from the batch's key scope (``batch_id``, or the batch flow run's id) and the
item's global index, never from a chunk's flow run, so a retried or re-run batch re-attaches
to what it paid for whichever chunk (or machine) drives the item.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from decimal import Decimal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from .artifacts import BatchProgress, artifact_key, publish_output
from .client.async_client import GigaClient
from .client.watcher import RunWatcher
from .core.exceptions import (
    BudgetExceededError,
    GigaServerError,
    GigaTransportError,
    QuoteRefusedError,
)
from .core.models import Quote, Run, StartedRun
from .credentials import GigaCredentials
from .events import emit_run_finished, emit_run_started
from .flow_scope import FlowScope, payment_check
from .harvest import harvest
from .idempotency import batch_item_key
from .payments.budget import SpendBudget
from .payments.journal import ScopeLimit
from .results import BatchItemResult, ItemOutcome, PromptItem, RunOutput
from .waiting import wait_until_done

__all__ = ["BatchOptions", "BatchRunner", "active_runner", "is_refusal", "running_batch"]

HARVEST_ATTEMPTS = 3
"""Tries of an item's harvest (a read with files and the downloads)."""
HARVEST_RETRY_DELAY = 5.0
"""Seconds before the second try, growing with each try."""


def is_refusal(error: BaseException) -> bool:
    """Whether ``error`` means a limit stopped the payment (nothing was paid).

    Example:
        >>> is_refusal(ValueError("boom"))
        False
    """
    return isinstance(error, (QuoteRefusedError, BudgetExceededError))


class BatchOptions(BaseModel):
    """How the items of a batch are driven; plain data, so a chunk can run anywhere.

    Attributes:
        key_scope: What item keys are scoped to: the ``batch_id``, or the batch flow run.
        dest: Folder the outputs go to (under ``dest/<run_id>/``).
        include: Glob patterns of files to keep.
        poll_interval: Seconds between looks at the wallet's runs.
        timeout: Seconds to wait for each run.
        stream_logs: Stream every run's log records into the logs.
        item_artifacts: Publish a markdown artifact per item with its ``output.md``.
        artifact_prefix: Prefix of the artifact keys.
        spend_limit: This run's spend limit: the batch's, or a chunk run's share of it.
        batch_limit: The whole batch's spend limit, also checked in the journal against
            every start of ``key_scope`` (`ScopeLimit`): runs of one batch at once, in any
            process on the journal, share it.

    Example:
        >>> BatchOptions(key_scope="batch-1").poll_interval
        5.0
    """

    model_config = ConfigDict(frozen=True)

    key_scope: str
    dest: str = "giga-outputs"
    include: list[str] | None = None
    poll_interval: float = 5.0
    timeout: float = 3600.0
    stream_logs: bool = False
    item_artifacts: bool = False
    artifact_prefix: str = "giga-batch"
    spend_limit: Decimal | None = Field(default=None)
    batch_limit: Decimal | None = Field(default=None)


class BatchRunner:
    """The in-process state of one batch, shared by its chunks.

    Args:
        credentials: The paying wallet.
        options: How items are driven.
        scope: The flow-run scope whose client and watcher the items share.
        budget: The batch's spend budget.
        concurrency: The most items in flight at once (across chunks).
        progress: The batch's progress artifact, if any.
        artifacts_flow_run: The flow run batch artifacts belong to.
        logger: Where item errors and chunk summaries go.

    Example:
        ```python
        runner = BatchRunner(credentials, options, scope, SpendBudget(None), 10, None)
        result = await runner.run_item(0, PromptItem(prompt="Summarise Q3"))
        ```
    """

    def __init__(
        self,
        credentials: GigaCredentials,
        options: BatchOptions,
        scope: FlowScope,
        budget: SpendBudget,
        concurrency: int,
        progress: BatchProgress | None,
        artifacts_flow_run: UUID | None = None,
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
    ) -> None:
        self.credentials = credentials
        self.options = options
        self.scope = scope
        self.budget = budget
        self.progress = progress
        self.artifacts_flow_run = artifacts_flow_run
        self.logger = logger or logging.getLogger("prefect_giga.batch")
        self.running: set[str] = set()
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self._address = credentials.address
        self._shared: tuple[asyncio.AbstractEventLoop, GigaClient] | None = None
        self._watching: tuple[asyncio.AbstractEventLoop, RunWatcher] | None = None

    def _client(self) -> GigaClient:
        """The scope's client of this wallet, looked up once per event loop (not per item)."""
        loop = asyncio.get_running_loop()
        if self._shared is None or self._shared[0] is not loop:
            self._shared = (loop, self.scope.client(self.credentials))
        return self._shared[1]

    def _watcher(self) -> RunWatcher:
        """The scope's watcher of this wallet and cadence, looked up once per event loop."""
        loop = asyncio.get_running_loop()
        if self._watching is None or self._watching[0] is not loop:
            watcher = self.scope.watcher(self.credentials, self.options.poll_interval)
            self._watching = (loop, watcher)
        return self._watching[1]

    def key_for(self, index: int, item: PromptItem) -> str:
        """The idempotency key of item ``index``: the batch's key scope and the global index."""
        return batch_item_key(self._address, item, scope=self.options.key_scope, index=index)

    async def run_item(self, index: int, item: PromptItem) -> BatchItemResult:
        """Drive one item to its outcome; never raises for the item's own failure."""
        async with self._slots:
            result = await self._drive(index, item)
        await self.item_ended(result)
        return result

    async def _drive(self, index: int, item: PromptItem) -> BatchItemResult:
        try:
            started = await self.start_item(index, item)
        except Exception as exc:  # one item's failure must not sink the batch
            outcome = ItemOutcome.REFUSED if is_refusal(exc) else ItemOutcome.ERROR
            return _item(index, item, outcome, error=f"{type(exc).__name__}: {exc}")
        self.running.add(started.run_id)
        try:
            run = await self.wait_item(started)
            self.running.discard(started.run_id)
            output = await self.harvest_item(run, started)
        except Exception as exc:
            return _item(
                index,
                item,
                ItemOutcome.ERROR,
                run_id=started.run_id,
                receipt=started,
                error=f"{type(exc).__name__}: {exc}",
            )
        if output.succeeded:
            return _item(index, item, ItemOutcome.COMPLETED, started.run_id, started, output)
        error = f"run failed ({output.error_code or 'no error code'})"
        return _item(index, item, ItemOutcome.FAILED, started.run_id, started, output, error)

    async def start_item(self, index: int, item: PromptItem) -> StartedRun:
        """Pay for and start item ``index`` (or re-attach to the run it already paid for)."""
        key = self.key_for(index, item)
        budget = self.budget

        async def check(quote: Quote) -> None:
            budget.reserve(key, quote.amount)

        giga = self._client()
        limit = self.options.batch_limit
        # The batch's limit is also checked in the journal: parents or chunk runs of one
        # batch running at once (in any process on the journal) share it.
        shared = None if limit is None else ScopeLimit(self.options.key_scope, limit)
        with payment_check(check if budget.limit is not None else None):
            started = await giga.start(
                item.prompt,
                tier=item.tier,
                files=item.files or None,
                idempotency_key=key,
                scope_limit=shared,
            )
        if started.receipt is not None:
            budget.record(key, started.receipt.amount)
        emit_run_started(started, self._address, item.tier)
        return started

    async def wait_item(self, started: StartedRun) -> Run:
        """Wait for the item's run to end (through the flow run's shared watcher)."""
        options = self.options
        if options.stream_logs:
            return await wait_until_done(
                self.credentials,
                started.run_id,
                options.poll_interval,
                options.timeout,
                stream_logs=True,
                raise_on_failure=False,
                just_started=not started.reattached,
            )
        return await self._watcher().wait(
            started.run_id, timeout=options.timeout, fresh=not started.reattached
        )

    async def harvest_item(self, run: Run, started: StartedRun) -> RunOutput:
        """Read the ended run with its files and download them.

        Reads and downloads are free, so a harvest that failed on the way (a timeout, a
        5xx) is tried again, `HARVEST_ATTEMPTS` times in all, as `aharvest_run` retries.
        """
        giga = self._client()
        for attempt in range(1, HARVEST_ATTEMPTS + 1):
            try:
                full = await giga.read(run.id, include_files=True)
                output = await harvest(
                    giga,
                    full,
                    self.options.dest,
                    include=self.options.include,
                    receipt=started.receipt,
                )
                emit_run_finished(output, self._address, full)
                return output
            except (GigaTransportError, GigaServerError):
                if attempt == HARVEST_ATTEMPTS:
                    raise
                await asyncio.sleep(HARVEST_RETRY_DELAY * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    async def item_ended(self, result: BatchItemResult) -> None:
        """Report one finished item: progress (rate-limited), its artifact if asked, errors."""
        if result.error is not None and result.outcome is not ItemOutcome.COMPLETED:
            self.logger.warning(
                "Item %d: %s (%s)", result.index, result.outcome.value, result.error
            )
        if self.options.item_artifacts and result.output is not None:
            key = artifact_key(self.options.artifact_prefix, "output", result.index)
            await publish_output(result.output, key, flow_run_id=self.artifacts_flow_run)
        if self.progress is not None:
            await self.progress.advance()


def _item(
    index: int,
    item: PromptItem,
    outcome: ItemOutcome,
    run_id: str | None = None,
    receipt: StartedRun | None = None,
    output: RunOutput | None = None,
    error: str | None = None,
) -> BatchItemResult:
    return BatchItemResult(
        index=index,
        prompt=item.prompt,
        outcome=outcome,
        run_id=run_id,
        output=output,
        receipt=receipt.receipt if receipt is not None else None,
        error=error,
    )


_RUNNER: ContextVar[BatchRunner | None] = ContextVar("giga_batch_runner", default=None)


def active_runner(key_scope: str) -> BatchRunner | None:
    """The in-process runner of the batch ``key_scope``, when a chunk runs inside its batch.

    Example:
        >>> active_runner("batch-1") is None
        True
    """
    runner = _RUNNER.get()
    if runner is not None and runner.options.key_scope == key_scope:
        return runner
    return None


@contextlib.contextmanager
def running_batch(runner: BatchRunner) -> Iterator[None]:
    """Make ``runner`` the one in-process chunks of its batch use.

    Example:
        ```python
        with running_batch(runner):
            await run_prompts_chunk(...)
        ```
    """
    token = _RUNNER.set(runner)
    try:
        yield
    finally:
        _RUNNER.reset(token)
