"""The start, wait and harvest tasks, from async and sync flows, against a real Prefect API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
from prefect import flow
from prefect.client.orchestration import get_client

from prefect_giga import (
    GigaCredentials,
    GigaTimeoutError,
    Run,
    RunFailedError,
    RunOutput,
    RunStatus,
    StartedRun,
)
from prefect_giga.tasks import (
    aharvest_run,
    astart_run,
    await_run,
    harvest_run,
    start_run,
    wait_for_run,
)
from prefect_giga.testing import EmulatorConfig, GigaEmulator

from .conftest import logs_of, payments_by

POLL = 0.02


@pytest.fixture(scope="module")
def lagging_emulator() -> Iterator[GigaEmulator]:
    """An emulator whose logs arrive 1000 agent seconds (1 s) after the records are written."""
    server = GigaEmulator(EmulatorConfig(time_scale=1000.0, logs_delay_seconds=1000.0))
    server.start()
    try:
        yield server
    finally:
        server.close()


def _workspace_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def _expected_lines(emulator: GigaEmulator, run_id: str) -> list[str]:
    run = emulator.run_by_id(run_id)
    assert run is not None
    return [f"Giga run {run_id}: [{record.kind}] {record.message}" for record in run.records]


def _streamed_lines(caplog: pytest.LogCaptureFixture, prefix: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "prefect.task_runs" and r.getMessage().startswith(prefix)
    ]


async def test_await_run_streams_log_records_into_the_prefect_logger_once_each_in_order(
    emulator: GigaEmulator,
    credentials: GigaCredentials,
    prefect_caplog: pytest.LogCaptureFixture,
) -> None:
    @flow
    async def watch() -> tuple[StartedRun, Run]:
        started = await astart_run(credentials, "Stream my logs [files=2] [duration=1000]")
        run = await await_run(credentials, started.run_id, poll_interval=POLL, timeout=60)
        return started, run

    state = await watch(return_state=True)
    started, run = await state.result()

    assert run.status is RunStatus.COMPLETED
    prefix = f"Giga run {started.run_id}: "
    expected = _expected_lines(emulator, started.run_id)
    streamed = _streamed_lines(prefect_caplog, prefix)
    # Records written while the run was running (the last one may lag behind the status).
    assert len(streamed) >= 4
    assert streamed == expected[: len(streamed)]
    messages = [r.getMessage() for r in prefect_caplog.records if r.name == "prefect.task_runs"]
    assert f"Giga run {started.run_id} is running" in messages
    assert f"Giga run {started.run_id} is completed" in messages
    assert f"Polled Giga run {started.run_id}: running" in messages  # DEBUG, each poll

    # The same lines reach the Prefect API, each once, attached to the flow run.
    stored = [log.message for log in await logs_of(state.state_details.flow_run_id)]
    assert sorted(m for m in stored if m.startswith(prefix)) == sorted(streamed)


async def test_await_run_streams_log_records_that_arrive_after_the_run_finished(
    lagging_emulator: GigaEmulator,
    private_key: str,
    prefect_caplog: pytest.LogCaptureFixture,
) -> None:
    credentials = GigaCredentials(private_key=private_key, base_url=lagging_emulator.url)

    @flow
    async def watch() -> str:
        started = await astart_run(credentials, "Logs arrive late [duration=100]")
        await await_run(credentials, started.run_id, poll_interval=POLL, timeout=60)
        return started.run_id

    run_id = await watch()

    assert _streamed_lines(prefect_caplog, f"Giga run {run_id}: ") == _expected_lines(
        lagging_emulator, run_id
    )


async def test_await_run_raises_run_failed_error_with_the_runs_error_code(
    emulator: GigaEmulator,
    credentials: GigaCredentials,
    prefect_caplog: pytest.LogCaptureFixture,
) -> None:
    started_ids: list[str] = []

    @flow
    async def doomed() -> None:
        started = await astart_run(credentials, "This one breaks [fail=boom]")
        started_ids.append(started.run_id)
        await await_run.with_options(retries=0)(
            credentials, started.run_id, poll_interval=POLL, timeout=60
        )

    with pytest.raises(RunFailedError) as caught:
        await doomed()

    (run_id,) = started_ids
    assert caught.value.run_id == run_id
    assert caught.value.error_code == "boom"
    assert "boom" in str(caught.value)
    assert emulator.run_by_id(run_id).result.error_code == "boom"
    assert f"Giga run {run_id}: [error] Run failed: boom" in prefect_caplog.messages


async def test_await_run_without_raise_on_failure_returns_the_failed_run(
    credentials: GigaCredentials,
) -> None:
    @flow
    async def tolerant() -> Run:
        started = await astart_run(credentials, "Fails quietly [fail=quota]")
        return await await_run(
            credentials, started.run_id, poll_interval=POLL, timeout=60, raise_on_failure=False
        )

    run = await tolerant()
    assert run.status is RunStatus.FAILED
    assert run.error_code == "quota"


async def test_await_run_raises_giga_timeout_error_at_its_deadline(
    emulator: GigaEmulator, credentials: GigaCredentials
) -> None:
    started_ids: list[str] = []

    @flow
    async def impatient() -> None:
        started = await astart_run(credentials, "Takes a day [duration=86400]")
        started_ids.append(started.run_id)
        await await_run.with_options(retries=0)(
            credentials, started.run_id, poll_interval=POLL, timeout=0.3
        )

    began = time.monotonic()
    with pytest.raises(GigaTimeoutError) as caught:
        await impatient()
    waited = time.monotonic() - began

    (run_id,) = started_ids
    assert run_id in str(caught.value)
    assert "0.3 s" in str(caught.value)
    assert waited < 30  # the run itself would take 86 s of real time
    assert emulator.run_by_id(run_id) is not None


@pytest.mark.parametrize(
    ("prompt", "timeout", "error"),
    [
        pytest.param("Fails [fail=boom]", 60.0, RunFailedError, id="run-failed"),
        pytest.param("Slow [duration=86400]", 0.2, GigaTimeoutError, id="timed-out"),
    ],
)
async def test_await_run_does_not_retry_a_run_that_failed_or_timed_out(
    credentials: GigaCredentials, prompt: str, timeout: float, error: type[Exception]
) -> None:
    waiter = await_run.with_options(retry_delay_seconds=0)  # the task's own retries kept

    @flow
    async def wait_once() -> tuple[UUID, BaseException | None]:
        started = await astart_run(credentials, prompt)
        state = await waiter(
            credentials, started.run_id, poll_interval=POLL, timeout=timeout, return_state=True
        )
        return state.state_details.task_run_id, await state.result(raise_on_failure=False)

    task_run_id, raised = await wait_once()
    assert isinstance(raised, error)
    async with get_client() as client:
        task_run = await client.read_task_run(task_run_id)
    assert task_run.run_count == 1


async def test_harvest_run_keeps_only_files_matching_the_include_globs(
    credentials: GigaCredentials, dest: Path
) -> None:
    cases: dict[str, list[str] | None] = {
        "all": None,
        "markdown": ["*.md"],
        "data": ["data/*"],
        "top-level-txt": ["*.txt"],
        "any-txt": ["**/*.txt"],
    }

    @flow
    async def harvest_many() -> tuple[str, dict[str, RunOutput]]:
        started = await astart_run(credentials, "Write some files [files=3]")
        run = await await_run(credentials, started.run_id, poll_interval=POLL, timeout=60)
        outputs = {}
        for name, include in cases.items():
            outputs[name] = await aharvest_run(
                credentials, run.id, dest=str(dest / name), include=include
            )
        return run.id, outputs

    run_id, outputs = await harvest_many()

    expected = {
        "all": {"output.md", "extra_1.txt", "extra_2.txt", "data/extra_3.txt"},
        "markdown": {"output.md"},
        "data": {"data/extra_3.txt"},
        "top-level-txt": {"extra_1.txt", "extra_2.txt"},
        "any-txt": {"extra_1.txt", "extra_2.txt", "data/extra_3.txt"},
    }
    for name, paths in expected.items():
        output = outputs[name]
        assert {f.path for f in output.files} == paths, name
        assert _workspace_files(dest / name / run_id) == paths, name
        assert (output.output_markdown is not None) == ("output.md" in paths), name
    assert "Write some files" in outputs["markdown"].output_markdown


def test_start_wait_and_harvest_work_from_a_sync_flow(
    emulator: GigaEmulator,
    credentials: GigaCredentials,
    dest: Path,
    prefect_caplog: pytest.LogCaptureFixture,
) -> None:
    @flow
    def nightly() -> tuple[StartedRun, Run, RunOutput]:
        started = start_run(credentials, "A report from a sync flow [files=1] [duration=300]")
        run = wait_for_run(
            credentials, started.run_id, poll_interval=POLL, timeout=60, stream_logs=True
        )
        output = harvest_run(credentials, run.id, dest=str(dest), receipt=started.receipt)
        return started, run, output

    started, run, output = nightly()

    assert isinstance(started, StartedRun)
    assert run.status is RunStatus.COMPLETED
    assert output.receipt == started.receipt
    assert {f.path for f in output.files} == {"output.md", "data/extra_1.txt"}
    assert _workspace_files(dest / started.run_id) == {"output.md", "data/extra_1.txt"}
    (paid,) = payments_by(emulator, credentials.address)
    assert paid.run_id == started.run_id
    assert started.receipt is not None and started.receipt.transaction == paid.transaction
    streamed = _streamed_lines(prefect_caplog, f"Giga run {started.run_id}: ")
    assert streamed and streamed == _expected_lines(emulator, started.run_id)[: len(streamed)]
