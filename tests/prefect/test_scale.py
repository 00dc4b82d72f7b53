"""The Prefect layer at scale: flow-owned clients, released registries, chunks, shared probes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

from prefect_giga import GigaClient, GigaCredentials, ItemOutcome
from prefect_giga.flow_scope import arelease_finished_scopes, current_scope, live_scope_count
from prefect_giga.flows import run_prompts
from prefect_giga.results import BatchResult
from prefect_giga.tasks import aharvest_run, astart_run, await_run
from prefect_giga.testing import GigaEmulator

from .conftest import FAST, artifacts_of, logs_of, payments_by, table_rows


class ClientCounter:
    """Every `GigaClient` built from a `GigaCredentials` block while installed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.clients: list[GigaClient] = []
        real = GigaCredentials.get_client

        def counted(block: GigaCredentials, **overrides: Any) -> GigaClient:
            client = real(block, **overrides)
            self.clients.append(client)
            return client

        monkeypatch.setattr(GigaCredentials, "get_client", counted)

    @property
    def open(self) -> int:
        return sum(1 for c in self.clients if not c.exchange.http.is_closed)


@pytest.fixture
def client_counter(monkeypatch: pytest.MonkeyPatch) -> ClientCounter:
    return ClientCounter(monkeypatch)


async def test_a_batch_in_chunks_uses_one_client_closed_when_the_flow_run_ends(
    emulator: GigaEmulator,
    credentials: GigaCredentials,
    dest: Path,
    client_counter: ClientCounter,
) -> None:
    prompts = [f"Chunked {i} [files=1]" for i in range(7)]
    before = emulator.requests

    state = await run_prompts(
        prompts, credentials, chunk_size=3, dest=str(dest), return_state=True, **FAST
    )

    assert state.is_completed(), state.message
    result: BatchResult = await state.result()
    assert [r.outcome for r in result.items] == [ItemOutcome.COMPLETED] * 7
    assert [r.index for r in result.items] == list(range(7))
    assert len(client_counter.clients) == 1  # sign-in form, quotes and pool shared by all
    assert client_counter.open == 0  # closed when the flow run ended
    after = emulator.requests
    starts = {s: after[("start", s)] - before[("start", s)] for s in (200, 402)}
    assert starts == {200: 7, 402: 1}  # one start request per item plus one shared probe
    # No task run and no log line per item: three chunk sub-flows, one line each.
    batch_run = state.state_details.flow_run_id
    async with get_client() as prefect:
        chunks = await prefect.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[batch_run])
            )
        )
        task_runs = await prefect.read_task_runs(
            flow_run_filter=FlowRunFilter(id={"any_": [batch_run]})
        )
    assert len(chunks) == 3
    # The sub-flow calls and the batch's one asset declaration; none per item.
    assert sorted(t.name.rsplit("-", 1)[0] for t in task_runs) == [
        "declare-giga-assets",
        *["giga-run-prompts-chunk"] * 3,
    ]
    logs = [
        log.message for run in [batch_run, *(c.id for c in chunks)] for log in await logs_of(run)
    ]
    assert sum(1 for m in logs if m.startswith("Chunk items")) == 3
    assert not any(m.startswith("Item ") for m in logs)
    artifacts = await artifacts_of(state.state_details.flow_run_id)
    assert len(table_rows(artifacts["giga-batch-summary"])) == 7
    assert not any(key.startswith("giga-batch-output-") for key in artifacts)
    chunk_tables = [a for key, a in artifacts.items() if a.key is None and a.type == "table"]
    assert sorted(len(table_rows(a)) for a in chunk_tables) == [1, 3, 3]


async def test_the_same_batch_id_reattaches_whatever_the_chunking(
    emulator: GigaEmulator, credentials: GigaCredentials, dest: Path, batch_id: str
) -> None:
    prompts = [f"Re-attach {i}" for i in range(5)]
    first = await run_prompts(
        prompts, credentials, batch_id=batch_id, chunk_size=2, dest=str(dest), **FAST
    )
    again = await run_prompts(
        prompts, credentials, batch_id=batch_id, chunk_size=3, dest=str(dest), **FAST
    )

    assert [r.run_id for r in again.items] == [r.run_id for r in first.items]
    assert len(payments_by(emulator, credentials.address)) == 5  # nothing paid twice
    assert again.spent == first.spent


async def test_per_item_artifacts_only_when_asked(credentials: GigaCredentials, dest: Path) -> None:
    state = await run_prompts(
        ["One", "Two"],
        credentials,
        item_artifacts=True,
        progress_interval=0,
        dest=str(dest),
        return_state=True,
        **FAST,
    )

    result: BatchResult = await state.result()
    artifacts = await artifacts_of(state.state_details.flow_run_id)
    for item in result.items:
        assert f"Run: {item.run_id}" in artifacts[f"giga-batch-output-{item.index}"].data


@flow
async def _own_flow(credentials: GigaCredentials, prompts: list[str], dest: str) -> list[str]:
    outputs = []
    for prompt in prompts:
        started = await astart_run(credentials, prompt)
        run = await await_run(credentials, started.run_id, poll_interval=0.05, timeout=60)
        output = await aharvest_run(credentials, run.id, dest=dest)
        outputs.append(output.run_id)
    scope = current_scope()
    assert scope is not None and scope.open_clients == 1
    return outputs


async def test_tasks_of_a_flow_run_share_one_client_and_the_scope_is_released(
    emulator: GigaEmulator,
    credentials: GigaCredentials,
    dest: Path,
    client_counter: ClientCounter,
) -> None:
    await arelease_finished_scopes()
    baseline = live_scope_count()

    for _ in range(3):  # a long-lived worker: flow run after flow run
        await _own_flow(credentials, ["Own A", "Own B"], str(dest))
        assert live_scope_count() <= baseline + 1  # at most the last, finished one

    assert len(client_counter.clients) == 3  # one per flow run, not one per task
    assert await arelease_finished_scopes() == 1
    assert live_scope_count() == baseline
    assert client_counter.open == 0
    assert len(payments_by(emulator, credentials.address)) == 6
