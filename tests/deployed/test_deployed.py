"""A real Prefect server and worker run the deployments of deployments/prefect.yaml.

Order matters inside this module (one server, one wallet): the nightly run on demand, then
the test-only interval schedule, then cancellation and re-attachment.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterParentFlowRunId,
)
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.schedules import CronSchedule
from prefect.filesystems import LocalFileSystem
from prefect.states import Cancelling

from prefect_giga.assets import asset_key_for_folder, run_folder_uri

from .conftest import DAILY_DAY, Deployed
from .support import final_flow_run, read_events, related_ids, wait_until

pytestmark = pytest.mark.integration

NIGHTLY = "giga-nightly-reports/nightly-reports"
BATCH = "giga-batch-from-file/batch-from-file"
READER = "giga-read-outputs/read-giga-outputs"


def prompts_of(project: Path) -> list[str]:
    text = (project / "flows" / "prompts.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def paid_run_ids(deployed: Deployed, since: int) -> list[str]:
    """Run ids of the payments the wallet made after the ledger held ``since`` of its own."""
    address = deployed.credentials.address.lower()
    mine = [e for e in deployed.emulator.ledger if e.payer.lower() == address]
    return [e.run_id for e in mine[since:]]


def ledger_size(deployed: Deployed) -> int:
    address = deployed.credentials.address.lower()
    return sum(1 for e in deployed.emulator.ledger if e.payer.lower() == address)


async def subflow_ids(flow_run_id: UUID) -> list[UUID]:
    async with get_client() as client:
        children = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[flow_run_id])
            )
        )
    return [c.id for c in children]


async def artifact_keys(flow_run_ids: list[UUID]) -> set[str]:
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=flow_run_ids))
        )
    return {a.key for a in artifacts if a.key}


async def run_deployment_now(name: str, parameters: dict[str, object] | None = None) -> FlowRun:
    async with get_client() as client:
        deployment = await client.read_deployment_by_name(name)
        flow_run = await client.create_flow_run_from_deployment(
            deployment.id, parameters=parameters or {}
        )
        return await final_flow_run(client, flow_run.id)


async def check_run_events(
    deployed: Deployed, run_ids: list[str], flow_run: FlowRun, since: datetime
) -> None:
    """Started and completed per run, and one batch.completed naming exactly these runs."""
    wanted = {f"giga.run.{r}" for r in run_ids}

    async def complete() -> list | None:
        async with get_client() as client:
            events = await read_events(client, ["giga."], since)
        started = {e.resource.id for e in events if e.event == "giga.run.started"}
        completed = {e.resource.id for e in events if e.event == "giga.run.completed"}
        batches = [
            e
            for e in events
            if e.event == "giga.batch.completed" and set(e.payload["run_ids"]) == set(run_ids)
        ]
        return events if wanted <= started and wanted <= completed and batches else None

    events = await wait_until("giga events on the server", complete)
    batches = [e for e in events if e.event == "giga.batch.completed"]
    mine = [b for b in batches if set(b.payload["run_ids"]) == set(run_ids)]
    assert len(mine) == 1
    assert mine[0].payload["completed"] == len(run_ids)
    assert mine[0].payload["limit"] == "10.00"
    wallet = f"giga.wallet.{deployed.credentials.address.lower()}"
    deployment_id = f"prefect.deployment.{flow_run.deployment_id}"
    for event in events:
        if event.resource.id in wanted:
            assert wallet in related_ids(event, "wallet")
            assert deployment_id in related_ids(event, "deployment")
            assert related_ids(event, "flow-run")
            text = event.model_dump_json()
            assert deployed.credentials.private_key.get_secret_value()[2:] not in text
    started = [e for e in events if e.event == "giga.run.started" and e.resource.id in wanted]
    paid = {e.run_id: e for e in deployed.emulator.ledger}
    for event in started:  # what the event says was paid is what the chain settled
        entry = paid[event.resource.id.removeprefix("giga.run.")]
        assert event.payload["transaction"] == entry.transaction
        assert Decimal(event.payload["amount"]) == entry.usd


async def test_nightly_deployment_runs_on_the_worker(deployed: Deployed) -> None:
    since = datetime.now(timezone.utc) - timedelta(seconds=5)
    before = ledger_size(deployed)
    flow_run = await run_deployment_now(NIGHTLY)
    assert flow_run.state is not None and flow_run.state.is_completed(), flow_run.state
    run_ids = paid_run_ids(deployed, before)
    assert len(run_ids) == len(prompts_of(deployed.project))  # one payment per prompt
    keys = await artifact_keys([flow_run.id, *await subflow_ids(flow_run.id)])
    assert {"giga-batch-summary", "giga-batch-payments", "giga-batch-files"} <= keys
    async with get_client() as client:
        deployment = await client.read_deployment(flow_run.deployment_id)
    assert deployment.job_variables["env"]["GIGA_JOURNAL_PATH"] == str(deployed.journal)
    [pull] = deployment.pull_steps or []
    assert pull["prefect.deployments.steps.set_working_directory"]["directory"] == str(
        deployed.project
    )
    assert deployed.journal.exists()
    await check_run_events(deployed, run_ids, flow_run, since)
    await check_assets(deployed, run_ids, since)
    await check_downstream(deployed, run_ids)


async def check_assets(deployed: Deployed, run_ids: list[str], since: datetime) -> None:
    """One materialization per harvested run folder, keyed by its file:// URI."""
    dest = deployed.project / "giga-outputs" / "nightly"
    expected = {asset_key_for_folder(run_folder_uri(str(dest), r)) for r in run_ids}
    for run_id in run_ids:
        assert any((dest / run_id).iterdir())

    async def materialized() -> set[str] | None:
        async with get_client() as client:
            events = await read_events(client, ["prefect.asset.materialization"], since)
        keys = {
            e.resource.id for e in events if e.event == "prefect.asset.materialization.succeeded"
        }
        return keys if expected <= keys else None

    await wait_until("asset materializations", materialized)


async def check_downstream(deployed: Deployed, run_ids: list[str]) -> None:
    """The automation ran the reader deployment with this batch's runs, and it completed."""
    reader_id = UUID(await deployed.deployment_id(READER))

    async def reader_run() -> FlowRun | None:
        async with get_client() as client:
            runs = await client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[reader_id]))
            )
        for run in runs:
            if set(run.parameters.get("run_ids") or []) == set(run_ids):
                return run if run.state is not None and run.state.is_final() else None
        return None

    run = await wait_until("the automation to run the downstream deployment", reader_run)
    assert run.state is not None and run.state.is_completed(), run.state
    assert run.parameters["dest"] == "giga-outputs/nightly"


async def test_interval_schedule_fires_by_itself(deployed: Deployed) -> None:
    """The fixture's test-only hourly schedule ran the nightly flow with no one asking."""
    async with get_client() as client:
        deployment = await client.read_deployment_by_name(NIGHTLY)
        anchor = deployed.interval_anchor

        async def scheduled_run() -> FlowRun | None:
            runs = await client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id]))
            )
            for run in runs:
                when = run.expected_start_time
                if run.auto_scheduled and when and abs((when - anchor).total_seconds()) < 1:
                    return run if run.state is not None and run.state.is_final() else None
            return None

        run = await wait_until("the interval schedule's run", scheduled_run)
        assert run.state is not None and run.state.is_completed(), run.state
        schedules = (await client.read_deployment(deployment.id)).schedules
    crons = [s.schedule for s in schedules if isinstance(s.schedule, CronSchedule)]
    assert [c.cron for c in crons] == ["0 2 * * *"]  # the nightly cron is untouched
    assert run.parameters["credentials_block"] == "giga-wallet-interval"
    address = deployed.interval_credentials.address.lower()
    paid = [e for e in deployed.emulator.ledger if e.payer.lower() == address]
    assert len(paid) == len(prompts_of(deployed.project))  # one payment per prompt
    for entry in paid:
        assert any((deployed.project / "giga-outputs" / "interval" / entry.run_id).iterdir())


async def test_cancelled_batch_reports_orphans_and_reattaches(deployed: Deployed) -> None:
    batch_id = "cancel-me"
    items = [f"Cancellable item {i} [files=1]" for i in range(3)]
    prompts = deployed.project / "cancel.jsonl"
    prompts.write_text("".join(f'{{"prompt": "{p}"}}\n' for p in items), encoding="utf-8")
    parameters = {"path": str(prompts), "batch_id": batch_id, "poll_interval": 0.5}
    since = datetime.now(timezone.utc) - timedelta(seconds=5)
    before = ledger_size(deployed)
    deployed.emulator.clock.freeze()  # runs start but cannot finish until resumed
    try:
        async with get_client() as client:
            deployment = await client.read_deployment_by_name(BATCH)
            flow_run = await client.create_flow_run_from_deployment(
                deployment.id, parameters=parameters
            )
            await wait_until("three payments", lambda: ledger_size(deployed) >= before + 3)
            run_ids = paid_run_ids(deployed, before)
            await client.set_flow_run_state(flow_run.id, Cancelling(), force=True)
            cancelled = await final_flow_run(client, flow_run.id)
            assert cancelled.state is not None and cancelled.state.is_cancelled(), cancelled.state

            async def orphaned() -> list | None:
                events = await read_events(client, ["giga.run.orphaned"], since)
                ids = {e.resource.id for e in events}
                return events if {f"giga.run.{r}" for r in run_ids} <= ids else None

            events = await wait_until("giga.run.orphaned for every run left running", orphaned)
            assert sorted(e.resource.id for e in events) == sorted(f"giga.run.{r}" for r in run_ids)
            assert {e.payload["batch"] for e in events} == {batch_id}
            children = await subflow_ids(flow_run.id)
            assert "giga-batch-left-behind" in await artifact_keys(children)
    finally:
        deployed.emulator.clock.resume()
    again = await run_deployment_now(BATCH, parameters)
    assert again.state is not None and again.state.is_completed(), again.state
    assert ledger_size(deployed) == before + 3  # re-attached: no new payment
    dest = deployed.project / "giga-outputs" / "batches"
    for run_id in run_ids:
        assert any((dest / run_id).iterdir())


async def test_daily_report_stores_in_its_block_and_declares_the_folder(
    deployed: Deployed,
) -> None:
    """The fixture's daily-report run: one run over the day's files, stored in its block."""
    since, day = deployed.daily_since, DAILY_DAY
    async with get_client() as client:
        flow_run = await final_flow_run(client, deployed.daily_flow_run_id)
    assert flow_run.state is not None and flow_run.state.is_completed(), flow_run.state
    address = deployed.daily_credentials.address.lower()
    [run_id] = [e.run_id for e in deployed.emulator.ledger if e.payer.lower() == address]
    folder = deployed.project / "storage" / "reports" / day / run_id  # the giga-reports block
    assert any(folder.iterdir())
    block = LocalFileSystem(basepath=str(deployed.project / "storage"))
    key = asset_key_for_folder(run_folder_uri(f"reports/{day}", run_id, block))
    assert key == folder.as_uri()

    async def materialized() -> list | None:
        async with get_client() as client:
            events = await read_events(client, ["prefect.asset.materialization"], since)
        mine = [e for e in events if e.resource.id == key]
        return mine or None

    [event] = await wait_until("the storage block folder's materialization", materialized)
    assert event.payload["run_id"] == run_id
    assert event.payload["file_count"] == sum(1 for p in folder.rglob("*") if p.is_file())
