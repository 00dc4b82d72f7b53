"""A batch of prompts read from a CSV or JSONL file, run through `run_prompts`.

CSV: a header with a ``prompt`` column and optional ``tier`` and ``files`` columns (files
separated by ``;``). JSONL: one ``{"prompt": ..., "tier": ..., "files": [...]}`` per line.
Give a ``batch_id`` to make the batch re-runnable: a cancelled or crashed batch run again
with the same id re-attaches to the runs it already paid for and harvests them.

The prompts go to ``run_prompts`` by reference (``items_from``, a JSON Lines file written by
`prefect_giga.save_items`), not as flow-run parameters, so a file of 10,000 prompts fits
under the Prefect server's parameter-size limit.

    python flows/batch_from_file.py flows/prompts.jsonl --batch-id orders-2026-12-03
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from prefect import flow

from prefect_giga import save_items
from prefect_giga.flows import run_prompts
from prefect_giga.results import BatchResult, PromptItem


def read_prompts(text: str, suffix: str) -> list[PromptItem]:
    """The prompts of a ``.csv`` or ``.jsonl`` file's text; blank prompts are skipped."""
    rows: list[dict[str, Any]]
    if suffix == ".csv":
        rows = [dict(row) for row in csv.DictReader(io.StringIO(text))]
        for row in rows:
            row["files"] = [f.strip() for f in (row.get("files") or "").split(";") if f.strip()]
            row["tier"] = row.get("tier") or None
    elif suffix in (".jsonl", ".ndjson"):
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    else:
        raise ValueError(f"Expected a .csv or .jsonl file, got {suffix or 'no extension'}")
    return [
        PromptItem(
            prompt=str(row["prompt"]).strip(),
            tier=row.get("tier"),
            files=list(row.get("files") or []),
        )
        for row in rows
        if str(row.get("prompt") or "").strip()
    ]


@flow(name="giga-batch-from-file", log_prints=True)
async def batch_from_file(
    path: str = "flows/prompts.jsonl",
    credentials_block: str = "giga-wallet",
    batch_id: str | None = None,
    spend_limit: Decimal = Decimal("10.00"),
    dest: str = "giga-outputs/batches",
    poll_interval: float = 5.0,
    chunk_deployment: str | None = None,
    chunk_size: int = 250,
) -> BatchResult:
    """Run every prompt of the CSV or JSONL file at ``path`` and keep the outputs.

    With ``chunk_deployment`` (say ``"giga-run-prompts-chunk/giga-chunks"``) and a
    ``batch_id``, each ``chunk_size`` prompts run as a flow run of that deployment, so the
    workers of its pool share the batch (docs/recipes/spread-over-workers.md).
    """
    file = Path(path)
    items = read_prompts(await asyncio.to_thread(file.read_text, encoding="utf-8"), file.suffix)
    with tempfile.TemporaryDirectory(prefix="giga-items-") as folder:
        state = await run_prompts(
            None,
            credentials_block,
            items_from=save_items(items, Path(folder) / "items.jsonl"),
            batch_id=batch_id,
            spend_limit=spend_limit,
            dest=dest,
            poll_interval=poll_interval,
            chunk_deployment=chunk_deployment,
            chunk_size=chunk_size,
            return_state=True,
        )
    result: BatchResult = await state.result(raise_on_failure=False)
    print(result.summary())
    if state.is_failed():
        raise RuntimeError(state.message or "some prompts failed")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", nargs="?", default="flows/prompts.jsonl")
    parser.add_argument("--block", default="giga-wallet")
    parser.add_argument("--batch-id")
    args = parser.parse_args()
    asyncio.run(batch_from_file(args.path, args.block, args.batch_id))
