"""Prefect events for Giga work (``giga.run.*``, ``giga.batch.completed``) for automations.

Every run event's resource is ``giga.run.<run_id>``; its related resources are the flow run,
the deployment (when there is one) and the paying wallet ``giga.wallet.<address>``. Payloads
carry amounts, counts, ids and public transaction hashes only: never a key, a signature, a
SIWX header or a presigned URL. Outside a Prefect run (or with events off) nothing is sent.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from prefect.context import FlowRunContext
from prefect.events import emit_event
from prefect.runtime import deployment as current_deployment

from .core.models import Run, RunStatus, StartedRun
from .results import BatchResult, RunOutput

__all__ = [
    "BATCH_COMPLETED",
    "RUN_COMPLETED",
    "RUN_FAILED",
    "RUN_ORPHANED",
    "RUN_STARTED",
    "batch_resource_id",
    "emit_batch_completed",
    "emit_run_finished",
    "emit_run_orphaned",
    "emit_run_started",
    "related_resources",
    "run_resource_id",
    "wallet_resource_id",
]

RUN_STARTED = "giga.run.started"
RUN_COMPLETED = "giga.run.completed"
RUN_FAILED = "giga.run.failed"
RUN_ORPHANED = "giga.run.orphaned"
BATCH_COMPLETED = "giga.batch.completed"


def run_resource_id(run_id: str) -> str:
    """The event resource id of a Giga run.

    Example:
        >>> run_resource_id("r1")
        'giga.run.r1'
    """
    return f"giga.run.{run_id}"


def wallet_resource_id(address: str) -> str:
    """The event resource id of a paying wallet (lowercase address, safe to show).

    Example:
        >>> wallet_resource_id("0xABC")
        'giga.wallet.0xabc'
    """
    return f"giga.wallet.{address.lower()}"


def batch_resource_id(scope: str) -> str:
    """The event resource id of a batch: its ``batch_id``, else its flow run id.

    Example:
        >>> batch_resource_id("nightly-2026-12-03")
        'giga.batch.nightly-2026-12-03'
    """
    return f"giga.batch.{scope}"


_SUBFLOW_DEPLOYMENTS: dict[Any, str | None] = {}


def _deployment_of(flow_run: Any) -> str | None:
    """The deployment a flow run belongs to; a subflow's is its deployed parent's."""
    if flow_run.deployment_id is not None:
        return str(flow_run.deployment_id)
    if flow_run.parent_task_run_id is None:
        return None
    if flow_run.id not in _SUBFLOW_DEPLOYMENTS:
        if len(_SUBFLOW_DEPLOYMENTS) > 1000:
            _SUBFLOW_DEPLOYMENTS.clear()
        # From the deployed parent's context; one API read for a subflow of an ad hoc run.
        found = current_deployment.id
        _SUBFLOW_DEPLOYMENTS[flow_run.id] = str(found) if found else None
    return _SUBFLOW_DEPLOYMENTS[flow_run.id]


def related_resources(address: str) -> list[dict[str, str]]:
    """The flow run, the deployment and the wallet an event of this run relates to.

    Prefect adds the flow, work pool and tags from the run context when it sends the event.

    Example:
        >>> related_resources("0xABC")[-1]["prefect.resource.id"]
        'giga.wallet.0xabc'
    """
    related: list[dict[str, str]] = []
    context = FlowRunContext.get()
    flow_run = context.flow_run if context is not None else None
    if flow_run is not None:
        related.append(
            {
                "prefect.resource.id": f"prefect.flow-run.{flow_run.id}",
                "prefect.resource.role": "flow-run",
                "prefect.resource.name": flow_run.name,
            }
        )
        deployment_id = _deployment_of(flow_run)
        if deployment_id is not None:
            related.append(
                {
                    "prefect.resource.id": f"prefect.deployment.{deployment_id}",
                    "prefect.resource.role": "deployment",
                }
            )
    related.append(
        {"prefect.resource.id": wallet_resource_id(address), "prefect.resource.role": "wallet"}
    )
    return related


def _emit(event: str, resource_id: str, address: str, payload: dict[str, Any]) -> None:
    name = resource_id.split(".", 2)[-1]
    emit_event(
        event=event,
        resource={"prefect.resource.id": resource_id, "prefect.resource.name": name},
        related=related_resources(address),
        payload=payload,
    )


def emit_run_started(started: StartedRun, address: str, tier: str | None = None) -> None:
    """Emit ``giga.run.started``: tier, amount, transaction hash, whether it re-attached.

    A re-attached run has no new payment: its amount and transaction are ``None``.

    Example:
        ```python
        started = await astart_run(credentials, "Summarise the tickets")
        emit_run_started(started, credentials.address)
        ```
    """
    receipt = started.receipt
    _emit(
        RUN_STARTED,
        run_resource_id(started.run_id),
        address,
        {
            "run_id": started.run_id,
            "status": started.status.value,
            "tier": receipt.tier if receipt else tier,
            "amount": str(receipt.amount) if receipt else None,
            "network": receipt.network if receipt else None,
            "transaction": receipt.transaction if receipt else None,
            "reattached": started.reattached,
        },
    )


def run_duration_seconds(run: Run | None) -> float | None:
    """Seconds from the run's start to its end, as the server reports them.

    Example:
        >>> run_duration_seconds(None) is None
        True
    """
    if run is None:
        return None
    metadata = run.logs.metadata if run.logs is not None else None
    if metadata is not None and metadata.started_at and metadata.completed_at:
        return (metadata.completed_at - metadata.started_at).total_seconds()
    return max((run.updated_at - run.created_at).total_seconds(), 0.0)


def emit_run_finished(output: RunOutput, address: str, run: Run | None = None) -> None:
    """Emit ``giga.run.completed`` or ``giga.run.failed`` with duration, files and bytes.

    Example:
        ```python
        output = await aharvest_run(credentials, run.id, dest="reports")
        emit_run_finished(output, credentials.address, run)
        ```
    """
    event = RUN_COMPLETED if output.status is RunStatus.COMPLETED else RUN_FAILED
    _emit(
        event,
        run_resource_id(output.run_id),
        address,
        {
            "run_id": output.run_id,
            "status": output.status.value,
            "error_code": output.error_code,
            "duration_seconds": run_duration_seconds(run),
            "file_count": len(output.files),
            "bytes": sum(f.size for f in output.files),
        },
    )


def emit_run_orphaned(run_id: str, address: str, reason: str, batch: str | None = None) -> None:
    """Emit ``giga.run.orphaned``: the run keeps going at Giga but nobody waits for it.

    Giga has no cancel endpoint; a later flow run with the same ``batch_id`` re-attaches to
    the run and harvests it without paying again.

    Example:
        ```python
        emit_run_orphaned("r1", credentials.address, reason="cancelled", batch="nightly")
        ```
    """
    _emit(
        RUN_ORPHANED,
        run_resource_id(run_id),
        address,
        {"run_id": run_id, "reason": reason, "batch": batch},
    )


def emit_batch_completed(
    result: BatchResult,
    address: str,
    *,
    scope: str,
    spend_limit: Decimal | None,
    dest: str,
    assets: list[str] | None = None,
) -> None:
    """Emit ``giga.batch.completed`` with the counts, the spend, the limit and the outputs.

    ``dest`` and ``assets`` (the asset keys of the harvested outputs) tell a downstream
    deployment where to read; its automation can pass them on as parameters.

    Example:
        ```python
        emit_batch_completed(result, credentials.address, scope="nightly",
                             spend_limit=Decimal("10"), dest="giga-outputs")
        ```
    """
    payload: dict[str, Any] = {
        **result.summary(),
        "batch": scope,
        "spent": str(result.spent),
        "limit": None if spend_limit is None else str(spend_limit),
        "dest": dest,
        "run_ids": [item.run_id for item in result.items if item.run_id],
        "assets": list(assets or []),
        "left_running": list(result.left_running),
    }
    _emit(BATCH_COMPLETED, batch_resource_id(scope), address, payload)
