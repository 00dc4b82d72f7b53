"""A batch spread over two workers: each chunk a run of the giga-chunks deployment.

The batch-from-file deployment (on ``giga-pool``) runs 40 prompts with
``chunk_deployment="giga-run-prompts-chunk/giga-chunks"``, ``chunk_size=10``: four chunk runs
on the ``giga-chunks`` pool, whose two workers take two runs each. The emulator's clock is
frozen until every chunk has paid for its items, so all four chunk runs are running at once
(proof that both workers work); one of them is then killed (its process tree, SIGKILL), the
batch puts it back on the pool, and it re-attaches to its paid runs without paying again.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from eth_account import Account
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterParentFlowRunId,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import FlowRun

from prefect_giga import GigaCredentials
from prefect_giga.flows import run_prompts
from prefect_giga.results import BatchResult
from prefect_giga.spread import batch_tag

from .conftest import CHUNK_WORKERS, Deployed
from .support import final_flow_run, kill_process_tree, read_events, related_ids, wait_until

pytestmark = pytest.mark.integration

BATCH = "giga-batch-from-file/batch-from-file"
CHUNKS = "giga-run-prompts-chunk/giga-chunks"
ITEMS = 40
CHUNK_SIZE = 10
LIMIT = Decimal("42.00")  # $1.00 a run: a share of $10.50 per chunk, $0.50 of it unspent


async def chunk_runs(batch_id: str) -> list[FlowRun]:
    async with get_client() as client:
        deployment = await client.read_deployment_by_name(CHUNKS)
        return await client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[batch_tag(batch_id)])),
        )


async def test_a_batch_spread_over_two_workers_pays_once_per_prompt(
    deployed: Deployed, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "0x" + bytes(Account.create().key).hex()
    wallet = GigaCredentials(private_key=key, base_url=deployed.emulator.url)
    await wallet.asave("giga-wallet-spread", overwrite=True)
    address = wallet.address.lower()
    wallet_id = f"giga.wallet.{address}"

    def paid() -> list[str]:
        return [e.run_id for e in deployed.emulator.ledger if e.payer.lower() == address]

    batch_id = "spread-over-workers"
    prompts = deployed.project / "spread.jsonl"
    lines = [json.dumps({"prompt": f"Spread item {i}"}) + "\n" for i in range(ITEMS)]
    prompts.write_text("".join(lines), encoding="utf-8")
    parameters = {
        "path": str(prompts),
        "credentials_block": "giga-wallet-spread",
        "batch_id": batch_id,
        "spend_limit": str(LIMIT),
        "dest": "giga-outputs/spread",
        "poll_interval": 0.5,
        "chunk_deployment": CHUNKS,
        "chunk_size": CHUNK_SIZE,
    }
    since = datetime.now(timezone.utc) - timedelta(seconds=5)

    async def started(count: int) -> bool:
        async with get_client() as client:
            events = await read_events(client, ["giga.run.started"], since)
        return sum(1 for e in events if wallet_id in related_ids(e, "wallet")) >= count

    async def all_running() -> list[FlowRun] | None:
        runs = await chunk_runs(batch_id)
        running = [r for r in runs if r.state is not None and r.state.is_running()]
        return running if len(running) == ITEMS // CHUNK_SIZE else None

    deployed.emulator.clock.freeze()  # runs are paid for and start, but cannot end
    try:
        async with get_client() as client:
            deployment = await client.read_deployment_by_name(BATCH)
            parent = await client.create_flow_run_from_deployment(
                deployment.id, parameters=parameters
            )
            # Four chunk runs at once on two workers of two slots each: both are at work.
            running = await wait_until("four chunk runs running", all_running)
            await wait_until("a payment per prompt", lambda: len(paid()) >= ITEMS)
            await wait_until("every item started", lambda: started(ITEMS))
            victim = next(r for r in running if r.name == f"{batch_id}-chunk-1")
            assert victim.infrastructure_pid
            kill_process_tree(int(victim.infrastructure_pid.rsplit(":", 1)[-1]))

            async def crashed_and_running_again() -> bool:
                states = await client.read_flow_run_states(victim.id)
                run = await client.read_flow_run(victim.id)
                return any(s.is_crashed() for s in states) and run.run_count >= 2

            await wait_until("the killed chunk run back on the pool", crashed_and_running_again)
            # The re-run chunk re-attached to its ten paid runs (one more started event
            # each), while they were still going, without paying again.
            await wait_until("the re-run chunk re-attached", lambda: started(ITEMS + CHUNK_SIZE))
            assert len(paid()) == ITEMS
    finally:
        deployed.emulator.clock.resume()

    async with get_client() as client:
        done = await final_flow_run(client, parent.id)
        assert done.state is not None and done.state.is_completed(), done.state
        runs = await chunk_runs(batch_id)
        assert sorted(r.name for r in runs) == [f"{batch_id}-chunk-{i}" for i in range(4)]
        assert all(r.state is not None and r.state.is_completed() for r in runs)
        for run in runs:  # its share of the limit; the wallet by block name, no key
            assert run.parameters["options"]["spend_limit"] == "10.500000"
            assert run.parameters["credentials"] == "giga-wallet-spread"
            assert key[2:] not in json.dumps(run.parameters)
        [batch_run] = await client.read_flow_runs(  # run_prompts, a sub-flow of the parent
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent.id])
            )
        )
        everywhere = [parent.id, batch_run.id, *(r.id for r in runs)]
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=everywhere))
        )
        submitted = await read_events(client, ["prefect.worker.submitted-flow-run"], since)
        batches = await read_events(client, ["giga.batch.completed"], since)

    ledger = [e for e in deployed.emulator.ledger if e.payer.lower() == address]
    assert len(ledger) == ITEMS == len({e.run_id for e in ledger})  # one payment per prompt
    assert sum((e.usd for e in ledger), Decimal(0)) <= LIMIT
    # Both chunk workers ran chunks (the workers' own submitted-flow-run events).
    chunk_ids = {f"prefect.flow-run.{r.id}" for r in runs}
    workers = {e.resource.id for e in submitted if chunk_ids & set(related_ids(e, "flow-run"))}
    assert workers == {f"prefect.worker.process.{name}" for name in CHUNK_WORKERS}
    # One summary, one payments table, one progress artifact, at the batch's flow run (the
    # chunk runs' own tables have no key).
    keys = [a.key for a in artifacts if a.key]
    for name in ("summary", "payments", "progress"):
        assert keys.count(f"giga-batch-{name}") == 1, keys
    assert {a.flow_run_id for a in artifacts if a.key} == {batch_run.id}
    summary = next(a for a in artifacts if a.key == "giga-batch-summary")
    assert "40 completed" in (summary.description or "")
    assert "left $2.00 of their spend shares unspent" in (summary.description or "")
    mine = [e for e in batches if e.resource.id == f"giga.batch.{batch_id}"]
    assert len(mine) == 1
    assert mine[0].payload["completed"] == ITEMS
    assert Decimal(mine[0].payload["spent"]) == Decimal(ITEMS)
    assert mine[0].payload["unspent_shares_usd"] == "2.000000"
    assert sorted(mine[0].payload["run_ids"]) == sorted(e.run_id for e in ledger)
    dest = deployed.project / "giga-outputs" / "spread"
    for entry in ledger:
        assert any((dest / entry.run_id).iterdir())

    # The batch run again with the same batch_id (here in this process: a parent can run
    # anywhere that reaches the API and the journal) finds its four finished chunk runs by
    # their idempotency keys: no new chunk run, no new payment, the same runs.
    monkeypatch.setenv("GIGA_JOURNAL_PATH", str(deployed.journal))
    state = await run_prompts(
        [f"Spread item {i}" for i in range(ITEMS)],
        "giga-wallet-spread",
        batch_id=batch_id,
        spend_limit=LIMIT,
        dest="giga-outputs/spread",
        poll_interval=0.5,
        chunk_deployment=CHUNKS,
        chunk_size=CHUNK_SIZE,
        return_state=True,
    )
    again: BatchResult = await state.result()
    assert state.is_completed(), state.message
    assert {r.id for r in await chunk_runs(batch_id)} == {r.id for r in runs}
    assert len(paid()) == ITEMS
    assert sorted(r.run_id or "" for r in again.items) == sorted(e.run_id for e in ledger)
    assert again.spent == Decimal(ITEMS) and again.unspent_shares == Decimal(2)
