"""Waiting for runs from Prefect tasks: one shared `RunWatcher` per wallet, server and
cadence in the flow run, with the run's logs streamed into the task's log."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from prefect.client.schemas.objects import State
from prefect.logging import get_run_logger

from .client.async_client import GigaClient
from .client.watcher import RunWatcher
from .core.exceptions import GigaError, GigaTimeoutError, RunFailedError, RunNotFoundError
from .core.models import Run, RunStatus
from .credentials import GigaCredentials
from .flow_scope import current_scope, run_payment_check

__all__ = [
    "LOG_GRACE_READS",
    "flow_client",
    "retry_waiting",
    "shared_watcher",
    "wait_until_done",
]


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


def retry_waiting(task: Any, task_run: Any, state: State[Any]) -> bool:
    """Retry a wait only when reading failed: not when the run failed, timed out or is gone."""
    error = state.data  # Prefect hands the hook a Failed state holding the exception
    return not isinstance(error, (RunFailedError, GigaTimeoutError, RunNotFoundError))


def shared_watcher(credentials: GigaCredentials, poll_interval: float) -> RunWatcher:
    """The watcher all waits of this wallet, server and cadence share in this flow run.

    N waiting runs cost one polling loop and one connection pool, not N. The flow run owns
    the watcher and its client (see `FlowScope`); outside a flow run, each call gets a
    watcher of its own that closes its client when nothing is left to wait for.

    Example:
        ```python
        run = await shared_watcher(credentials, 5.0).wait(run_id, timeout=900)
        ```
    """
    scope = current_scope()
    if scope is not None:
        return scope.watcher(credentials, poll_interval)
    return RunWatcher(
        credentials.get_client(), poll_interval=poll_interval, close_client_when_idle=True
    )


@contextlib.asynccontextmanager
async def flow_client(credentials: GigaCredentials) -> AsyncIterator[GigaClient]:
    """The flow run's shared client (left open), or a client of its own outside a flow run.

    Example:
        ```python
        async with flow_client(credentials) as giga:
            run = await giga.read(run_id)
        ```
    """
    scope = current_scope()
    if scope is not None:
        yield scope.client(credentials)
        return
    async with credentials.get_client(before_payment=run_payment_check) as giga:
        yield giga


async def wait_until_done(
    credentials: GigaCredentials,
    run_id: str,
    poll_interval: float,
    timeout: float,
    stream_logs: bool,
    raise_on_failure: bool,
    just_started: bool = False,
) -> Run:
    """Wait for ``run_id`` to end through the shared watcher, logging its progress.

    Raises:
        RunFailedError: The run failed and ``raise_on_failure`` is set.
        GigaTimeoutError: It did not end within ``timeout`` seconds.
    """
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
        async with flow_client(credentials) as giga:  # a lone watcher closed its own
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
