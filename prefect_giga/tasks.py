"""Prefect tasks to start, await and harvest Giga runs.

Each task has an async form (``astart_run``...) and a form that works from sync and async
flows alike (``start_run``...): in an async flow it returns the async task's awaitable, in
a sync flow it runs to completion.

Retry policy: reads and downloads retry (they are free); `start_run` does not retry by
default, and even when it does, every attempt of one logical start signs with the same
EIP-3009 nonce and is cached under the same key, so it never pays twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prefect import task
from prefect._internal.compatibility.async_dispatch import async_dispatch
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext
from prefect.logging import get_run_logger
from prefect.utilities.asyncutils import run_coro_as_sync

from .budget import SpendBudget
from .credentials import GigaCredentials
from .exceptions import (
    BudgetExceededError,
    PaymentRejectedError,
    QuoteRefusedError,
    RunFailedError,
    SettlementFailedError,
)
from .files import AttachmentInput
from .harvest import harvest
from .models import PaymentReceipt, Quote, Run, RunStatus, StartedRun
from .results import RunOutput
from .watcher import RunWatcher

__all__ = [
    "aharvest_run",
    "astart_run",
    "await_run",
    "harvest_run",
    "start_key",
    "start_run",
    "wait_for_run",
]

DEFAULT_POLL_INTERVAL = 5.0
DEFAULT_TIMEOUT = 3600.0


# --- idempotency -----------------------------------------------------------------------


def _files_digest(files: Sequence[AttachmentInput] | None) -> str:
    digest = hashlib.sha256()
    for item in files or ():
        digest.update(repr(item if isinstance(item, (str, Path)) else type(item)).encode())
        if isinstance(item, bytes):
            digest.update(hashlib.sha256(item).digest())
    return digest.hexdigest()[:16]


def start_key(
    address: str,
    prompt: str,
    *,
    tier: str | None = None,
    files: Sequence[AttachmentInput] | None = None,
    scope: str,
    item: str | int,
    idempotency_key: str | None = None,
) -> str:
    """The idempotency key of one logical start.

    Scoped to the wallet always; then either the caller's ``idempotency_key``, or the scope
    (the flow run, or a caller's ``batch_id``) plus the item (its position and content). A
    retried task or flow run keeps its key, so it pays nothing twice; tomorrow's scheduled
    run has a new flow run id, so it is a new job.

    Example:
        >>> a = start_key("0xabc", "hi", scope="flow-1", item=0)
        >>> a == start_key("0xABC", "hi", scope="flow-1", item=0)
        True
        >>> a == start_key("0xabc", "hi", scope="flow-1", item=1)
        False
    """
    if idempotency_key is not None:
        material = ["explicit", address.lower(), idempotency_key]
    else:
        material = [
            "item",
            address.lower(),
            scope,
            str(item),
            tier or "",
            hashlib.sha256(prompt.encode("utf-8")).hexdigest(),
            _files_digest(files),
        ]
    return "giga-" + hashlib.sha256(json.dumps(material).encode()).hexdigest()[:40]


def _scope_and_item(
    context: TaskRunContext | None,
    batch_id: str | None,
    item_index: int | None,
) -> tuple[str, str]:
    if context is None:
        return batch_id or f"adhoc-{uuid.uuid4()}", str(item_index or 0)
    task_run = context.task_run
    scope = batch_id or (str(task_run.flow_run_id) if task_run.flow_run_id else str(task_run.id))
    item = str(item_index) if item_index is not None else f"call-{task_run.dynamic_key}"
    return scope, item


def _start_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    credentials: GigaCredentials = parameters["credentials"]
    scope, item = _scope_and_item(context, parameters.get("batch_id"), parameters.get("item_index"))
    return start_key(
        credentials.address,
        parameters["prompt"],
        tier=parameters.get("tier"),
        files=parameters.get("files"),
        scope=scope,
        item=item,
        idempotency_key=parameters.get("idempotency_key"),
    )


# --- start -----------------------------------------------------------------------------


async def _start(
    credentials: GigaCredentials,
    prompt: str,
    tier: str | None,
    files: Sequence[AttachmentInput] | None,
    idempotency_key: str | None,
    batch_id: str | None,
    item_index: int | None,
    budget: SpendBudget | None,
) -> StartedRun:
    logger = get_run_logger()
    scope, item = _scope_and_item(TaskRunContext.get(), batch_id, item_index)
    key = start_key(
        credentials.address,
        prompt,
        tier=tier,
        files=files,
        scope=scope,
        item=item,
        idempotency_key=idempotency_key,
    )

    async def check_budget(quote: Quote) -> None:
        if budget is not None:
            budget.reserve(key, quote.amount)
        logger.info("Paying %s for tier %s to %s", quote.amount, quote.tier, quote.pay_to)

    async with credentials.get_client(before_payment=check_budget) as giga:
        try:
            started = await giga.start(prompt, tier=tier, files=files, idempotency_key=key)
        except (PaymentRejectedError, SettlementFailedError):
            if budget is not None:
                budget.release(key)
            raise
    receipt = started.receipt
    logger.info(
        "Started Giga run %s (%s%s)",
        started.run_id,
        started.status.value,
        f", paid {receipt.amount} USDC, tx {receipt.transaction}" if receipt else "",
    )
    return started


@task(
    name="astart-giga-run",
    description="Pay for and start a Giga agent run (never pays twice for one logical start).",
    cache_key_fn=_start_cache_key,
    persist_result=True,
    retries=0,
)
async def astart_run(
    credentials: GigaCredentials,
    prompt: str,
    tier: str | None = None,
    files: list[Any] | None = None,
    idempotency_key: str | None = None,
    batch_id: str | None = None,
    item_index: int | None = None,
    budget: SpendBudget | None = None,
) -> StartedRun:
    """Pay for and start one Giga run; returns its id and payment receipt.

    The idempotency key is scoped to the wallet, the flow run (or ``batch_id``) and the item;
    a retried task or flow run gets the recorded run back instead of paying again.

    Args:
        credentials: The paying wallet.
        prompt: What the agent should do.
        tier: The tier (default: the block's ``default_tier``).
        files: Attachments (paths, bytes, `FileAttachment`).
        idempotency_key: Your own key for this start, stable across flow runs.
        batch_id: A scope you choose instead of the flow run (re-runs by hand after a crash).
        item_index: The item's position in a batch.
        budget: A batch `SpendBudget` checked before signing.

    Example:
        ```python
        @flow
        async def nightly():
            credentials = await GigaCredentials.load("BLOCK_NAME")
            started = await astart_run(credentials, "Summarise today's tickets")
            run = await await_run(credentials, started.run_id)
        ```
    """
    return await _start(
        credentials, prompt, tier, files, idempotency_key, batch_id, item_index, budget
    )


@async_dispatch(astart_run)
@task(
    name="start-giga-run",
    description="Pay for and start a Giga agent run (never pays twice for one logical start).",
    cache_key_fn=_start_cache_key,
    persist_result=True,
    retries=0,
)
def start_run(
    credentials: GigaCredentials,
    prompt: str,
    tier: str | None = None,
    files: list[Any] | None = None,
    idempotency_key: str | None = None,
    batch_id: str | None = None,
    item_index: int | None = None,
    budget: SpendBudget | None = None,
) -> StartedRun:
    """`astart_run` for sync and async flows alike (awaitable in async flows).

    Example:
        ```python
        @flow
        def nightly():
            credentials = GigaCredentials.load("BLOCK_NAME")
            started = start_run(credentials, "Summarise today's tickets")
        ```
    """
    result: StartedRun = run_coro_as_sync(
        _start(credentials, prompt, tier, files, idempotency_key, batch_id, item_index, budget)
    )
    return result


# --- wait ------------------------------------------------------------------------------


def _describe_record(record: Any) -> str:
    if isinstance(record, dict):
        kind = record.get("type") or record.get("role") or "record"
        text = record.get("text") or record.get("message") or record.get("content") or ""
        if not isinstance(text, str):
            text = json.dumps(text)[:300]
        return f"[{kind}] {text[:500]}"
    return str(record)[:500]


_WATCHERS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[str, str, float], RunWatcher]
] = weakref.WeakKeyDictionary()


def shared_watcher(credentials: GigaCredentials, poll_interval: float) -> RunWatcher:
    """The watcher all waits of this wallet, server and cadence share on this event loop.

    N waiting runs cost one polling loop and one connection pool, not N. The watcher stops
    and closes its client when nothing is left to wait for.
    """
    loop = asyncio.get_running_loop()
    watchers = _WATCHERS.setdefault(loop, {})
    key = (credentials.address, credentials.base_url, float(poll_interval))
    watcher = watchers.get(key)
    if watcher is None:

        def forget(idle: RunWatcher) -> None:
            if watchers.get(key) is idle:
                del watchers[key]

        watcher = RunWatcher(
            credentials.get_client(),
            poll_interval=poll_interval,
            on_idle=forget,
            close_client_when_idle=True,
        )
        watchers[key] = watcher
    return watcher


async def _wait(
    credentials: GigaCredentials,
    run_id: str,
    poll_interval: float,
    timeout: float,
    stream_logs: bool,
    raise_on_failure: bool,
    just_started: bool = False,
) -> Run:
    logger = get_run_logger()
    seen_records = 0
    status: RunStatus | None = None

    async def stream(run: Run) -> None:
        nonlocal seen_records, status
        logger.debug("Polled Giga run %s: %s", run_id, run.status.value)
        if run.status is not status:
            logger.info("Giga run %s is %s", run_id, run.status.value)
            status = run.status
        if run.logs is not None:
            for record in run.logs.records[seen_records:]:
                logger.info("Giga run %s: %s", run_id, _describe_record(record))
            seen_records = max(seen_records, len(run.logs.records))

    watcher = shared_watcher(credentials, poll_interval)
    try:
        run = await watcher.wait(
            run_id, timeout=timeout, on_read=stream if stream_logs else None, fresh=just_started
        )
    except asyncio.CancelledError:
        logger.warning(
            "Stopped waiting for Giga run %s (cancelled); the run keeps going at Giga, "
            "which has no cancel endpoint",
            run_id,
        )
        raise
    if run.status is not status:
        logger.info("Giga run %s is %s", run_id, run.status.value)
    if run.status is RunStatus.FAILED and raise_on_failure:
        raise RunFailedError(
            f"Giga run {run_id} failed ({run.error_code or 'no error code'})",
            run_id=run_id,
            error_code=run.error_code,
        )
    return run


@task(
    name="await-giga-run",
    description="Wait for a Giga run to complete or fail, streaming its logs.",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=5,
)
async def await_run(
    credentials: GigaCredentials,
    run_id: str,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    timeout: float = DEFAULT_TIMEOUT,
    stream_logs: bool = True,
    raise_on_failure: bool = True,
    just_started: bool = False,
) -> Run:
    """Poll a run until it is ``completed`` or ``failed``, against a monotonic deadline.

    Many waits share one `RunWatcher` per wallet, server and cadence on the event loop: one
    polling loop over ``/api/list`` and one connection pool, however many runs are waiting.
    With ``stream_logs``, the run is also read every poll and new log records go to the
    Prefect run logger as they arrive (``null`` logs are normal); each poll is logged at
    DEBUG and each state change at INFO. ``just_started`` (the run was started moments ago by
    this wallet) saves the first read.

    Raises:
        RunFailedError: The run failed (unless ``raise_on_failure=False``).
        GigaTimeoutError: The run did not finish within ``timeout`` seconds.

    Example:
        ```python
        run = await await_run(credentials, started.run_id, poll_interval=5, timeout=900)
        ```
    """
    return await _wait(
        credentials, run_id, poll_interval, timeout, stream_logs, raise_on_failure, just_started
    )


@async_dispatch(await_run)
@task(
    name="wait-for-giga-run",
    description="Wait for a Giga run to complete or fail, streaming its logs.",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=5,
)
def wait_for_run(
    credentials: GigaCredentials,
    run_id: str,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    timeout: float = DEFAULT_TIMEOUT,
    stream_logs: bool = True,
    raise_on_failure: bool = True,
    just_started: bool = False,
) -> Run:
    """`await_run` for sync and async flows alike (awaitable in async flows).

    Example:
        ```python
        run = wait_for_run(credentials, started.run_id, timeout=900)
        ```
    """
    result: Run = run_coro_as_sync(
        _wait(
            credentials,
            run_id,
            poll_interval,
            timeout,
            stream_logs,
            raise_on_failure,
            just_started,
        )
    )
    return result


# --- harvest ---------------------------------------------------------------------------


async def _harvest(
    credentials: GigaCredentials,
    run_id: str,
    dest: str,
    include: list[str] | None,
    filesystem: Any | None,
    receipt: PaymentReceipt | None,
    max_file_bytes: int | None,
) -> RunOutput:
    logger = get_run_logger()
    async with credentials.get_client() as giga:
        run = await giga.read(run_id, include_files=True)
        output = await harvest(
            giga,
            run,
            dest,
            include=include,
            filesystem=filesystem,
            receipt=receipt,
            max_file_bytes=max_file_bytes,
        )
    logger.info(
        "Harvested %d file(s), %d bytes, from Giga run %s",
        len(output.files),
        sum(f.size for f in output.files),
        run_id,
    )
    return output


@task(
    name="aharvest-giga-run",
    description="Download a finished Giga run's files (streaming, atomic).",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=5,
)
async def aharvest_run(
    credentials: GigaCredentials,
    run_id: str,
    dest: str = "giga-outputs",
    include: list[str] | None = None,
    filesystem: Any | None = None,
    receipt: PaymentReceipt | None = None,
    max_file_bytes: int | None = None,
) -> RunOutput:
    """Download a finished run's files and return a typed `RunOutput`.

    Files land under ``dest/<run_id>/`` (or in ``filesystem``, a Prefect filesystem block).

    Args:
        credentials: The wallet that paid for the run.
        run_id: The run.
        dest: A local folder, or the path inside ``filesystem``.
        include: Glob patterns of workspace paths to keep (default: every file).
        filesystem: `LocalFileSystem`, `RemoteFileSystem`, or another writable block.
        receipt: The run's payment receipt, carried into the output.
        max_file_bytes: Refuse files above this size.

    Example:
        ```python
        output = await aharvest_run(credentials, run_id, dest="reports", include=["*.md"])
        print(output.output_markdown)
        ```
    """
    return await _harvest(credentials, run_id, dest, include, filesystem, receipt, max_file_bytes)


@async_dispatch(aharvest_run)
@task(
    name="harvest-giga-run",
    description="Download a finished Giga run's files (streaming, atomic).",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=5,
)
def harvest_run(
    credentials: GigaCredentials,
    run_id: str,
    dest: str = "giga-outputs",
    include: list[str] | None = None,
    filesystem: Any | None = None,
    receipt: PaymentReceipt | None = None,
    max_file_bytes: int | None = None,
) -> RunOutput:
    """`aharvest_run` for sync and async flows alike (awaitable in async flows).

    Example:
        ```python
        output = harvest_run(credentials, run.id, dest="reports")
        ```
    """
    result: RunOutput = run_coro_as_sync(
        _harvest(credentials, run_id, dest, include, filesystem, receipt, max_file_bytes)
    )
    return result


def is_refusal(error: BaseException) -> bool:
    """Whether ``error`` means a limit stopped the payment (nothing was paid)."""
    return isinstance(error, (QuoteRefusedError, BudgetExceededError))
