"""The private key never leaves the block: not in artifacts, logs, parameters or results."""

from __future__ import annotations

import os
import re
from pathlib import Path
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_LOCAL_STORAGE_PATH

from prefect_giga import GigaCredentials
from prefect_giga.flows import run_prompt, run_prompts
from prefect_giga.testing import GigaEmulator

from .conftest import FAST, all_artifacts_of, logs_of, payments_by


async def _everything_prefect_stored(flow_run_id: UUID) -> list[str]:
    texts: list[str] = []
    for artifact in await all_artifacts_of(flow_run_id):
        texts += [str(artifact.data), artifact.description or "", str(artifact.metadata_)]
    texts += [log.message for log in await logs_of(flow_run_id)]
    async with get_client() as client:
        flow_run = await client.read_flow_run(flow_run_id)
    texts += [flow_run.model_dump_json(), str(flow_run.state.message if flow_run.state else "")]
    return texts


async def test_private_key_never_reaches_artifacts_logs_parameters_or_result_storage(
    emulator: GigaEmulator,
    private_key: str,
    dest: Path,
    prefect_caplog: pytest.LogCaptureFixture,
) -> None:
    credentials = GigaCredentials(private_key=private_key, base_url=emulator.url)
    secret = private_key.removeprefix("0x").lower()
    block_name = f"secret-wallet-{credentials.address[2:10].lower()}"
    await credentials.save(block_name)

    states = [
        # paid, failed and refused items, and their error messages
        await run_prompts(
            ["Fine [files=1]", "Breaks [fail=boom]", "Fine again", "One too many"],
            credentials,
            max_concurrency=1,
            spend_limit="1.50",
            dest=str(dest),
            return_state=True,
            **FAST,
        ),
        await run_prompts(["Just a quote"], credentials, dry_run=True, return_state=True),
        await run_prompt("By block name", block_name, dest=str(dest), return_state=True, **FAST),
    ]
    assert states[0].message == "2 of 4 completed, 1 failed, 1 refused, 0 errors; spent $1.50"
    assert len(payments_by(emulator, credentials.address)) == 4

    texts: list[str] = []
    for state in states:
        flow_run_id = state.state_details.flow_run_id
        texts += await _everything_prefect_stored(flow_run_id)
        async with get_client() as client:
            parameters = (await client.read_flow_run(flow_run_id)).parameters
        if isinstance(parameters["credentials"], str):
            assert parameters["credentials"] == block_name
        else:
            assert set(parameters["credentials"]["private_key"]) == {"*"}
    texts.append(prefect_caplog.text)
    storage = Path(PREFECT_LOCAL_STORAGE_PATH.value())
    stored_results = [p for p in storage.rglob("*") if p.is_file()]
    assert any(p.name.startswith("giga-") for p in stored_results)  # the cached starts
    texts += [p.read_bytes().decode("latin-1") for p in stored_results]
    journal = Path(os.environ["GIGA_JOURNAL_PATH"])  # the payment journal of this test
    assert journal.is_file()
    texts.append(journal.read_bytes().decode("latin-1"))

    assert any("Giga run" in text for text in texts)  # the search covers the run's logs
    for text in texts:
        assert secret not in text.lower()
        assert secret[:32] not in text.lower()


async def test_presigned_download_tokens_are_redacted_from_logs(
    credentials: GigaCredentials, dest: Path, prefect_caplog: pytest.LogCaptureFixture
) -> None:
    state = await run_prompt(
        "Download me [files=2]", credentials, dest=str(dest), return_state=True, **FAST
    )
    assert state.is_completed()

    stored = [log.message for log in await logs_of(state.state_details.flow_run_id)]
    for text in [prefect_caplog.text, *stored]:
        for token in re.findall(r"token=([^\s&\"']*)", text):
            assert token == "[redacted]"
    assert "token=[redacted]" in prefect_caplog.text  # downloads were logged, redacted
