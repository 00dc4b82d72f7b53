"""Files in and out: attachments for a prompt, safe paths and atomic writes for downloads."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import stat
import tempfile
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import TypeAlias

from pydantic import BaseModel, ConfigDict

from ..core.exceptions import AttachmentError, FileTooLargeError, UnsafePathError
from ..core.models import FileAttachment

__all__ = [
    "DEFAULT_MAX_DOWNLOAD_BYTES",
    "DEFAULT_MAX_REQUEST_BYTES",
    "DEFAULT_MAX_RUN_BYTES",
    "AttachmentInput",
    "ByteBudget",
    "DownloadedFile",
    "encode_attachments",
    "matches_any",
    "safe_destination",
    "write_stream_atomically",
]

DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024
"""Default cap on a start request's JSON body (prompt plus base64 attachments): 32 MiB."""

DEFAULT_MAX_DOWNLOAD_BYTES = 1024 * 1024 * 1024
"""Default cap on one downloaded file: 1 GiB (``GigaClient(max_download_bytes=...)``)."""

DEFAULT_MAX_RUN_BYTES = 4 * 1024 * 1024 * 1024
"""Default cap on all the files harvested from one run: 4 GiB (``max_run_bytes``)."""

AttachmentInput: TypeAlias = "FileAttachment | str | os.PathLike[str] | bytes | tuple[str, bytes]"
"""An attachment: a `FileAttachment`, a path, raw bytes, or a ``(filename, bytes)`` pair."""


class DownloadedFile(BaseModel):
    """A file written to disk by a download.

    Example:
        >>> DownloadedFile(remote_path="output.md", local_path=Path("out/output.md"),
        ...     size=3, sha256="ab").size
        3
    """

    model_config = ConfigDict(frozen=True)

    remote_path: str
    local_path: Path
    size: int
    sha256: str


def _to_attachment(item: AttachmentInput, index: int, room: int) -> FileAttachment:
    if isinstance(item, FileAttachment):
        return item
    if isinstance(item, bytes):
        return FileAttachment.from_bytes(f"attachment-{index + 1}.bin", item)
    if isinstance(item, tuple):
        name, data = item
        return FileAttachment.from_bytes(name, data)
    path = Path(item)
    try:
        return FileAttachment.from_bytes(path.name, _read_sized(path, room))
    except FileNotFoundError:
        raise AttachmentError(f"Attachment {path} does not exist; nothing was paid") from None
    except IsADirectoryError:
        raise AttachmentError(
            f"Attachment {path} is a directory, not a file; nothing was paid"
        ) from None
    except OSError as exc:
        raise AttachmentError(
            f"Attachment {path} cannot be read ({exc.strerror}); nothing was paid"
        ) from None


def _read_sized(path: Path, room: int) -> bytes:
    """Read a regular file whose size (from ``stat()``, before reading) fits in ``room`` bytes.

    A special file (a FIFO, ``/dev/zero``) or a file larger than the room left in the request
    is refused without reading it; a file that grows while read is refused too.
    """
    mode = path.stat().st_mode
    if stat.S_ISDIR(mode):
        raise AttachmentError(f"Attachment {path} is a directory, not a file; nothing was paid")
    if not stat.S_ISREG(mode):  # before opening: a FIFO would block open()
        raise AttachmentError(f"Attachment {path} is not a regular file; nothing was paid")
    with path.open("rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise AttachmentError(f"Attachment {path} is not a regular file; nothing was paid")
        if 4 * ((info.st_size + 2) // 3) > room:
            raise AttachmentError(
                f"Attachment {path} is {info.st_size} bytes: the request would be too large once "
                "it is base64-encoded; nothing was read or paid. Send smaller files or raise "
                "max_request_bytes."
            )
        data = handle.read(info.st_size + 1)
    if len(data) != info.st_size:
        raise AttachmentError(f"Attachment {path} changed while it was read; nothing was paid")
    return data


def encode_attachments(
    files: Sequence[AttachmentInput] | None,
    *,
    prompt: str,
    max_request_bytes: int,
) -> list[dict[str, str]]:
    """Turn attachments into the ``files`` list of a start request, checking the size cap.

    Args:
        files: The attachments, or ``None``.
        prompt: The prompt (it counts toward the size).
        max_request_bytes: The largest request body allowed.

    Returns:
        ``[{"filename", "contentType", "data"}]`` with base64 data.

    Raises:
        AttachmentError: A file is missing or unreadable, or the request would be too large.

    Example:
        >>> encode_attachments([("a.txt", b"hi")], prompt="p", max_request_bytes=1000)
        [{'filename': 'a.txt', 'contentType': 'text/plain', 'data': 'aGk='}]
    """
    estimated = len(prompt.encode("utf-8")) + 256
    if estimated > max_request_bytes:
        raise AttachmentError(
            f"The prompt alone makes the request larger than {max_request_bytes} bytes; nothing "
            "was paid. Shorten it, attach the text as a file, or raise max_request_bytes."
        )
    encoded: list[dict[str, str]] = []
    for index, item in enumerate(files or ()):
        attachment = _to_attachment(item, index, max_request_bytes - estimated)
        estimated += 4 * ((attachment.size + 2) // 3) + len(attachment.filename) + 96
        if estimated > max_request_bytes:
            raise AttachmentError(
                f"The request would be larger than {max_request_bytes} bytes once the attachments "
                f"are base64-encoded (at {attachment.filename!r}); nothing was paid. Send smaller "
                "files or raise max_request_bytes."
            )
        encoded.append(
            {
                "filename": attachment.filename,
                "contentType": attachment.content_type,
                "data": base64.b64encode(attachment.data).decode("ascii"),
            }
        )
    return encoded


def safe_destination(dest: str | os.PathLike[str], remote_path: str) -> Path:
    """Where ``remote_path`` lands under ``dest``, refusing any path that would escape it.

    Server paths are untrusted: absolute paths, ``..`` segments, drive letters, backslashes
    and symlinks that lead out of ``dest`` are all refused.

    Raises:
        UnsafePathError: The path would land outside ``dest``.

    Example:
        >>> safe_destination("/srv/giga-out", "reports/a.md").as_posix()
        '/srv/giga-out/reports/a.md'
        >>> safe_destination("/srv/giga-out", "../../etc/passwd")
        Traceback (most recent call last):
        ...
        prefect_giga.core.exceptions.UnsafePathError: ...
    """
    root = Path(dest).resolve()
    text = remote_path.replace("\\", "/")
    pure = PurePosixPath(text)
    if (
        not text.strip()
        or "\x00" in text
        or pure.is_absolute()
        or ".." in pure.parts
        or not [part for part in pure.parts if part != "."]
        or (pure.parts and ":" in pure.parts[0])
    ):
        raise UnsafePathError(f"Refusing to write {remote_path!r}: it would land outside {root}")
    target = root.joinpath(*pure.parts)
    resolved = target.resolve()
    if root not in resolved.parents:
        raise UnsafePathError(f"Refusing to write {remote_path!r}: it resolves outside {root}")
    return target


async def write_stream_atomically(
    chunks: AsyncIterator[bytes],
    target: Path,
    *,
    max_bytes: int | None = None,
    root: Path | None = None,
) -> tuple[int, str]:
    """Stream ``chunks`` to ``target`` through a temp file, then rename it into place.

    The whole file is never held in memory; a reader never sees a half-written file; on any
    error the temp file is removed and ``target`` is left as it was. With ``root``, the
    folder that receives the file is resolved once created and must lie inside ``root``
    (containment is checked on the final path, not only on the name asked for).

    Returns:
        The size in bytes and the SHA-256 hex digest.

    Raises:
        FileTooLargeError: More than ``max_bytes`` arrived.
        UnsafePathError: The resolved folder is outside ``root``; nothing was written.
    """
    target = _contained(target, root)
    digest = hashlib.sha256()
    size = 0
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise FileTooLargeError(
                        f"{target.name} is larger than the {max_bytes}-byte cap; nothing was kept"
                    )
                digest.update(chunk)
                out.write(chunk)
        os.replace(temp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    return size, digest.hexdigest()


class ByteBudget:
    """Bytes several downloads may write between them (a per-run cap), counted as they arrive.

    Args:
        limit: The most bytes in all.

    Example:
        >>> budget = ByteBudget(10)
        >>> budget.take(6, "a.md"); budget.used
        6
        >>> budget.take(6, "b.md")
        Traceback (most recent call last):
        ...
        prefect_giga.core.exceptions.FileTooLargeError: ...
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, count: int, what: str) -> None:
        """Count ``count`` more bytes of ``what``.

        Raises:
            FileTooLargeError: The budget is spent; the file being written is not kept.
        """
        self.used += count
        if self.used > self.limit:
            raise FileTooLargeError(
                f"{what}: the run's files add up to more than the {self.limit}-byte cap "
                "(max_run_bytes); this file was not kept"
            )

    async def metered(self, chunks: AsyncIterator[bytes], what: str) -> AsyncIterator[bytes]:
        """Pass ``chunks`` on, counting each against the budget."""
        async for chunk in chunks:
            self.take(len(chunk), what)
            yield chunk


def _contained(target: Path, root: Path | None) -> Path:
    """Create ``target``'s folder; with ``root``, the resolved folder must lie inside it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if root is None:
        return target
    folder = target.parent.resolve()
    base = Path(root).resolve()
    if folder != base and base not in folder.parents:
        raise UnsafePathError(f"Refusing to write {target.name!r}: it resolves outside {base}")
    if target.is_symlink():
        raise UnsafePathError(f"Refusing to write {target.name!r}: it is a symbolic link")
    return folder / target.name


def matches_any(path: str, patterns: Iterable[str] | None) -> bool:
    """Whether ``path`` matches one of the glob ``patterns`` (every path matches ``None``).

    ``**`` crosses folders, ``*`` and ``?`` stay within one.

    Example:
        >>> matches_any("data/out.csv", ["*.md", "data/*.csv"])
        True
        >>> matches_any("a/b/c.md", ["**/*.md"])
        True
    """
    if patterns is None:
        return True
    return any(_glob_regex(pattern).fullmatch(path) is not None for pattern in patterns)


def _glob_regex(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            parts.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            parts.append(".*")
            i += 2
        elif pattern[i] == "*":
            parts.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            parts.append("[^/]")
            i += 1
        else:
            parts.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(parts))
