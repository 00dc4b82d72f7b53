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
import threading
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from prefect import task
from prefect._internal.compatibility.async_dispatch import async_dispatch
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State
from prefect.context import FlowRunContext, TaskRunContext
from prefect.logging import get_run_logger
from prefect.utilities.asyncutils import run_coro_as_sync

from .client.async_client import GigaClient
from .client.files import AttachmentInput
from .client.watcher import RunWatcher
from .core.exceptions import (
    BudgetExceededError,
    GigaError,
    GigaTimeoutError,
    QuoteRefusedError,
    RunFailedError,
    RunNotFoundError,
)
from .core.models import PaymentReceipt, Quote, Run, RunStatus, StartedRun
from .credentials import GigaCredentials
from .harvest import harvest
from .payments.budget import SpendBudget
from .results import RunOutput

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


_KEYS_BY_TASK_RUN: OrderedDict[str, str] = OrderedDict()
_OCCURRENCES: dict[tuple[str, ...], int] = {}
_KEYS_LOCK = threading.Lock()
_REMEMBERED_KEYS = 100_000


def _logical_key(
    context: TaskRunContext | None,
    credentials: GigaCredentials,
    prompt: str,
    tier: str | None,
    files: Sequence[AttachmentInput] | None,
    idempotency_key: str | None,
    batch_id: str | None,
    item_index: int | None,
) -> str:
    """The start's idempotency key, computed once per task run (its retries share it).

    Without ``item_index`` the item is the call's content plus its occurrence: the n-th
    identical start of a flow-run attempt. A retried flow run makes the same calls again, so
    its n-th identical call gets the same key; two identical prompts are still two items.
    """
    if context is None:
        return start_key(
            credentials.address,
            prompt,
            tier=tier,
            files=files,
            scope=batch_id or f"adhoc-{uuid.uuid4()}",
            item=item_index or 0,
            idempotency_key=idempotency_key,
        )
    task_run = context.task_run
    with _KEYS_LOCK:
        known = _KEYS_BY_TASK_RUN.get(str(task_run.id))
    if known is not None:
        return known
    flow_run_id = str(task_run.flow_run_id or task_run.id)
    scope = batch_id or flow_run_id
    if item_index is not None:
        item = str(item_index)
    else:
        flow_context = FlowRunContext.get()
        attempt = flow_context.flow_run.run_count if flow_context and flow_context.flow_run else 0
        content = start_key(credentials.address, prompt, tier=tier, files=files, scope="", item="")
        counter = (flow_run_id, str(attempt), scope, content)
        with _KEYS_LOCK:
            occurrence = _OCCURRENCES.get(counter, 0)
            _OCCURRENCES[counter] = occurrence + 1
        item = f"occurrence-{occurrence}"
    key = start_key(
        credentials.address,
        prompt,
        tier=tier,
        files=files,
        scope=scope,
        item=item,
        idempotency_key=idempotency_key,
    )
    with _KEYS_LOCK:
        _KEYS_BY_TASK_RUN[str(task_run.id)] = key
        while len(_KEYS_BY_TASK_RUN) > _REMEMBERED_KEYS:
            _KEYS_BY_TASK_RUN.popitem(last=False)
    return key


def _start_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    return _logical_key(
        context,
        parameters["credentials"],
        parameters["prompt"],
        parameters.get("tier"),
        parameters.get("files"),
        parameters.get("idempotency_key"),
        parameters.get("batch_id"),
        parameters.get("item_index"),
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
    key = _logical_key(
        TaskRunContext.get(),
        credentials,
        prompt,
        tier,
        files,
        idempotency_key,
        batch_id,
        item_index,
    )

    async def check_budget(quote: Quote) -> None:
        if budget is not None:
            budget.reserve(key, quote.amount)
        logger.info("Paying %s for tier %s to %s", quote.amount, quote.tier, quote.pay_to)

    # A refused payment stays counted in the budget: the server holds a signed
    # authorization that it could still settle until it expires.
    async with credentials.get_client(before_payment=check_budget) as giga:
        started = await giga.start(prompt, tier=tier, files=files, idempotency_key=key)
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


LOG_GRACE_READS = 10
"""At most this many reads after a run ended, for log records still being ingested."""


async def _drain_logs(
    client: GigaClient,
    run_id: str,
    stream: Callable[[Run], Awaitable[None]],
    poll_interval: float,
) -> None:
    """Stream the records that arrive after the run ended (logs lag behind status).

    Reads until the logs are present and their record count held still between two reads,
    at most `LOG_GRACE_READS` times, a quarter of a second to a second apart.
    """
    spacing = min(max(poll_interval, 0.25), 1.0)
    previous = -1
    for attempt in range(LOG_GRACE_READS):
        try:
            run = await client.read(run_id)
        except GigaError:
            return
        await stream(run)
        count = len(run.logs.records) if run.logs is not None else -1
        if run.logs is not None and count == previous:
            return
        previous = count
        if attempt + 1 < LOG_GRACE_READS:
            await asyncio.sleep(spacing)


def _retry_waiting(task: Any, task_run: Any, state: State[Any]) -> bool:
    """Retry a wait only when reading failed: not when the run failed, timed out or is gone."""
    error = state.data  # Prefect hands the hook a Failed state holding the exception
    return not isinstance(error, (RunFailedError, GigaTimeoutError, RunNotFoundError))


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
    if stream_logs:
        async with credentials.get_client() as giga:  # the watcher may have closed its own
            await _drain_logs(giga, run_id, stream, poll_interval)
    elif run.status is not status:
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
    retry_condition_fn=_retry_waiting,
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
    retry_condition_fn=_retry_waiting,
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
