"""`run_prompts` with a chunk deployment refuses, before paying anything, what cannot work."""

from __future__ import annotations

import pytest
from prefect import flow

from prefect_giga import GigaCredentials
from prefect_giga.flows import run_prompts
from prefect_giga.testing import GigaEmulator

from .conftest import FAST, payments_by

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
