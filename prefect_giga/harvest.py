"""Download a finished run's files into a folder or a Prefect filesystem block."""

from __future__ import annotations

import asyncio
import inspect
import tempfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from .client.async_client import GigaClient
from .client.files import matches_any, safe_destination
from .core.exceptions import FileTooLargeError
from .core.models import PaymentReceipt, Run
from .results import HarvestedFile, RunOutput

__all__ = ["MAX_BLOCK_WRITE_BYTES", "OUTPUT_MARKDOWN", "harvest"]

OUTPUT_MARKDOWN = "output.md"
MAX_OUTPUT_MARKDOWN_CHARS = 1024 * 1024
MAX_BLOCK_WRITE_BYTES = 64 * 1024 * 1024
"""Largest file written through a filesystem block that only takes bytes (``write_path``)."""

_DOWNLOAD_CONCURRENCY = 4


async def harvest(
    client: GigaClient,
    run: Run,
    dest: str | Path,
    *,
    include: Sequence[str] | None = None,
    filesystem: Any | None = None,
    receipt: PaymentReceipt | None = None,
    max_file_bytes: int | None = None,
) -> RunOutput:
    """Download the files of a finished ``run`` (read with ``include_files=True``).

    Files land under ``dest/<run_id>/`` keeping their workspace paths. With a Prefect
    filesystem block, ``dest`` is the path inside the block: `LocalFileSystem` is written
    to directly; a block with an fsspec ``filesystem`` (`RemoteFileSystem`) or an
    ``upload_from_path`` method (prefect-aws's `S3Bucket` and its GCS and Azure peers) gets
    each file streamed from a local temp copy; any other block's ``write_path`` holds a file
    in memory, so it takes files of at most `MAX_BLOCK_WRITE_BYTES`.
    """
    entries = [f for f in run.files or [] if f.is_file and matches_any(f.path, include)]
    semaphore = asyncio.Semaphore(_DOWNLOAD_CONCURRENCY)
    with tempfile.TemporaryDirectory(prefix="giga-harvest-") as scratch:
        local_root = _local_root(dest, filesystem, scratch) / run.id

        async def fetch(path: str) -> HarvestedFile:
            async with semaphore:
                got = await client.download_file(run.id, path, local_root, max_bytes=max_file_bytes)
            location = str(got.local_path)
            if filesystem is not None and not _is_local_block(filesystem):
                location = await _store_in_block(filesystem, dest, run.id, path, got.local_path)
            return HarvestedFile(path=path, location=location, size=got.size, sha256=got.sha256)

        files = list(await asyncio.gather(*(fetch(e.path) for e in entries)))
        markdown = _read_markdown(local_root / OUTPUT_MARKDOWN, files)
    return RunOutput(
        run_id=run.id,
        status=run.status,
        error_code=run.error_code,
        files=files,
        output_markdown=markdown,
        receipt=receipt,
    )


def _is_local_block(filesystem: Any) -> bool:
    from prefect.filesystems import LocalFileSystem

    return isinstance(filesystem, LocalFileSystem)


def _local_root(dest: str | Path, filesystem: Any | None, scratch: str) -> Path:
    if filesystem is None:
        return Path(dest)
    if _is_local_block(filesystem):
        base = Path(filesystem.basepath or ".").expanduser()
        return safe_destination(base, str(dest)) if str(dest) not in ("", ".") else base
    return Path(scratch)


def _read_markdown(path: Path, files: list[HarvestedFile]) -> str | None:
    if not any(f.path == OUTPUT_MARKDOWN for f in files) or not path.exists():
        return None
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        return handle.read(MAX_OUTPUT_MARKDOWN_CHARS)


async def _store_in_block(block: Any, dest: str | Path, run_id: str, path: str, local: Path) -> str:
    remote = str(PurePosixPath(str(dest)) / run_id / path) if str(dest) else f"{run_id}/{path}"
    fs = getattr(block, "filesystem", None)
    if fs is not None and hasattr(fs, "put_file"):
        target = block._resolve_path(remote) if hasattr(block, "_resolve_path") else remote
        parent = str(PurePosixPath(target).parent)
        await asyncio.to_thread(fs.makedirs, parent, exist_ok=True)
        await asyncio.to_thread(fs.put_file, str(local), target)
        return str(target)
    upload = getattr(block, "upload_from_path", None)
    if callable(upload):  # S3Bucket, GcsBucket, AzureBlobStorageContainer: stream from disk
        uploaded = upload(str(local), remote)
        if inspect.isawaitable(uploaded):
            uploaded = await uploaded
        return str(uploaded or remote)
    size = await asyncio.to_thread(lambda: local.stat().st_size)
    if size > MAX_BLOCK_WRITE_BYTES:
        raise FileTooLargeError(
            f"{path} is {size} bytes; {type(block).__name__}.write_path holds a file in memory, "
            f"so files above {MAX_BLOCK_WRITE_BYTES} bytes are refused. Use a local folder or a "
            "block with an fsspec filesystem."
        )
    written = await block.write_path(remote, await asyncio.to_thread(local.read_bytes))
    return str(written or remote)
