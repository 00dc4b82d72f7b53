"""`run_prompts` with a chunk deployment refuses, before paying anything, what cannot work."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.states import Cancelled, Scheduled

from prefect_giga import GigaCredentials
from prefect_giga.flows import run_prompts
from prefect_giga.results import BatchResult, ItemOutcome
from prefect_giga.spread import batch_tag
from prefect_giga.testing import GigaEmulator

from .conftest import FAST, NO_WORKER_CHUNKS, payments_by

CHUNKS = "giga-run-prompts-chunk/giga-chunks"


async def test_a_chunk_deployment_needs_a_batch_id(
    emulator: GigaEmulator, credentials: GigaCredentials
) -> None:
    with pytest.raises(ValueError, match="chunk_deployment needs a batch_id"):
        await run_prompts(["One"], credentials, chunk_deployment=CHUNKS, **FAST)
    assert payments_by(emulator, credentials.address) == []


async def test_a_chunk_deployment_needs_the_credentials_as_a_saved_block(
    emulator: GigaEmulator, credentials: GigaCredentials, batch_id: str
) -> None:
    with pytest.raises(ValueError, match="name of a saved GigaCredentials block") as caught:
        await run_prompts(["One"], credentials, batch_id=batch_id, chunk_deployment=CHUNKS, **FAST)
    assert credentials.private_key.get_secret_value()[2:] not in str(caught.value)
    assert payments_by(emulator, credentials.address) == []


@flow(name="not-a-chunk-flow")
def not_a_chunk_flow() -> None:
    """Any flow but the chunk flow."""


async def test_a_chunk_deployment_of_another_flow_is_refused_before_any_chunk_runs(
    emulator: GigaEmulator, credentials: GigaCredentials, batch_id: str
) -> None:
    await credentials.asave(f"wallet-{batch_id}")
    deployment = await not_a_chunk_flow.ato_deployment(name="elsewhere")
    await deployment.apply()
    with pytest.raises(ValueError, match="not the chunk flow"):
        await run_prompts(
            ["One"],
            f"wallet-{batch_id}",
            batch_id=batch_id,
            chunk_deployment="not-a-chunk-flow/elsewhere",
            **FAST,
        )
    assert payments_by(emulator, credentials.address) == []


async def test_chunk_runs_get_their_shares_and_a_lost_chunk_is_reported_item_by_item(
    emulator: GigaEmulator, credentials: GigaCredentials, batch_id: str, wallet_block: str
) -> None:
    """No worker here: the chunk runs are cancelled by hand, so the batch reports them lost."""
    parent = asyncio.create_task(
        run_prompts(
            [f"Lost {i}" for i in range(5)],
            wallet_block,
            batch_id=batch_id,
            spend_limit="3.00",
            chunk_size=3,
            chunk_deployment=NO_WORKER_CHUNKS,
            return_state=True,
            **FAST,
        )
    )

    async def created() -> list[FlowRun]:
        async with get_client() as client:
            return await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[batch_tag(batch_id)]))
            )

    deadline = asyncio.get_running_loop().time() + 60
    while len(runs := await created()) < 2:
        assert asyncio.get_running_loop().time() < deadline, "no chunk runs"
        await asyncio.sleep(0.1)
    shares = {r.name: r.parameters["options"]["spend_limit"] for r in runs}
    assert shares == {f"{batch_id}-chunk-0": "1.800000", f"{batch_id}-chunk-1": "1.200000"}
    assert {r.parameters["credentials"] for r in runs} == {wallet_block}
    async with get_client() as client:
        for run in runs:
            await client.set_flow_run_state(run.id, Cancelled(), force=True)
    state = await asyncio.wait_for(parent, 60)

    assert state.is_failed()
    result: BatchResult = await state.result(raise_on_failure=False)
    assert [r.outcome for r in result.items] == [ItemOutcome.ERROR] * 5
    assert all("ended Cancelled" in (r.error or "") for r in result.items)
    assert [(c.first, c.stop, c.state) for c in result.chunks] == [
        (0, 3, "Cancelled"),
        (3, 5, "Cancelled"),
    ]
    assert result.spent == 0 and result.unspent_shares == Decimal("3")
    assert payments_by(emulator, credentials.address) == []


async def test_an_interrupted_batch_cancels_its_chunk_runs_and_another_plan_counts_them(
    emulator: GigaEmulator, credentials: GigaCredentials, batch_id: str, wallet_block: str
) -> None:
    """Chunk runs left going by another plan of the batch keep their shares out of the new."""
    common: dict[str, Any] = {
        "batch_id": batch_id,
        "spend_limit": "3.00",
        "chunk_deployment": NO_WORKER_CHUNKS,
        "return_state": True,
        **FAST,
    }
    prompts = [f"Planned {i}" for i in range(5)]
    first = asyncio.create_task(run_prompts(prompts, wallet_block, chunk_size=3, **common))
    runs = await chunk_runs_of(batch_id, 2)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    async with get_client() as client:
        states = [(await client.read_flow_run(r.id)).state for r in runs]
        # No worker ever took them: the server cancels them outright. Put them back on the
        # pool, as if the earlier plan's chunk runs were still waiting for a worker.
        assert all(s is not None and s.type is StateType.CANCELLED for s in states)
        for run in runs:
            await client.set_flow_run_state(run.id, Scheduled(), force=True)

    second = asyncio.create_task(run_prompts(prompts, wallet_block, chunk_size=5, **common))
    [new] = [r for r in await chunk_runs_of(batch_id, 3) if r.id not in {o.id for o in runs}]
    assert new.parameters["options"]["spend_limit"] == "0.000000"  # 3.00 still outstanding
    async with get_client() as client:
        await client.set_flow_run_state(new.id, Cancelled(), force=True)
    state = await asyncio.wait_for(second, 60)
    result: BatchResult = await state.result(raise_on_failure=False)
    assert [c.share for c in result.chunks] == [Decimal(0)]
    assert payments_by(emulator, credentials.address) == []


async def chunk_runs_of(batch_id: str, count: int) -> list[FlowRun]:
    """The batch's chunk runs, once there are ``count`` of them (polled, bounded)."""
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        async with get_client() as client:
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[batch_tag(batch_id)]))
            )
        if len(runs) >= count:
            return runs
        assert asyncio.get_running_loop().time() < deadline, f"{len(runs)} chunk runs"
        await asyncio.sleep(0.1)
