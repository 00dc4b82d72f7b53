"""Prefect tasks to resume a completed or failed Giga run (experimental): ``aresume_run`` and
``resume_run``, exported from `prefect_giga.tasks`.

Paid and money-safe like ``start_run``: the idempotency key is the start's logical key with
the run id in its material (so a resume never shares a start's key, and the client keeps
resume keys in their own journal namespace too); a retried task re-attaches instead of
paying again. Giga does not publish its resume body: see `GigaClient.resume`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prefect import task
from prefect._internal.compatibility.async_dispatch import async_dispatch
from prefect.context import TaskRunContext
from prefect.logging import get_run_logger
from prefect.utilities.asyncutils import run_coro_as_sync

from .client.files import AttachmentInput
from .core.models import StartedRun
from .credentials import GigaCredentials
from .idempotency import logical_key

__all__ = ["aresume_run", "resume_cache_key", "resume_run"]


def _material(run_id: str, prompt: str) -> str:
    """What identifies a resume's content: the run and the new prompt."""
    return f"resume {run_id}\n{prompt}"


def resume_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """The Prefect cache key of a resume task: its logical key (so a retry hits the cache).

    Example:
        ```python
        @task(cache_key_fn=resume_cache_key)
        async def my_resume(credentials, run_id, prompt): ...
        ```
    """
    return logical_key(
        context,
        parameters["credentials"],
        _material(parameters["run_id"], parameters["prompt"]),
        parameters.get("tier"),
        parameters.get("files"),
        parameters.get("idempotency_key"),
        parameters.get("batch_id"),
        None,
    )


async def _resume(
    credentials: GigaCredentials,
    run_id: str,
    prompt: str,
    tier: str | None,
    files: Sequence[AttachmentInput] | None,
    idempotency_key: str | None,
    batch_id: str | None,
) -> StartedRun:
    logger = get_run_logger()
    key = logical_key(
        TaskRunContext.get(),
        credentials,
        _material(run_id, prompt),
        tier,
        files,
        idempotency_key,
        batch_id,
        None,
    )
    async with credentials.get_client() as giga:
        resumed = await giga.resume(run_id, prompt, tier=tier, files=files, idempotency_key=key)
    receipt = resumed.receipt
    logger.info(
        "Resumed Giga run %s as %s%s",
        run_id,
        resumed.run_id,
        f" (paid {receipt.amount} USDC, tx {receipt.transaction})" if receipt else "",
    )
    return resumed


@task(
    name="aresume-giga-run",
    description="Pay to resume a completed or failed Giga run (experimental; never pays twice).",
    cache_key_fn=resume_cache_key,
    persist_result=True,
    retries=0,
)
async def aresume_run(
    credentials: GigaCredentials,
    run_id: str,
    prompt: str,
    tier: str | None = None,
    files: list[Any] | None = None,
    idempotency_key: str | None = None,
    batch_id: str | None = None,
) -> StartedRun:
    """Pay to resume a completed or failed run with a new prompt (experimental).

    Unverified against the live service: Giga does not publish its resume body, so a server
    that takes another body is refused before anything is signed (`ResumeBodyRefusedError`).

    Args:
        credentials: The paying wallet (the one that paid for the run).
        run_id: The run to resume.
        prompt: What the agent should do next.
        tier: The tier (default: the block's ``default_tier``, else the server's default).
        files: Attachments (paths, bytes, `FileAttachment`).
        idempotency_key: Your own key for this resume, stable across flow runs.
        batch_id: A scope you choose instead of the flow run.

    Example:
        ```python
        @flow
        async def follow_up(run_id: str):
            credentials = await GigaCredentials.load("BLOCK_NAME")
            resumed = await aresume_run(credentials, run_id, "Now add tests")
        ```
    """
    return await _resume(credentials, run_id, prompt, tier, files, idempotency_key, batch_id)


@async_dispatch(aresume_run)
@task(
    name="resume-giga-run",
    description="Pay to resume a completed or failed Giga run (experimental; never pays twice).",
    cache_key_fn=resume_cache_key,
    persist_result=True,
    retries=0,
)
def resume_run(
    credentials: GigaCredentials,
    run_id: str,
    prompt: str,
    tier: str | None = None,
    files: list[Any] | None = None,
    idempotency_key: str | None = None,
    batch_id: str | None = None,
) -> StartedRun:
    """`aresume_run` for sync and async flows alike (awaitable in async flows).

    Example:
        ```python
        @flow
        def follow_up(run_id: str):
            credentials = GigaCredentials.load("BLOCK_NAME")
            resumed = resume_run(credentials, run_id, "Now add tests")
        ```
    """
    result: StartedRun = run_coro_as_sync(
        _resume(credentials, run_id, prompt, tier, files, idempotency_key, batch_id)
    )
    return result
