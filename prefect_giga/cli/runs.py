"""``prefect-giga runs``: list, show and wait for this wallet's runs (free, signed-in reads)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import RenderableType

from ..client.async_client import GigaClient
from ..client.watcher import RunWatcher
from ..core.models import Run, RunStatus, RunSummary
from .common import BaseUrlOption, BlockOption, JsonOption, open_client
from .output import EXIT_ERROR, Output, execute, fields_table, rows_table

__all__ = ["app", "run_fields", "run_tables", "wait_for"]

app = typer.Typer(
    name="runs",
    help="List, show and wait for this wallet's runs.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

TimeoutOption = Annotated[
    float | None,
    typer.Option("--timeout", metavar="SECONDS", help="Stop waiting after this long."),
]
PollOption = Annotated[
    float,
    typer.Option("--poll-interval", metavar="SECONDS", help="Seconds between looks at the runs."),
]


def run_fields(run: RunSummary) -> dict[str, Any]:
    """A run as plain fields (files and log count too, when the read has them).

    Example:
        >>> from datetime import datetime, timezone
        >>> moment = datetime(2026, 3, 2, tzinfo=timezone.utc)
        >>> run_fields(RunSummary(id="r1", status=RunStatus.RUNNING,
        ...     createdAt=moment, updatedAt=moment))["status"]
        'running'
    """
    fields: dict[str, Any] = {
        "id": run.id,
        "status": run.status.value,
        "error_code": run.error_code,
        "created_at": run.created_at,
        "updated_at": run.updated_at,
    }
    if isinstance(run, Run):
        fields["log_records"] = len(run.logs.records) if run.logs is not None else None
        if run.files is not None:
            fields["files"] = [{"path": f.path, "type": f.type, "size": f.size} for f in run.files]
    return fields


def run_tables(run: RunSummary, title: str = "Run") -> list[RenderableType]:
    """A run as a fields table, and its files as a second table when the read has them.

    Example:
        >>> from datetime import datetime, timezone
        >>> moment = datetime(2026, 3, 2, tzinfo=timezone.utc)
        >>> len(run_tables(RunSummary(id="r1", status=RunStatus.RUNNING,
        ...     createdAt=moment, updatedAt=moment)))
        1
    """
    fields = run_fields(run)
    files = fields.pop("files", None)
    tables: list[RenderableType] = [
        fields_table(title, {name.replace("_", " ").capitalize(): v for name, v in fields.items()})
    ]
    if files is not None:
        rows = [[f["path"], f["type"], f["size"]] for f in files]
        tables.append(rows_table(f"Files of run {run.id}", ["Path", "Type", "Bytes"], rows))
    return tables


async def wait_for(
    giga: GigaClient, run_id: str, *, timeout: float | None, poll_interval: float
) -> Run:
    """Wait until the run is ``completed`` or ``failed`` and return it.

    Raises:
        GigaTimeoutError: It did not finish within ``timeout`` (it keeps running at Giga).

    Example:
        ```python
        run = await wait_for(giga, run_id, timeout=600, poll_interval=5)
        ```
    """
    watcher = RunWatcher(giga, poll_interval=poll_interval)
    try:
        return await watcher.wait(run_id, timeout=timeout)
    finally:
        await watcher.aclose()


@app.command("list")
def list_runs(
    limit: Annotated[int, typer.Option("--limit", min=1, max=100, help="Runs to show.")] = 10,
    offset: Annotated[int, typer.Option("--offset", min=0, help="Runs to skip.")] = 0,
    block: BlockOption = None,
    base_url: BaseUrlOption = None,
    json_mode: JsonOption = False,
) -> None:
    """List this wallet's runs, most recently updated first.

    Example: prefect-giga runs list --limit 20
    """
    output = Output(json_mode)

    async def work() -> None:
        async with open_client(block, base_url) as giga:
            runs = await giga.list_runs(limit=limit, offset=offset)
        rows = [run_fields(run) for run in runs]
        output.result(
            {"runs": rows},
            lambda: rows_table(
                f"Runs of {giga.address}",
                ["Run", "Status", "Error", "Created", "Updated"],
                [
                    [r["id"], r["status"], r["error_code"], r["created_at"], r["updated_at"]]
                    for r in rows
                ],
            ),
        )

    execute(output, work)


@app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(metavar="ID", help="The run.")],
    files: Annotated[bool, typer.Option("--files/--no-files", help="List its files.")] = True,
    block: BlockOption = None,
    base_url: BaseUrlOption = None,
    json_mode: JsonOption = False,
) -> None:
    """Show one run: status, times, log records and files.

    Example: prefect-giga runs show clx8m2k4p0000abc123xyz
    """
    output = Output(json_mode)

    async def work() -> None:
        async with open_client(block, base_url) as giga:
            run = await giga.read(run_id, include_files=files)
        output.result(run_fields(run), lambda: run_tables(run))

    execute(output, work)


@app.command("wait")
def wait(
    run_id: Annotated[str, typer.Argument(metavar="ID", help="The run.")],
    timeout: TimeoutOption = None,
    poll_interval: PollOption = 5.0,
    block: BlockOption = None,
    base_url: BaseUrlOption = None,
    json_mode: JsonOption = False,
) -> None:
    """Wait until a run completes or fails; exit 1 if it failed.

    Example: prefect-giga runs wait clx8m2k4p0000abc123xyz --timeout 900
    """
    output = Output(json_mode)

    async def work() -> int | None:
        async with open_client(block, base_url) as giga:
            run = await wait_for(giga, run_id, timeout=timeout, poll_interval=poll_interval)
        output.result(run_fields(run), lambda: run_tables(run))
        return EXIT_ERROR if run.status is RunStatus.FAILED else None

    execute(output, work)
