"""Prefect tasks to start, await and harvest Giga runs.

Each task has an async form (``astart_run``...) and a form that works from sync and async
flows alike (``start_run``...): in an async flow it returns the async task's awaitable, in
a sync flow it runs to completion.

Retry policy: reads and downloads retry (they are free); `start_run` does not retry by
default, and even when it does, every attempt of one logical start signs with the same
EIP-3009 nonce and is cached under the same key, so it never pays twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prefect import task
from prefect._internal.compatibility.async_dispatch import async_dispatch
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext
from prefect.logging import get_run_logger
from prefect.utilities.asyncutils import run_coro_as_sync

from .batch import is_refusal
from .client.files import AttachmentInput
from .core.models import PaymentReceipt, Quote, Run, StartedRun
from .credentials import GigaCredentials
from .events import emit_run_finished, emit_run_started
from .flow_scope import payment_check
from .harvest import harvest
from .idempotency import logical_key, start_cache_key, start_key
from .payments.budget import SpendBudget
from .results import RunOutput
from .resume_tasks import aresume_run, resume_run
from .waiting import flow_client, retry_waiting, wait_until_done

__all__ = [
    "aharvest_run",
    "aresume_run",
    "astart_run",
    "await_run",
    "harvest_run",
    "is_refusal",
    "resume_run",
    "start_key",
    "start_run",
    "wait_for_run",
]

DEFAULT_POLL_INTERVAL = 5.0
DEFAULT_TIMEOUT = 3600.0


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
    key = logical_key(
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
    async with flow_client(credentials) as giga:
        with payment_check(check_budget):
            started = await giga.start(prompt, tier=tier, files=files, idempotency_key=key)
    receipt = started.receipt
    logger.info(
        "Started Giga run %s (%s%s)",
        started.run_id,
        started.status.value,
        f", paid {receipt.amount} USDC, tx {receipt.transaction}" if receipt else "",
    )
    emit_run_started(started, credentials.address, tier)
    return started


@task(
    name="astart-giga-run",
    description="Pay for and start a Giga agent run (never pays twice for one logical start).",
    cache_key_fn=start_cache_key,
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
    cache_key_fn=start_cache_key,
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


@task(
    name="await-giga-run",
    description="Wait for a Giga run to complete or fail, streaming its logs.",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=retry_waiting,
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
    return await wait_until_done(
        credentials, run_id, poll_interval, timeout, stream_logs, raise_on_failure, just_started
    )


@async_dispatch(await_run)
@task(
    name="wait-for-giga-run",
    description="Wait for a Giga run to complete or fail, streaming its logs.",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=retry_waiting,
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
        wait_until_done(
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
    async with flow_client(credentials) as giga:
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
    emit_run_finished(output, credentials.address, run)
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
