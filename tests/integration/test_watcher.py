"""RunWatcher against the emulator: many runs, one loop, few requests."""

from __future__ import annotations

import asyncio

import pytest

from prefect_giga import GigaClient, GigaTimeoutError, RunNotFoundError, RunStatus
from prefect_giga.client import watcher as watcher_module
from prefect_giga.client.watcher import RunWatcher
from prefect_giga.testing import EmulatorConfig, GigaEmulator
from prefect_giga.testing.faults import ErrorFault

from .conftest import OTHER_KEY

pytestmark = pytest.mark.integration

KEY = "0x" + "44" * 32


@pytest.fixture
def emulator():
    emulator = GigaEmulator(EmulatorConfig(manual_clock=True))
    emulator.start()
    yield emulator
    emulator.close()


async def _start_many(giga: GigaClient, count: int, directive: str = "") -> list[str]:
    started = await asyncio.gather(*(giga.start(f"Watch me {i} {directive}") for i in range(count)))
    return [s.run_id for s in started]


async def _finish(emulator: GigaEmulator, waiting: asyncio.Future, seconds: float = 600) -> None:
    await asyncio.sleep(0)  # let the waits register
    emulator.clock.advance(seconds)
    await asyncio.wait_for(asyncio.shield(waiting), 30)  # safety net only


async def test_many_fresh_runs_cost_a_few_list_requests_and_no_reads(
    emulator: GigaEmulator,
) -> None:
    async with GigaClient(private_key=KEY, base_url=emulator.url) as giga:
        run_ids = await _start_many(giga, 40)
        watcher = RunWatcher(giga, poll_interval=0.01)
        reads_before = emulator.request_count("read")
        waiting = asyncio.ensure_future(
            asyncio.gather(*(watcher.wait(r, fresh=True, timeout=60) for r in run_ids))
        )
        await _finish(emulator, waiting)
        runs = waiting.result()
        await watcher.aclose()
    assert [r.id for r in runs] == run_ids
    assert {r.status for r in runs} == {RunStatus.COMPLETED}
    assert emulator.request_count("read") == reads_before
    assert watcher.stats.read_requests == 0
    assert 1 <= watcher.stats.list_requests == watcher.stats.polls


async def test_failed_runs_resolve_with_their_error_code(emulator: GigaEmulator) -> None:
    async with GigaClient(private_key=KEY, base_url=emulator.url) as giga:
        (run_id,) = await _start_many(giga, 1, "[fail=tool_crashed]")
        watcher = RunWatcher(giga, poll_interval=0.01)
        waiting = asyncio.ensure_future(watcher.wait(run_id, fresh=True, timeout=60))
        await _finish(emulator, waiting)
        run = waiting.result()
    assert run.status is RunStatus.FAILED
    assert run.error_code == "tool_crashed"


async def test_a_run_that_finished_before_the_wait_is_found(emulator: GigaEmulator) -> None:
    async with GigaClient(private_key=KEY, base_url=emulator.url) as giga:
        (run_id,) = await _start_many(giga, 1)
        emulator.clock.advance(600)
        watcher = RunWatcher(giga, poll_interval=0.01)
        run = await asyncio.wait_for(watcher.wait(run_id, timeout=60), 30)
    assert run.status is RunStatus.COMPLETED


async def test_a_fresh_run_that_ended_before_the_watcher_looked_is_read_once(
    emulator: GigaEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A short run can end while its paid start settles; if the watcher's history began
    # after that end (and its first look did not reach it), no later look lists it again.
    monkeypatch.setattr(watcher_module, "MAX_PAGE_SIZE", 2)
    monkeypatch.setattr(watcher_module, "FIRST_LOOK_PAGES", 1)
    async with GigaClient(private_key=KEY, base_url=emulator.url) as giga:
        (early,) = await _start_many(giga, 1)
        emulator.clock.advance(600)  # ended long ago
        later = []
        for _ in range(3):  # one a second: a look stops at the first run it saw before
            later += await _start_many(giga, 1, "[duration=3600]")
            emulator.clock.advance(1)
        watcher = RunWatcher(giga, poll_interval=0.01)
        waiting = asyncio.ensure_future(watcher.wait(later[-1], fresh=True, timeout=60))
        while watcher.stats.list_requests == 0:  # the first look: the two newest runs only
            await asyncio.sleep(0.01)
        run = await asyncio.wait_for(watcher.wait(early, fresh=True, timeout=60), 30)
        assert watcher.stats.read_requests == 1
        assert not waiting.done()
        await watcher.aclose()
    assert run.status is RunStatus.COMPLETED


async def test_listing_failures_fall_back_to_reads(emulator: GigaEmulator) -> None:
    async with GigaClient(private_key=KEY, base_url=emulator.url, retry=_no_retry()) as giga:
        run_ids = await _start_many(giga, 3)
        emulator.faults.errors["list"] = ErrorFault(status=503)
        watcher = RunWatcher(giga, poll_interval=0.01)
        waiting = asyncio.ensure_future(
            asyncio.gather(*(watcher.wait(r, fresh=True, timeout=60) for r in run_ids))
        )
        await _finish(emulator, waiting)
    assert {r.status for r in waiting.result()} == {RunStatus.COMPLETED}
    assert watcher.stats.fallbacks >= 1
    assert watcher.stats.read_requests >= 3


async def test_streamed_runs_are_read_and_their_logs_handed_over(emulator: GigaEmulator) -> None:
    seen: list[int] = []

    async def on_read(run) -> None:
        seen.append(len(run.logs.records) if run.logs else 0)

    async with GigaClient(private_key=KEY, base_url=emulator.url) as giga:
        (run_id,) = await _start_many(giga, 1)
        watcher = RunWatcher(giga, poll_interval=0.01)
        waiting = asyncio.ensure_future(watcher.wait(run_id, on_read=on_read, timeout=60))
        await _finish(emulator, waiting)
    assert seen and seen[-1] > 0


async def test_wait_times_out_with_a_typed_error(emulator: GigaEmulator) -> None:
    async with GigaClient(private_key=KEY, base_url=emulator.url) as giga:
        (run_id,) = await _start_many(giga, 1, "[duration=999999]")
        watcher = RunWatcher(giga, poll_interval=0.01)
        with pytest.raises(GigaTimeoutError, match="keeps running"):
            await watcher.wait(run_id, fresh=True, timeout=0.05)
        await watcher.aclose()


async def test_another_wallets_run_is_not_found(emulator: GigaEmulator) -> None:
    async with GigaClient(private_key=KEY, base_url=emulator.url) as giga:
        (run_id,) = await _start_many(giga, 1)
    async with GigaClient(private_key=OTHER_KEY, base_url=emulator.url) as other:
        watcher = RunWatcher(other, poll_interval=0.01)
        with pytest.raises(RunNotFoundError):
            await asyncio.wait_for(watcher.wait(run_id, timeout=60), 30)


def _no_retry():
    from prefect_giga import RetryPolicy

    return RetryPolicy(attempts=1)
