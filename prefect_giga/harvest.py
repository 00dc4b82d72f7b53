"""Download a finished run's files into a folder or a Prefect filesystem block."""

from __future__ import annotations

import asyncio
import inspect
import posixpath
import tempfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from .client.async_client import GigaClient
from .client.files import DEFAULT_MAX_RUN_BYTES, ByteBudget, matches_any, safe_destination
from .core.exceptions import FileTooLargeError, UnsafePathError
from .core.ids import check_run_id
from .core.models import PaymentReceipt, Run
from .results import HarvestedFile, RunOutput

__all__ = ["MAX_BLOCK_WRITE_BYTES", "OUTPUT_MARKDOWN", "harvest", "remote_key"]

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
    max_run_bytes: int | None = DEFAULT_MAX_RUN_BYTES,
) -> RunOutput:
    """Download the files of a finished ``run`` (read with ``include_files=True``).

    Files land under ``dest/<run_id>/`` keeping their workspace paths. With a Prefect
    filesystem block, ``dest`` is the path inside the block: `LocalFileSystem` is written
    to directly; a block with an fsspec ``filesystem`` (`RemoteFileSystem`) or an
    ``upload_from_path`` method (prefect-aws's `S3Bucket` and its GCS and Azure peers) gets
    each file streamed from a local temp copy; any other block's ``write_path`` holds a file
    in memory, so it takes files of at most `MAX_BLOCK_WRITE_BYTES`.

    The run id and every file path come from the server: the id must match the run-id
    grammar, each path must stay inside ``dest/<run_id>/`` (checked on the final resolved
    path for folders and `LocalFileSystem`, and on the normalised key for remote blocks).

    Args:
        client: An open client.
        run: The run, read with ``include_files=True``.
        dest: The folder (or the path inside ``filesystem``).
        include: Glob patterns of the files to keep (default: all).
        filesystem: A Prefect filesystem block to write to instead of a local folder.
        receipt: The run's payment receipt, carried into the result.
        max_file_bytes: The largest file kept (default: the client's ``max_download_bytes``).
        max_run_bytes: The most bytes all the run's files may add up to (default 4 GiB,
            `DEFAULT_MAX_RUN_BYTES`; ``None`` for no cap). A listing above it is refused
            before anything is downloaded; a download that goes past it is not kept.

    Raises:
        GigaProtocolError: The run id is not a valid id; nothing is written.
        UnsafePathError: A path would land outside the destination; nothing is written there.
        FileTooLargeError: A file or the run is over its cap.

    Example:
        ```python
        run = await giga.read(run_id, include_files=True)
        output = await harvest(giga, run, "outputs", include=["*.md"])
        ```
    """
    run_id = check_run_id(run.id, "harvest")
    entries = [f for f in run.files or [] if f.is_file and matches_any(f.path, include)]
    listed = sum(max(0, e.size) for e in entries)
    if max_run_bytes is not None and listed > max_run_bytes:
        raise FileTooLargeError(
            f"Run {run_id} lists {listed} bytes of files, above the {max_run_bytes}-byte cap "
            "(max_run_bytes); nothing was downloaded"
        )
    budget = None if max_run_bytes is None else ByteBudget(max_run_bytes)
    semaphore = asyncio.Semaphore(_DOWNLOAD_CONCURRENCY)
    with tempfile.TemporaryDirectory(prefix="giga-harvest-") as scratch:
        local_root = _local_root(dest, filesystem, scratch) / run_id

        async def fetch(path: str) -> HarvestedFile:
            async with semaphore:
                got = await client.download_file(
                    run_id, path, local_root, max_bytes=max_file_bytes, budget=budget
                )
            location = str(got.local_path)
            if filesystem is not None and not _is_local_block(filesystem):
                relative = got.local_path.relative_to(local_root).as_posix()
                key = remote_key(dest, run_id, relative)
                location = await _store_in_block(filesystem, key, path, got.local_path)
            return HarvestedFile(path=path, location=location, size=got.size, sha256=got.sha256)

        files = list(await asyncio.gather(*(fetch(e.path) for e in entries)))
        markdown = _read_markdown(local_root / OUTPUT_MARKDOWN, files)
    return RunOutput(
        run_id=run_id,
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


def remote_key(dest: str | Path, run_id: str, relative: str) -> str:
    """The key a file gets in a remote block: ``dest/run_id/relative``, checked once joined.

    Raises:
        UnsafePathError: The normalised key would leave ``dest/run_id/``.

    Example:
        >>> remote_key("reports", "run_1", "a/b.md")
        'reports/run_1/a/b.md'
        >>> remote_key("reports", "run_1", "../../x")
        Traceback (most recent call last):
        ...
        prefect_giga.core.exceptions.UnsafePathError: ...
    """
    run_id = check_run_id(run_id, "harvest")
    base = str(PurePosixPath(str(dest))) if str(dest) not in ("", ".") else ""
    prefix = f"{base}/{run_id}" if base else run_id
    key = f"{prefix}/{relative}"
    parts = PurePosixPath(relative).parts
    if (
        "\\" in relative
        or relative.startswith("/")
        or not parts
        or any(part in ("", ".", "..") for part in parts)
        or not posixpath.normpath(key).startswith(posixpath.normpath(prefix) + "/")
    ):
        raise UnsafePathError(f"Refusing to store {relative!r}: it would land outside {prefix}/")
    return key


async def _store_in_block(block: Any, remote: str, path: str, local: Path) -> str:
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
