"""Paying once per logical start: task retries, flow-run retries, batch ids, explicit keys.

Every assertion about money is made against the emulator's ledger (what the server settled),
never against what the package reports about itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.settings import PREFECT_TASKS_REFRESH_CACHE, temporary_settings

from prefect_giga import GigaCredentials, ItemOutcome, RunStatus, StartedRun
from prefect_giga.batch import BatchRunner
from prefect_giga.flows import run_prompts
from prefect_giga.results import BatchResult, RunOutput
from prefect_giga.tasks import aharvest_run, astart_run, await_run, start_key
from prefect_giga.testing import EmulatorConfig, GigaEmulator

from .conftest import FAST, artifacts_of, payments_by, table_rows

POLL = 0.02
PROMPTS = ["Summarise north", "Summarise south [files=1]", "Summarise east", "Summarise west"]


@pytest.fixture(scope="module")
def faulty_emulator() -> Iterator[GigaEmulator]:
    """An emulator of this module's own, for tests that inject faults."""
    server = GigaEmulator(EmulatorConfig(time_scale=1000.0, logs_delay_seconds=1.0))
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def faults_cleared(faulty_emulator: GigaEmulator) -> Iterator[GigaEmulator]:
    faulty_emulator.faults.clear()
    yield faulty_emulator
    faulty_emulator.faults.clear()


def _new_credentials(emulator: GigaEmulator) -> GigaCredentials:
    key = "0x" + bytes(Account.create().key).hex()
    return GigaCredentials(private_key=key, base_url=emulator.url)


def _assert_harvested(result: BatchResult, dest: Path, emulator: GigaEmulator) -> None:
    assert [item.outcome for item in result.items] == [ItemOutcome.COMPLETED] * len(result.items)
    for item in result.items:
        assert item.output is not None and item.run_id is not None
        workspace = emulator.run_by_id(item.run_id).workspace
        expected = {
            p.relative_to(workspace).as_posix() for p in workspace.rglob("*") if p.is_file()
        }
        assert {f.path for f in item.output.files} == expected
        for path in expected:
            assert (dest / item.run_id / path).read_bytes() == (workspace / path).read_bytes()


async def _run_count(flow_run_id: Any) -> int:
    async with get_client() as client:
        return (await client.read_flow_run(flow_run_id)).run_count


async def _start_task_states(flow_run_id: Any) -> list[str]:
    """The state names of a flow run's start tasks (``Cached`` when Prefect's cache answered)."""
    async with get_client() as client:
        task_runs = await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    return sorted(t.state.name for t in task_runs if t.name.startswith("astart-giga-run"))


# --- start_key -----------------------------------------------------------------------------


def test_start_key_differs_between_wallets_for_the_same_item_and_explicit_key() -> None:
    a, b = Account.create().address, Account.create().address
    assert start_key(a, "p", scope="batch-1", item=0) != start_key(b, "p", scope="batch-1", item=0)
    assert start_key(a, "p", scope="s", item=0, idempotency_key="job-7") != start_key(
        b, "p", scope="s", item=0, idempotency_key="job-7"
    )
    assert start_key(a.lower(), "p", scope="s", item=0) == start_key(a, "p", scope="s", item=0)


def test_start_key_separates_items_scopes_prompts_and_tiers_but_not_an_explicit_key() -> None:
    address = Account.create().address
    base = start_key(address, "p", scope="s", item=0)
    assert base == start_key(address, "p", scope="s", item=0)
    assert base != start_key(address, "p", scope="s", item=1)
    assert base != start_key(address, "p", scope="other", item=0)
    assert base != start_key(address, "q", scope="s", item=0)
    assert base != start_key(address, "p", scope="s", item=0, tier="$1.00")
    assert start_key(address, "p", scope="s", item=0, idempotency_key="k") == start_key(
        address, "q", scope="t", item=9, idempotency_key="k"
    )


# --- task retries --------------------------------------------------------------------------


async def test_task_retry_after_a_lost_paid_reply_reattaches_without_paying_again(
    faults_cleared: GigaEmulator,
) -> None:
    emulator = faults_cleared
    credentials = _new_credentials(emulator)
    # The paid reply is lost, and the first attempt cannot tell which run it paid for.
    emulator.faults.drop_replies_after_settlement(1)
    emulator.faults.fail("list", 400, count=1)
    starter = astart_run.with_options(retries=1, retry_delay_seconds=0)

    @flow
    async def start_one() -> tuple[Any, StartedRun]:
        state = await starter(credentials, "The reply to this payment is lost", return_state=True)
        return state.state_details.task_run_id, await state.result()

    task_run_id, started = await start_one()

    (paid,) = payments_by(emulator, credentials.address)
    assert started.run_id == paid.run_id
    assert emulator.dropper.dropped >= 1
    async with get_client() as client:
        task_run = await client.read_task_run(task_run_id)
    assert task_run.run_count == 2  # the first attempt failed; Prefect retried the task


# --- flow-run retries ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "pass_item_index",
    [
        pytest.param(True, id="item_index"),
        pytest.param(False, id="no-item_index"),
    ],
)
async def test_flow_run_retry_after_a_crash_between_payment_and_wait_pays_nothing_more(
    emulator: GigaEmulator, credentials: GigaCredentials, dest: Path, pass_item_index: bool
) -> None:
    attempts: list[list[str]] = []

    @flow(retries=1, retry_delay_seconds=0)
    async def fragile() -> list[RunOutput]:
        started = []
        for index, prompt in enumerate(PROMPTS[:3]):
            extra = {"item_index": index} if pass_item_index else {}
            started.append(await astart_run(credentials, prompt, **extra))
        attempts.append([s.run_id for s in started])
        if len(attempts) == 1:
            raise RuntimeError("the worker died after paying, before waiting")
        outputs = []
        for s in started:
            run = await await_run(credentials, s.run_id, poll_interval=POLL, timeout=60)
            outputs.append(await aharvest_run(credentials, run.id, dest=str(dest)))
        return outputs

    state = await fragile(return_state=True)

    assert state.is_completed(), state.message
    assert len(attempts) == 2
    assert await _run_count(state.state_details.flow_run_id) == 2
    paid = payments_by(emulator, credentials.address)
    assert sorted(e.run_id for e in paid) == sorted(attempts[0])
    assert attempts[1] == attempts[0]
    outputs: list[RunOutput] = await state.result()
    assert [o.run_id for o in outputs] == attempts[0]
    for output in outputs:
        assert output.status is RunStatus.COMPLETED
        assert (dest / output.run_id / "output.md").is_file()


async def test_run_prompts_flow_retry_after_a_crash_between_payment_and_wait_reattaches(
    emulator: GigaEmulator,
    credentials: GigaCredentials,
    dest: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_wait = BatchRunner.wait_item
    crashed: set[str] = set()

    async def crash_once_per_run(runner: BatchRunner, started: StartedRun) -> Any:
        if started.run_id not in crashed:
            crashed.add(started.run_id)
            raise RuntimeError("the worker died between payment and wait")
        return await real_wait(runner, started)

    monkeypatch.setattr(BatchRunner, "wait_item", crash_once_per_run)
    retrying = run_prompts.with_options(retries=1, retry_delay_seconds=0)

    state = await retrying(PROMPTS, credentials, dest=str(dest), return_state=True, **FAST)

    assert state.is_completed(), state.message
    assert await _run_count(state.state_details.flow_run_id) == 2
    paid = payments_by(emulator, credentials.address)
    assert len(paid) == len(PROMPTS)
    assert {e.run_id for e in paid} == crashed
    result: BatchResult = await state.result()
    assert {item.run_id for item in result.items} == crashed
    _assert_harvested(result, dest, emulator)
    payments = table_rows(
        (await artifacts_of(state.state_details.flow_run_id))["giga-batch-payments"]
    )
    assert sorted(row["transaction"] for row in payments) == sorted(e.transaction for e in paid)


# --- batch ids across flow runs ------------------------------------------------------------


@pytest.mark.parametrize("refresh_cache", [False, True], ids=["prefect-cache", "journal-only"])
async def test_new_flow_run_with_the_same_batch_id_pays_nothing_more_and_harvests_everything(
    emulator: GigaEmulator,
    credentials: GigaCredentials,
    batch_id: str,
    dest: Path,
    monkeypatch: pytest.MonkeyPatch,
    refresh_cache: bool,
) -> None:
    async def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the worker died between payment and wait")

    with monkeypatch.context() as patch:
        patch.setattr(BatchRunner, "wait_item", crash)
        first = await run_prompts(
            PROMPTS, credentials, batch_id=batch_id, dest=str(dest), return_state=True, **FAST
        )
    assert first.is_failed()
    crashed: BatchResult = await first.result(raise_on_failure=False)
    assert {item.outcome for item in crashed.items} == {ItemOutcome.ERROR}
    paid = payments_by(emulator, credentials.address)
    assert sorted(e.run_id for e in paid) == sorted(item.run_id for item in crashed.items)

    # run_prompts keeps no Prefect cache per item: with or without refresh_cache, the payment
    # journal (and the EIP-3009 nonce derived from the key) stand between the re-run and a
    # second payment.
    with temporary_settings({PREFECT_TASKS_REFRESH_CACHE: refresh_cache}):
        second = await run_prompts(
            PROMPTS, credentials, batch_id=batch_id, dest=str(dest), return_state=True, **FAST
        )

    assert second.is_completed(), second.message
    assert second.state_details.flow_run_id != first.state_details.flow_run_id
    assert await _start_task_states(second.state_details.flow_run_id) == []  # none per item
    assert payments_by(emulator, credentials.address) == paid
    result: BatchResult = await second.result()
    assert [item.run_id for item in result.items] == [item.run_id for item in crashed.items]
    assert result.spent == crashed.spent == sum(e.usd for e in paid)
    _assert_harvested(result, dest, emulator)


async def test_two_wallets_with_the_same_batch_id_never_share_a_start(
    emulator: GigaEmulator, batch_id: str, dest: Path
) -> None:
    wallets = [_new_credentials(emulator), _new_credentials(emulator)]
    run_ids: list[set[str]] = []
    for credentials in wallets:
        state = await run_prompts(
            PROMPTS[:2], credentials, batch_id=batch_id, dest=str(dest), return_state=True, **FAST
        )
        assert state.is_completed(), state.message
        paid = payments_by(emulator, credentials.address)
        assert len(paid) == 2
        run_ids.append({e.run_id for e in paid})
    assert not run_ids[0] & run_ids[1]


async def test_tomorrows_flow_run_with_the_same_parameters_is_a_new_job(
    emulator: GigaEmulator, credentials: GigaCredentials, dest: Path
) -> None:
    invoice_key = f"invoice-{uuid.uuid4()}"
    items: list[Any] = [
        "Daily digest",
        "Daily digest",  # identical prompts in one batch are separate runs
        {"prompt": "Monthly invoice", "idempotency_key": invoice_key},
    ]
    days = []
    for _ in range(2):
        state = await run_prompts(items, credentials, dest=str(dest), return_state=True, **FAST)
        assert state.is_completed(), state.message
        days.append(await state.result())

    paid = payments_by(emulator, credentials.address)
    assert len(paid) == 5  # two digests each day, the keyed invoice once
    today, tomorrow = ([item.run_id for item in day.items] for day in days)
    assert len(set(today[:2] + tomorrow[:2])) == 4
    assert today[2] == tomorrow[2]
    assert sorted(e.run_id for e in paid) == sorted(set(today + tomorrow))


async def test_explicit_idempotency_key_reattaches_across_flow_runs_caches_and_journals(
    emulator: GigaEmulator,
    credentials: GigaCredentials,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = f"invoice-{uuid.uuid4()}"

    @flow
    async def bill(refresh_cache: bool) -> StartedRun:
        starter = astart_run.with_options(refresh_cache=refresh_cache)
        return await starter(credentials, "Bill the customer", idempotency_key=key)

    first = await bill(False)
    from_prefect_cache = await bill(False)
    from_journal = await bill(True)
    monkeypatch.setenv("GIGA_JOURNAL_PATH", str(tmp_path / "another-machine.sqlite3"))
    from_server = await bill(True)  # the same nonce is refused as used; the paid run is claimed

    (paid,) = payments_by(emulator, credentials.address)
    assert first.run_id == paid.run_id
    assert from_prefect_cache.run_id == from_journal.run_id == from_server.run_id == paid.run_id
    assert first.receipt is not None and first.receipt.transaction == paid.transaction
