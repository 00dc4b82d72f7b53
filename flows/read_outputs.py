"""Downstream of a Giga batch: read the outputs it harvested and publish a digest.

Deployed by `deployments/prefect.yaml` (``read-giga-outputs``) and run by an automation on
``giga.batch.completed`` (docs/recipes/automations.md), which passes the event's payload on:

    parameters:
      dest: "{{ event.payload.dest }}"
      run_ids: "{{ event.payload.run_ids }}"
      batch: "{{ event.payload.batch }}"

    python flows/read_outputs.py giga-outputs/nightly RUN_ID [RUN_ID...]   # by hand
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from prefect import flow
from prefect.artifacts import acreate_markdown_artifact

DIGEST_KEY = "giga-downstream-digest"


def first_line(path: Path) -> str:
    """The first non-empty line of a text file, or a note when it has none."""
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.strip():
                return line.strip()[:200]
    return "(empty)"


@flow(name="giga-read-outputs", log_prints=True)
async def read_giga_outputs(
    dest: str = "giga-outputs/nightly",
    run_ids: list[str] | None = None,
    batch: str = "",
) -> dict[str, int]:
    """Read ``dest/<run_id>/`` of each run; publish a digest; return files found per run."""
    found: dict[str, int] = {}
    lines = [f"# Outputs of Giga batch {batch or '(unnamed)'}", ""]
    for run_id in run_ids or []:
        folder = Path(dest) / run_id
        files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
        found[run_id] = len(files)
        summary = first_line(folder / "output.md") if (folder / "output.md").is_file() else ""
        lines.append(f"- `{run_id}`: {len(files)} file(s). {summary}")
    await acreate_markdown_artifact("\n".join(lines), key=DIGEST_KEY)
    print(f"Read {sum(found.values())} file(s) from {len(found)} run folder(s) under {dest}")
    missing = [run_id for run_id, count in found.items() if count == 0]
    if missing:
        raise FileNotFoundError(f"No harvested files under {dest} for {', '.join(missing)}")
    return found


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dest")
    parser.add_argument("run_ids", nargs="*")
    args = parser.parse_args()
    asyncio.run(read_giga_outputs(args.dest, args.run_ids))
