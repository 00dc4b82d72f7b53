"""A batch stopped from the outside (a flow timeout) reports what it left behind, and a flow
run with the same ``batch_id`` re-attaches to those runs without paying again."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

from prefect_giga import GigaCredentials, PromptItem, save_items
from prefect_giga.flows import run_prompts
from prefect_giga.idempotency import batch_item_key
from prefect_giga.testing import GigaEmulator

from .conftest import FAST, NO_WORKER_CHUNKS, artifacts_of, payments_by, table_rows

LONG = "[duration=86400]"
"""A run of a day of agent time: still running when the flow times out (86 s at 1000x)."""


async def test_timed_out_batch_reports_its_runs_then_a_rerun_harvests_without_paying(
    emulator: GigaEmulator, credentials: GigaCredentials, batch_id: str, dest: Path
) -> None:
    prompts = [f"Timed-out item {i} {LONG}" for i in range(3)]
    timed = run_prompts.with_options(timeout_seconds=5)
    state = await timed(
        prompts, credentials, batch_id=batch_id, dest=str(dest), return_state=True, **FAST
    )
    assert state.is_failed() and state.name == "TimedOut", state

    paid = payments_by(emulator, credentials.address)
    started = {entry.run_id for entry in paid}
    flow_run_id = state.state_details.flow_run_id
    assert isinstance(flow_run_id, UUID)
    left = await artifacts_of(flow_run_id)
    rows = table_rows(left["giga-batch-left-behind"])
    running = {row["run_id"] for row in rows if row["state"] == "left running at Giga"}
    unknown = [row for row in rows if str(row["state"]).startswith("outcome unknown")]
    # Every paid run is reported as left running; a start cut short shows as unknown.
    assert running == started
    assert len(running) + len(unknown) <= len(prompts)

    emulator.clock.advance(2 * 86400)  # every run ends
    rerun = await run_prompts(
        prompts, credentials, batch_id=batch_id, dest=str(dest), return_state=True, **FAST
    )
    result = await rerun.result()
    assert result.summary()["completed"] == len(prompts)
    after = payments_by(emulator, credentials.address)
    assert len(after) == len(prompts)  # one payment per prompt across both flow runs
    assert {entry.run_id for entry in after} >= started  # the first runs were re-attached


async def test_a_timed_out_spread_batch_reports_the_runs_its_chunks_left_going(
    emulator: GigaEmulator,
    credentials: GigaCredentials,
    batch_id: str,
    wallet_block: str,
    tmp_path: Path,
) -> None:
    """Chunk runs on a pool with no worker: the parent times out waiting for them. Two of its
    items were started earlier (as a chunk run elsewhere would, on the same journal) and
    still run at Giga; the report names them, rebuilt from the journal and Giga's answers."""
    prompts = [f"Spread item {i} {LONG}" for i in range(3)]
    async with credentials.get_client() as giga:
        earlier = [
            await giga.start(
                prompts[i],
                idempotency_key=batch_item_key(
                    credentials.address, PromptItem(prompt=prompts[i]), scope=batch_id, index=i
                ),
            )
            for i in (0, 1)
        ]
    where = save_items(prompts, tmp_path / "items.jsonl")

    timed = run_prompts.with_options(timeout_seconds=6)  # ample for the set-up, on a busy CI
    state = await timed(
        None,
        wallet_block,
        items_from=where,
        batch_id=batch_id,
        chunk_size=1,
        chunk_deployment=NO_WORKER_CHUNKS,
        return_state=True,
        **FAST,
    )

    assert state.is_failed() and state.name == "TimedOut", state
    flow_run_id = state.state_details.flow_run_id
    assert isinstance(flow_run_id, UUID)
    rows = table_rows((await artifacts_of(flow_run_id))["giga-batch-left-behind"])
    running = {row["run_id"] for row in rows if row["state"] == "left running at Giga"}
    assert running == {started.run_id for started in earlier}
    assert len(payments_by(emulator, credentials.address)) == 2  # the parent paid nothing
