"""Batch items passed by reference: ``run_prompts(items_from=...)`` reads a JSON Lines file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client

from prefect_giga import GigaCredentials, ItemOutcome, ItemsFileError, save_items
from prefect_giga.flows import run_prompts
from prefect_giga.results import BatchResult
from prefect_giga.testing import GigaEmulator

from .conftest import FAST, payments_by


async def test_items_from_a_file_keep_the_flow_run_parameters_small(
    emulator: GigaEmulator, credentials: GigaCredentials, dest: Path, batch_id: str, tmp_path: Path
) -> None:
    prompts = [f"By reference {i} " + "x" * 200 for i in range(6)]
    where = save_items(prompts, tmp_path / "prompts.jsonl")

    state = await run_prompts(
        None,
        credentials,
        items_from=where,
        batch_id=batch_id,
        dest=str(dest),
        return_state=True,
        **FAST,
    )

    assert state.is_completed(), state.message
    result: BatchResult = await state.result()
    assert [r.prompt for r in result.items] == prompts
    assert {r.outcome for r in result.items} == {ItemOutcome.COMPLETED}
    async with get_client() as prefect:
        flow_run = await prefect.read_flow_run(state.state_details.flow_run_id)
    assert flow_run.parameters["items"] is None
    assert flow_run.parameters["items_from"] == where
    assert len(json.dumps(flow_run.parameters)) < 1000  # the prompts stay in the file

    # The same items given inline are the same batch: it re-attaches, nothing is paid again.
    again = await run_prompts(prompts, credentials, batch_id=batch_id, dest=str(dest), **FAST)
    assert [r.run_id for r in again.items] == [r.run_id for r in result.items]
    assert len(payments_by(emulator, credentials.address)) == len(prompts)


async def test_a_bad_items_file_fails_before_anything_is_paid(
    emulator: GigaEmulator, credentials: GigaCredentials, dest: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('"Fine"\n{"prompt": "Also fine"}\n{"tier": "$1.00"}\n', encoding="utf-8")

    with pytest.raises(ItemsFileError, match=r"bad\.jsonl, line 3: not an item \(prompt: "):
        await run_prompts(None, credentials, items_from=str(bad), dest=str(dest), **FAST)
    with pytest.raises(ValueError, match="either items or items_from"):
        await run_prompts(["One"], credentials, items_from=str(bad), dest=str(dest), **FAST)
    with pytest.raises(ValueError, match="either items or items_from"):
        await run_prompts(None, credentials, dest=str(dest), **FAST)

    assert payments_by(emulator, credentials.address) == []
