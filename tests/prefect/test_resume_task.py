"""The experimental resume tasks against a real Prefect API: one payment per logical resume,
a flow-run retry re-attaches, and a resume never shares a start's key."""

from __future__ import annotations

from prefect import flow

from prefect_giga import GigaCredentials, StartedRun
from prefect_giga.tasks import (
    aresume_run,
    astart_run,
    await_run,
    resume_run,
    start_run,
    wait_for_run,
)
from prefect_giga.testing import GigaEmulator

from .conftest import payments_by

POLL = 0.02


async def test_async_flow_resumes_a_finished_run_once_across_a_flow_retry(
    credentials: GigaCredentials, emulator: GigaEmulator
) -> None:
    attempts: list[StartedRun] = []

    @flow(retries=1, retry_delay_seconds=0)
    async def follow_up() -> StartedRun:
        started = await astart_run(credentials, "Draft it [duration=1]")
        await await_run(credentials, started.run_id, poll_interval=POLL, stream_logs=False)
        resumed = await aresume_run(credentials, started.run_id, "Now polish it")
        attempts.append(resumed)
        if len(attempts) == 1:
            raise RuntimeError("fail once after paying, so the flow run retries")
        return resumed

    resumed = await follow_up()
    payments = payments_by(emulator, credentials.address)
    assert len(payments) == 2  # the start and the resume, each once
    assert [p.run_id for p in payments] == [resumed.run_id, resumed.run_id]
    assert attempts[0].run_id == attempts[1].run_id
    assert payments[1].nonce != payments[0].nonce


def test_sync_flow_resume_task_pays_the_servers_default_tier(
    credentials: GigaCredentials, emulator: GigaEmulator
) -> None:
    @flow
    def follow_up() -> StartedRun:
        first = start_run(credentials, "Draft it [duration=1]")
        wait_for_run(credentials, first.run_id, poll_interval=POLL, stream_logs=False)
        return resume_run(credentials, first.run_id, "And a summary")

    resumed = follow_up()
    payments = payments_by(emulator, credentials.address)
    assert [p.amount for p in payments] == [500_000, 500_000]  # the server's default, twice
    assert resumed.receipt is not None and resumed.receipt.tier == "$0.50"
