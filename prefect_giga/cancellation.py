"""What a cancelled or timed-out batch leaves behind, rebuilt from the payment journal.

Giga has no cancel endpoint: a run keeps going after the flow run waiting for it stops. When
a batch is interrupted, `report_interrupted_batch` (called by `run_prompts`) and
`on_batch_cancellation` (a best-effort Prefect ``on_cancellation`` hook) publish the runs
left running and the starts whose outcome is unknown, as an artifact and one
``giga.run.orphaned`` event per run. A later flow run with the same ``batch_id`` re-attaches
to them through the journal and harvests them without paying again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import anyio
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import ArtifactCreate
from prefect.context import FlowRunContext
from prefect.exceptions import TerminationSignal

from .artifacts import artifact_key
from .core.exceptions import GigaError
from .core.models import RunStatus
from .credentials import GigaCredentials
from .events import emit_run_orphaned
from .idempotency import batch_item_key
from .item_files import batch_items
from .payments.journal import Journal, StartRef, StartState
from .results import PromptItem

__all__ = [
    "INTERRUPTIONS",
    "LeftBehind",
    "find_left_behind",
    "on_batch_cancellation",
    "publish_left_behind",
    "report_interrupted_batch",
]

INTERRUPTIONS: tuple[type[BaseException], ...] = (
    asyncio.CancelledError,
    TimeoutError,
    TerminationSignal,
)
"""What stops a batch from the outside: cancellation, a flow timeout, the runner's SIGTERM."""

PUBLISH_TIMEOUT = 15.0
"""Seconds the report may take after an interruption before it is abandoned."""

_logger = logging.getLogger(__name__)

_REPORTED: set[str] = set()
"""Flow runs whose interruption this process already reported (the hook then stays quiet)."""


@dataclass(frozen=True)
class LeftBehind:
    """The starts of one batch that an interruption left unresolved.

    Attributes:
        scope: The batch (its ``batch_id``, else the flow run id).
        left_running: ``(item index, run id)`` of runs still going at Giga, unharvested.
        unknown: ``(item index, journal state)`` of paid requests whose outcome is unknown.

    Example:
        >>> LeftBehind("b1", left_running=[(0, "r1")]).run_ids
        ['r1']
    """

    scope: str
    left_running: list[tuple[int, str]] = field(default_factory=list)
    unknown: list[tuple[int, str]] = field(default_factory=list)

    @property
    def run_ids(self) -> list[str]:
        """The ids of the runs left running."""
        return [run_id for _, run_id in self.left_running]

    @property
    def empty(self) -> bool:
        """Whether nothing was left behind."""
        return not self.left_running and not self.unknown


def find_left_behind(
    credentials: GigaCredentials,
    batch: Sequence[PromptItem],
    scope: str,
    *,
    finished: set[str] | None = None,
    journal: Journal | None = None,
) -> LeftBehind:
    """Rebuild from the journal what the batch ``scope`` left running or unresolved.

    A started run counts as left running unless its id is in ``finished``; a start the
    journal holds as reserved or sent has an unknown outcome (the retry reconciles it).

    Example:
        ```python
        left = find_left_behind(credentials, [PromptItem(prompt="hi")], "nightly-1")
        print(left.run_ids)
        ```
    """
    journal = journal or credentials.open_journal()
    server = credentials.base_url  # canonical: the block checked it
    address = credentials.address
    running: list[tuple[int, str]] = []
    unknown: list[tuple[int, str]] = []
    for index, item in enumerate(batch):
        key = batch_item_key(address, item, scope=scope, index=index)
        entry = journal.get(StartRef(address, server, key))
        if entry is None or entry.state is StartState.NOT_CHARGED:
            continue
        if entry.state is StartState.STARTED and entry.run_id:
            if finished is None or entry.run_id not in finished:
                running.append((index, entry.run_id))
        else:
            unknown.append((index, entry.state.value))
    return LeftBehind(scope, running, unknown)


def _rows(left: LeftBehind, reason: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {
            "item": index,
            "run_id": run_id,
            "state": "left running at Giga",
            "next": f"re-run with batch_id={left.scope!r} to harvest without paying",
        }
        for index, run_id in left.left_running
    ]
    rows += [
        {
            "item": index,
            "run_id": "",
            "state": f"outcome unknown (journal: {state})",
            "next": f"re-run with batch_id={left.scope!r} to reconcile without paying twice",
        }
        for index, state in left.unknown
    ]
    return rows or [{"item": "", "run_id": "", "state": f"nothing left behind ({reason})"}]


async def publish_left_behind(
    left: LeftBehind,
    address: str,
    reason: str,
    key: str = "giga-batch-left-behind",
    flow_run_id: UUID | None = None,
) -> None:
    """Emit ``giga.run.orphaned`` per run left running and write a table artifact of all.

    Example:
        ```python
        await publish_left_behind(left, credentials.address, reason="cancelled")
        ```
    """
    for run_id in left.run_ids:
        emit_run_orphaned(run_id, address, reason=reason, batch=left.scope)
    context = FlowRunContext.get()
    if flow_run_id is None and context is not None and context.flow_run is not None:
        flow_run_id = context.flow_run.id
    description = (
        f"Batch {left.scope} was {reason}: {len(left.left_running)} Giga run(s) left running, "
        f"{len(left.unknown)} start(s) with an unknown outcome. Giga has no cancel endpoint; "
        "a flow run with the same batch_id re-attaches to them without paying again."
    )
    async with get_client() as client:
        await client.create_artifact(
            ArtifactCreate(
                key=key,
                type="table",
                description=description,
                data=_rows(left, reason),
                flow_run_id=flow_run_id,
            )
        )


async def report_interrupted_batch(
    credentials: GigaCredentials,
    batch: Sequence[PromptItem],
    scope: str,
    running: set[str] | None,
    artifact_prefix: str,
    reason: str = "cancelled or timed out",
) -> LeftBehind:
    """Publish what an interrupted batch leaves behind, shielded from the cancellation.

    ``running`` holds the runs the batch was still waiting for; ``None`` when its items
    were driven elsewhere (chunk runs on workers): then every run the journal holds for the
    batch that Giga does not report finished counts. Never raises: a failure to report is
    logged and the interruption goes on.

    Example:
        ```python
        try:
            await asyncio.gather(*items)
        except INTERRUPTIONS:
            await report_interrupted_batch(creds, batch, scope, running, "giga-batch")
            raise
        ```
    """
    left = LeftBehind(scope)
    with anyio.CancelScope(shield=True), anyio.move_on_after(PUBLISH_TIMEOUT):
        try:
            found = await asyncio.to_thread(find_left_behind, credentials, batch, scope)
            if running is None:
                running = set(found.run_ids) - await _finished(credentials, found.run_ids)
            still = [(i, r) for i, r in found.left_running if r in running]
            left = LeftBehind(scope, still, found.unknown)
            key = artifact_key(artifact_prefix, "left-behind")
            await publish_left_behind(left, credentials.address, reason, key)
            context = FlowRunContext.get()
            if context is not None and context.flow_run is not None:
                _REPORTED.add(str(context.flow_run.id))
        except Exception as exc:  # the interruption must go on whatever the report does
            _logger.warning("Could not report the interrupted batch %s: %s", scope, exc)
    return left


async def _finished(credentials: GigaCredentials, run_ids: list[str]) -> set[str]:
    done: set[str] = set()
    async with credentials.get_client() as giga:
        for run_id in run_ids:
            try:
                run = await giga.read(run_id)
            except GigaError:
                continue
            if run.status in (RunStatus.COMPLETED, RunStatus.FAILED):
                done.add(run_id)
    return done


async def on_batch_cancellation(flow: Any, flow_run: Any, state: Any) -> None:
    """Prefect ``on_cancellation`` hook of `run_prompts`: best-effort orphan report.

    Runs where Prefect runs cancellation hooks (the flow's process, or the worker after it
    stopped the process), rebuilds the batch from the flow run's parameters and the journal
    (``GIGA_JOURNAL_PATH`` must name the same file there), reads which runs are still going,
    and publishes them. Needs ``credentials`` to be the name of a saved block. Stays quiet
    when the flow run already reported its interruption in this process.

    Example:
        ```python
        @flow(on_cancellation=[on_batch_cancellation])
        async def my_batch(items: list[str], credentials: str, batch_id: str): ...
        ```
    """
    parameters = dict(getattr(flow_run, "parameters", None) or {})
    name = parameters.get("credentials")
    if not isinstance(name, str) or str(flow_run.id) in _REPORTED:
        return
    try:
        credentials: GigaCredentials = await GigaCredentials.aload(name)
        items_from = parameters.get("items_from")
        items = await asyncio.to_thread(  # the same items, in the same order, as run_prompts
            batch_items,
            parameters.get("items") if not isinstance(items_from, str) else None,
            items_from if isinstance(items_from, str) else None,
            dedupe=bool(parameters.get("dedupe")),
        )
        scope = str(parameters.get("batch_id") or flow_run.id)
        with anyio.move_on_after(PUBLISH_TIMEOUT):
            found = await asyncio.to_thread(find_left_behind, credentials, items, scope)
            done = await _finished(credentials, found.run_ids)
            left = LeftBehind(
                scope, [(i, r) for i, r in found.left_running if r not in done], found.unknown
            )
            prefix = str(parameters.get("artifact_prefix") or "giga-batch")
            await publish_left_behind(
                left,
                credentials.address,
                "cancelled",
                artifact_key(prefix, "left-behind"),
                flow_run_id=flow_run.id,
            )
    except Exception as exc:  # a hook must not turn a cancellation into a crash
        _logger.warning("on_cancellation report of flow run %s failed: %s", flow_run.id, exc)
