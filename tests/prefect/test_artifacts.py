"""What the published artifacts say, read back through the Prefect API."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import PrefectClient

from prefect_giga import GigaCredentials
from prefect_giga.flows import run_prompt, run_prompts

from .conftest import FAST, artifacts_of


async def test_output_artifact_escapes_html_the_agent_echoed(
    credentials: GigaCredentials, dest: Path
) -> None:
    prompt = "Explain <script>alert('x')</script> & <b>bold</b> **safely**"

    state = await run_prompt(prompt, credentials, dest=str(dest), return_state=True, **FAST)

    output = await state.result()
    assert "<script>" in output.output_markdown  # the file itself is what the agent wrote
    markdown = (await artifacts_of(state.state_details.flow_run_id))["giga-output"].data
    assert "<script>" not in markdown and "<b>" not in markdown
    assert "&lt;script&gt;alert('x')&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in markdown
    assert "**safely**" in markdown


async def test_output_artifact_notes_a_run_harvested_without_output_md(
    credentials: GigaCredentials, dest: Path
) -> None:
    state = await run_prompt(
        "Only data please [files=1]",
        credentials,
        dest=str(dest),
        include=["data/*"],
        return_state=True,
        **FAST,
    )

    output = await state.result()
    assert [f.path for f in output.files] == ["data/extra_1.txt"]
    markdown = (await artifacts_of(state.state_details.flow_run_id))["giga-output"].data
    assert markdown == f"*Run `{output.run_id}` ended `completed` without an output.md.*"


async def test_progress_artifact_ends_at_100_even_when_updates_land_out_of_order(
    credentials: GigaCredentials, dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_update = PrefectClient.update_artifact
    later_update_done = asyncio.Event()
    calls = 0

    async def first_update_is_slow(self: PrefectClient, *args: Any, **kwargs: Any) -> Any:
        # The first progress update is held (a slow request) until a later one has landed.
        nonlocal calls
        calls += 1
        if calls == 1:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(later_update_done.wait(), timeout=3)
            return await real_update(self, *args, **kwargs)
        try:
            return await real_update(self, *args, **kwargs)
        finally:
            later_update_done.set()

    monkeypatch.setattr(PrefectClient, "update_artifact", first_update_is_slow)

    state = await run_prompts(
        ["First", "Second"], credentials, dest=str(dest), return_state=True, **FAST
    )

    assert state.is_completed(), state.message
    progress = (await artifacts_of(state.state_details.flow_run_id))["giga-batch-progress"]
    assert float(progress.data) == 100.0
    assert progress.description == "Giga batch: 2 of 2 items finished"
