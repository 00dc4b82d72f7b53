"""`run_prompts` and `run_prompt` under a real Prefect API against the emulator."""

from __future__ import annotations

import asyncio
import hashlib
import html
import re
from decimal import Decimal
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.results import ResultStore

from prefect_giga import GigaCredentials, ItemOutcome, RunFailedError
from prefect_giga.flows import run_prompt, run_prompts
from prefect_giga.results import BatchResult
from prefect_giga.testing import GigaEmulator

from .conftest import FAST, artifacts_of, payments_by, table_rows


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_batch_of_twenty_pays_once_each_harvests_everything_and_publishes_artifacts(
    emulator: GigaEmulator, credentials: GigaCredentials, dest: Path
) -> None:
    prompts = [f"Summarise region {i} [files={i % 3}]" for i in range(20)]

    state = await run_prompts(
        prompts,
        credentials,
        max_concurrency=10,
        dest=str(dest),
        item_artifacts=True,
        return_state=True,
        **FAST,
    )

    assert state.is_completed(), state.message
    result: BatchResult = await state.result()
    assert [item.outcome for item in result.items] == [ItemOutcome.COMPLETED] * 20
    paid = payments_by(emulator, credentials.address)
    assert len(paid) == 20
    assert sorted(e.run_id for e in paid) == sorted(item.run_id for item in result.items)
    assert result.spent == Decimal("10.00")

    # Every output file is on disk, byte for byte what the agent wrote.
    for item in result.items:
        assert item.output is not None
        workspace = emulator.run_by_id(item.run_id).workspace
        expected = sorted(
            p.relative_to(workspace).as_posix() for p in workspace.rglob("*") if p.is_file()
        )
        assert sorted(f.path for f in item.output.files) == expected
        assert len(expected) == 1 + item.index % 3
        for harvested in item.output.files:
            local = dest / item.run_id / harvested.path
            assert Path(harvested.location) == local
            assert local.read_bytes() == (workspace / harvested.path).read_bytes()

    artifacts = await artifacts_of(state.state_details.flow_run_id)

    # Asked for: one markdown artifact per item holding its output.md, HTML-escaped.
    for item in result.items:
        markdown = artifacts[f"giga-batch-output-{item.index}"]
        assert markdown.type == "markdown"
        text = (dest / item.run_id / "output.md").read_text()
        assert html.escape(text, quote=False) in markdown.data
        assert f"&gt; {item.prompt}" in markdown.data

    # The files table lists each harvested file with its real size and sha256.
    files = table_rows(artifacts["giga-batch-files"])
    assert len(files) == sum(1 + i % 3 for i in range(20))
    for row in files:
        local = dest / row["run_id"] / row["path"]
        assert row["size"] == local.stat().st_size
        assert row["sha256"] == _sha256(local)
        assert row["location"] == str(local)

    # The payments table has one row per payment, matching the emulator's ledger.
    payments = table_rows(artifacts["giga-batch-payments"])
    by_run = {e.run_id: e for e in paid}
    assert len(payments) == 20
    for row in payments:
        entry = by_run.pop(row["run_id"])
        assert row["transaction"] == entry.transaction
        assert Decimal(row["amount_usdc"]) == entry.usd == Decimal("0.50")
        assert row["payer"].lower() == credentials.address.lower()
        assert row["pay_to"].lower() == emulator.payee.lower()
    assert not by_run
    assert "total $10.00" in artifacts["giga-batch-payments"].description

    # The summary has one row per item with its outcome.
    summary = table_rows(artifacts["giga-batch-summary"])
    assert [row["index"] for row in summary] == list(range(20))
    assert {row["outcome"] for row in summary} == {"completed"}
    assert [row["run_id"] for row in summary] == [item.run_id for item in result.items]
    assert [row["files"] for row in summary] == [1 + i % 3 for i in range(20)]

    # The progress artifact ends at 100 (test_artifacts.py checks it under reordering).
    progress = artifacts["giga-batch-progress"]
    assert progress.type == "progress"
    assert float(progress.data) == 100
    assert re.fullmatch(r"Giga batch: \d+ of 20 items finished", progress.description or "")


async def test_one_failed_item_does_not_sink_the_others_and_fails_the_flow_run(
    emulator: GigaEmulator, credentials: GigaCredentials, dest: Path
) -> None:
    prompts = ["Fine 0 [files=1]", "Breaks [fail=boom]", "Fine 2", "Fine 3"]

    state = await run_prompts(
        prompts, credentials, dest=str(dest), item_artifacts=True, return_state=True, **FAST
    )

    assert state.is_failed()
    assert state.message == "3 of 4 completed, 1 failed, 0 refused, 0 errors; spent $2.00"
    result: BatchResult = await state.result(raise_on_failure=False)
    outcomes = [item.outcome for item in result.items]
    assert outcomes == [
        ItemOutcome.COMPLETED,
        ItemOutcome.FAILED,
        ItemOutcome.COMPLETED,
        ItemOutcome.COMPLETED,
    ]
    assert result.items[1].error == "run failed (boom)"
    assert len(payments_by(emulator, credentials.address)) == 4  # a failed run is still paid
    assert [o.run_id for o in result.outputs] == [result.items[i].run_id for i in (0, 2, 3)]
    for output in result.outputs:
        assert (dest / output.run_id / "output.md").read_text() == output.output_markdown

    artifacts = await artifacts_of(state.state_details.flow_run_id)
    for index in (0, 2, 3):
        run_id = result.items[index].run_id
        assert f"Run: {run_id}" in artifacts[f"giga-batch-output-{index}"].data
    summary = table_rows(artifacts["giga-batch-summary"])
    assert [row["outcome"] for row in summary] == [o.value for o in outcomes]
    assert summary[1]["error"] == "run failed (boom)"
    assert "1 failed" in artifacts["giga-batch-summary"].description


async def test_allow_failures_ends_the_flow_run_completed_with_the_failure_reported(
    emulator: GigaEmulator, credentials: GigaCredentials, dest: Path
) -> None:
    state = await run_prompts(
        ["Fine", "Breaks [fail=boom]"],
        credentials,
        allow_failures=True,
        dest=str(dest),
        return_state=True,
        **FAST,
    )

    assert state.is_completed()
    assert state.message == "1 of 2 completed, 1 failed, 0 refused, 0 errors; spent $1.00"
    result: BatchResult = await state.result()
    assert [item.outcome for item in result.items] == [ItemOutcome.COMPLETED, ItemOutcome.FAILED]
    assert (dest / result.items[0].run_id / "output.md").is_file()


async def test_spend_limit_for_seven_of_ten_pays_seven_and_reports_three_refused(
    emulator: GigaEmulator, credentials: GigaCredentials, dest: Path
) -> None:
    prompts = [f"Budgeted item {i} [files=1]" for i in range(10)]

    state = await run_prompts(
        prompts, credentials, spend_limit="3.50", dest=str(dest), return_state=True, **FAST
    )

    paid = payments_by(emulator, credentials.address)
    assert len(paid) == 7
    assert sum(e.usd for e in paid) == Decimal("3.50")
    assert state.is_failed()
    assert state.message == "7 of 10 completed, 0 failed, 3 refused, 0 errors; spent $3.50"
    result: BatchResult = await state.result(raise_on_failure=False)
    completed = [i for i in result.items if i.outcome is ItemOutcome.COMPLETED]
    refused = [i for i in result.items if i.outcome is ItemOutcome.REFUSED]
    assert len(completed) == 7 and len(refused) == 3
    assert sorted(i.run_id for i in completed) == sorted(e.run_id for e in paid)
    for item in refused:
        assert item.run_id is None and item.receipt is None and item.output is None
        assert item.error is not None
        assert item.error.startswith("BudgetExceededError: ")
        assert "$3.50 spend limit" in item.error and "nothing was signed" in item.error
    for item in completed:
        assert {f.path for f in item.output.files} == {"output.md", "data/extra_1.txt"}
        assert (dest / item.run_id / "data" / "extra_1.txt").is_file()
    assert result.spent == Decimal("3.50")

    artifacts = await artifacts_of(state.state_details.flow_run_id)
    summary = table_rows(artifacts["giga-batch-summary"])
    assert sorted(row["index"] for row in summary if row["outcome"] == "refused") == sorted(
        i.index for i in refused
    )
    assert "3 refused" in artifacts["giga-batch-summary"].description
    assert len(table_rows(artifacts["giga-batch-payments"])) == 7
    assert len(table_rows(artifacts["giga-batch-files"])) == 14


async def test_rerun_with_the_same_batch_id_stays_within_the_spend_limit(
    emulator: GigaEmulator,
    credentials: GigaCredentials,
    batch_id: str,
    dest: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prompts = [f"Budgeted rerun item {i}" for i in range(4)]
    first = await run_prompts(
        prompts,
        credentials,
        spend_limit="1.50",
        batch_id=batch_id,
        dest=str(dest),
        return_state=True,
        **FAST,
    )
    assert first.message == "3 of 4 completed, 0 failed, 1 refused, 0 errors; spent $1.50"

    # Result storage that answers in 1 s (remote storage under load): the cached starts are
    # read back after the refused item has been quoted again.
    real_aread = ResultStore.aread

    async def slow_aread(self: ResultStore, key: str, holder: str | None = None) -> object:
        if key.startswith("giga-"):
            await asyncio.sleep(1.0)
        return await real_aread(self, key, holder=holder)

    monkeypatch.setattr(ResultStore, "aread", slow_aread)
    await run_prompts(
        prompts,
        credentials,
        spend_limit="1.50",
        batch_id=batch_id,
        dest=str(dest),
        return_state=True,
        **FAST,
    )

    assert sum(e.usd for e in payments_by(emulator, credentials.address)) <= Decimal("1.50")


async def test_dry_run_quotes_every_item_pays_nothing_and_returns_the_total(
    emulator: GigaEmulator, credentials: GigaCredentials, dest: Path
) -> None:
    items = [
        "Cheap 1",
        "Cheap 2",
        {"prompt": "Dearer 1", "tier": "$1.00"},
        "Cheap 3",
        {"prompt": "Dearer 2", "tier": "$1.00"},
    ]
    runs_before = len(emulator.runs)

    state = await run_prompts(
        items, credentials, dry_run=True, dest=str(dest), return_state=True, **FAST
    )

    assert state.is_completed()
    assert state.message == "Dry run: $3.50 quoted"
    result: BatchResult = await state.result()
    assert result.dry_run and result.quoted_total == Decimal("3.50") and result.spent == 0
    assert [item.outcome for item in result.items] == [ItemOutcome.QUOTED] * 5
    assert [item.quote.amount for item in result.items] == [
        Decimal("0.50"),
        Decimal("0.50"),
        Decimal("1.00"),
        Decimal("0.50"),
        Decimal("1.00"),
    ]
    assert payments_by(emulator, credentials.address) == []
    assert len(emulator.runs) == runs_before
    assert not dest.exists()

    artifacts = await artifacts_of(state.state_details.flow_run_id)
    summary = artifacts["giga-batch-summary"]
    assert summary.description == "Dry run: 5 items quoted at $3.50"
    assert [row["quote_usdc"] for row in table_rows(summary)] == [
        str(item.quote.amount) for item in result.items
    ]
    assert set(artifacts) == {"giga-batch-summary"}


@pytest.mark.parametrize(
    ("dedupe", "expected_prompts"),
    [
        (False, ["Same prompt", "Same prompt", "Other prompt"]),
        (True, ["Same prompt", "Other prompt"]),
    ],
)
async def test_identical_prompts_are_separate_runs_unless_deduped(
    emulator: GigaEmulator,
    credentials: GigaCredentials,
    dest: Path,
    dedupe: bool,
    expected_prompts: list[str],
) -> None:
    prompts = ["Same prompt", "Same prompt", "Other prompt"]

    state = await run_prompts(
        prompts, credentials, dedupe=dedupe, dest=str(dest), return_state=True, **FAST
    )

    assert state.is_completed(), state.message
    result: BatchResult = await state.result()
    assert [item.prompt for item in result.items] == expected_prompts
    paid = payments_by(emulator, credentials.address)
    assert len(paid) == len(expected_prompts)
    assert sorted(e.run_id for e in paid) == sorted(item.run_id for item in result.items)
    assert len({item.run_id for item in result.items}) == len(expected_prompts)


async def test_run_prompt_harvests_one_run_and_publishes_its_artifacts(
    emulator: GigaEmulator, credentials: GigaCredentials, dest: Path
) -> None:
    state = await run_prompt(
        "A single report [files=2]",
        credentials,
        dest=str(dest),
        artifact_prefix="Single Report",
        return_state=True,
        **FAST,
    )

    assert state.is_completed()
    output = await state.result()
    (paid,) = payments_by(emulator, credentials.address)
    assert output.run_id == paid.run_id
    assert output.receipt is not None and output.receipt.transaction == paid.transaction
    artifacts = await artifacts_of(state.state_details.flow_run_id)
    assert set(artifacts) == {
        "single-report-output",
        "single-report-files",
        "single-report-payments",
    }
    assert (
        html.escape(output.output_markdown, quote=False) in artifacts["single-report-output"].data
    )
    files = table_rows(artifacts["single-report-files"])
    assert sorted(row["path"] for row in files) == ["data/extra_2.txt", "extra_1.txt", "output.md"]
    for row in files:
        assert row["sha256"] == _sha256(dest / output.run_id / row["path"])
    (payment,) = table_rows(artifacts["single-report-payments"])
    assert payment["transaction"] == paid.transaction
    assert payment["amount_usdc"] == "0.5"


async def test_run_prompt_for_a_failed_run_harvests_publishes_then_raises(
    emulator: GigaEmulator, credentials: GigaCredentials, dest: Path
) -> None:
    state = await run_prompt(
        "Falls over [fail=boom]", credentials, dest=str(dest), return_state=True, **FAST
    )

    assert state.is_failed()
    with pytest.raises(RunFailedError) as caught:
        await state.result()
    assert caught.value.error_code == "boom"
    (paid,) = payments_by(emulator, credentials.address)
    assert (dest / paid.run_id / "output.md").is_file()
    artifacts = await artifacts_of(state.state_details.flow_run_id)
    assert {"giga-output", "giga-files", "giga-payments"} <= set(artifacts)


async def test_batch_loads_credentials_saved_as_a_block_by_name(
    emulator: GigaEmulator, credentials: GigaCredentials, dest: Path
) -> None:
    name = f"batch-wallet-{credentials.address[2:10].lower()}"
    await credentials.save(name)

    state = await run_prompts(["By name"], name, dest=str(dest), return_state=True, **FAST)

    assert state.is_completed(), state.message
    (paid,) = payments_by(emulator, credentials.address)
    result: BatchResult = await state.result()
    assert result.items[0].run_id == paid.run_id
    async with get_client() as client:
        flow_run = await client.read_flow_run(state.state_details.flow_run_id)
    assert flow_run.parameters["credentials"] == name
