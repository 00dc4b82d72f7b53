"""``prefect-giga download``: fetch one file, or every file, of a run into a folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..client.async_client import GigaClient
from ..client.files import DownloadedFile
from ..core.exceptions import GigaConfigError
from .common import BaseUrlOption, BlockOption, JsonOption, open_client
from .output import Output, execute, rows_table

__all__ = ["download", "download_files", "files_table"]


async def download_files(
    giga: GigaClient, run_id: str, dest: Path, path: str | None = None
) -> list[DownloadedFile]:
    """Download ``path`` (or every file) of the run into ``dest``, keeping relative paths.

    Each file is written to a temporary name and renamed into place; a path that would land
    outside ``dest`` is refused before anything is written.

    Example:
        ```python
        files = await download_files(giga, run_id, Path("outputs"))
        ```
    """
    if path is not None:
        return [await giga.download_file(run_id, path, dest)]
    run = await giga.read(run_id, include_files=True)
    return [
        await giga.download_file(run_id, entry.path, dest)
        for entry in run.files or []
        if entry.is_file
    ]


def files_fields(files: list[DownloadedFile]) -> list[dict[str, Any]]:
    """Downloaded files as plain fields.

    Example:
        >>> files_fields([])
        []
    """
    return [
        {"path": f.remote_path, "local_path": f.local_path, "size": f.size, "sha256": f.sha256}
        for f in files
    ]


def files_table(run_id: str, files: list[DownloadedFile]) -> Any:
    """The downloaded files as a table.

    Example:
        >>> files_table("r1", []).row_count
        0
    """
    return rows_table(
        f"Downloaded from run {run_id}",
        ["Path", "Saved as", "Bytes", "SHA-256"],
        [[f.remote_path, f.local_path, f.size, f.sha256] for f in files],
    )


def download(
    run_id: Annotated[str, typer.Argument(metavar="ID", help="The run.")],
    targets: Annotated[
        list[str],
        typer.Argument(
            metavar="[PATH] DIR", help="A file of the run (default: all), then the folder."
        ),
    ],
    block: BlockOption = None,
    base_url: BaseUrlOption = None,
    json_mode: JsonOption = False,
) -> None:
    """Download a run's files into DIR (only PATH when given), keeping their relative paths.

    Example: prefect-giga download clx8m2k4p0000abc123xyz output.md ./outputs
    """
    output = Output(json_mode)

    async def work() -> None:
        if len(targets) not in (1, 2):
            raise GigaConfigError("Give the folder, or a file of the run and then the folder")
        path, dest = (None, targets[0]) if len(targets) == 1 else (targets[0], targets[1])
        async with open_client(block, base_url) as giga:
            files = await download_files(giga, run_id, Path(dest), path)
        output.result(
            {"run_id": run_id, "files": files_fields(files)}, lambda: files_table(run_id, files)
        )

    execute(output, work)
