"""A hostile server through the Prefect entry points (`run_prompt`, `run_prompts`,
`harvest_run`), on the real Prefect API: nothing lands outside ``dest``, no foreign origin is
fetched, each logical start is paid once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from prefect_giga import GigaCredentials
from prefect_giga.core.exceptions import GigaProtocolError, UnsafeLinkError
from prefect_giga.flows import run_prompt, run_prompts
from prefect_giga.results import BatchResult, ItemOutcome
from prefect_giga.tasks import aharvest_run, astart_run
from prefect_giga.testing import EmulatorConfig, GigaEmulator
from prefect_giga.testing.pytest_plugin import EmulatorFactory
from tests.hostile.support import TALLY, Listener, Route, files_outside

from .conftest import FAST, payments_by


@pytest.fixture
def hostile_emulator(giga_emulator_factory: EmulatorFactory) -> GigaEmulator:
    """An emulator of this test alone, so its hostile knobs touch no other test."""
    return giga_emulator_factory(EmulatorConfig(time_scale=1000.0, logs_delay_seconds=1.0))


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    """``sandbox/out/dest`` is the destination; anything else in the sandbox is an escape."""
    (tmp_path / "sandbox" / "out" / "dest").mkdir(parents=True)
    return tmp_path / "sandbox"


def dest_of(sandbox: Path) -> Path:
    return sandbox / "out" / "dest"


def creds(emulator: GigaEmulator, private_key: str) -> GigaCredentials:
    return GigaCredentials(private_key=private_key, base_url=emulator.url)


async def test_run_prompt_refuses_a_run_id_that_climbs_out_of_dest(
    hostile_emulator: GigaEmulator, private_key: str, sandbox: Path
) -> None:
    # The attack from the issue: the read reply's id is "../../x", which harvest used to
    # turn into a folder two levels above the destination.
    hostile_emulator.hostile.files_reply_run_id = "../../escape"
    block = creds(hostile_emulator, private_key)
    state = await run_prompt(
        "Write a report [files=2]", block, dest=str(dest_of(sandbox)), return_state=True, **FAST
    )
    assert state.is_failed()
    with pytest.raises(GigaProtocolError) as caught:
        await state.result()
    TALLY.case("run id", caught.value)
    outside = files_outside(sandbox, dest_of(sandbox))
    TALLY.files_outside += len(outside)
    assert outside == [] and not (sandbox / "escape").exists()
    assert list(dest_of(sandbox).rglob("*")) == []
    assert len(payments_by(hostile_emulator, block.address)) == 1


async def test_run_prompts_isolates_items_whose_reply_ids_are_hostile(
    hostile_emulator: GigaEmulator, private_key: str, sandbox: Path
) -> None:
    hostile_emulator.hostile.files_reply_run_id = "/giga-escape-absolute"
    block = creds(hostile_emulator, private_key)
    state = await run_prompts(
        ["First [files=1]", "Second [files=1]"],
        block,
        dest=str(dest_of(sandbox)),
        return_state=True,
        **FAST,
    )
    result: BatchResult = await state.result(raise_on_failure=False)
    assert [item.outcome for item in result.items] == [ItemOutcome.ERROR] * 2
    assert all("GigaProtocolError" in (item.error or "") for item in result.items)
    TALLY.case("run id")
    outside = files_outside(sandbox, dest_of(sandbox))
    TALLY.files_outside += len(outside)
    assert outside == [] and not Path("/giga-escape-absolute").exists()
    assert len(payments_by(hostile_emulator, block.address)) == 2  # each paid once


async def test_harvest_run_refuses_a_link_to_another_http_origin(
    hostile_emulator: GigaEmulator, private_key: str, sandbox: Path
) -> None:
    block = creds(hostile_emulator, private_key)
    started = await astart_run(block, "Write a report [files=1]")
    with Listener({"/trap": Route(b"internal\n")}) as trap:
        hostile_emulator.hostile.file_link = trap.url("/trap")
        with pytest.raises(UnsafeLinkError) as caught:
            await aharvest_run(block, started.run_id, dest=str(dest_of(sandbox)))
    TALLY.case("link", caught.value)
    TALLY.foreign_requests += len(trap.requests)
    assert trap.requests == []
    assert [p for p in dest_of(sandbox).rglob("*") if p.is_file()] == []
    assert files_outside(sandbox, dest_of(sandbox)) == []
    assert os.listdir(sandbox) == ["out"]
