"""`GigaClient`'s file calls: presigned links checked against the link rules, downloads.

Every run id asked about is checked before anything is sent; every link is checked by
`SafeLinks` (see `prefect_giga.client.links`) before it is fetched; every file lands inside
its destination, checked on the final resolved path.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import SecretStr, ValidationError

from ..core.exceptions import GigaProtocolError, RunFileNotFoundError
from ..core.exchange import Exchange
from ..core.http import RetryPolicy
from ..core.ids import check_asked_run_id
from ..core.models import PresignedURL
from .downloads import fetch_run_file
from .files import ByteBudget, DownloadedFile, safe_destination
from .links import SafeLinks
from .signin import SignIn

__all__ = ["RunFiles"]


class RunFiles:
    """`GigaClient`'s ``file_url``, ``download`` and ``download_file``.

    Example:
        ```python
        local = await giga.download(run_id, "output.md", "outputs/")
        ```
    """

    signin: SignIn
    links: SafeLinks
    exchange: Exchange
    retry: RetryPolicy
    max_download_bytes: int | None

    async def file_url(self, run_id: str, path: str) -> PresignedURL:
        """A presigned download link for one of a run's files (valid about an hour).

        The link is a bearer credential: it is kept in a ``SecretStr``.

        Raises:
            GigaConfigError: ``run_id`` is not a valid run id; nothing is sent.
            RunFileNotFoundError: The run or the file does not exist.
            UnsafeLinkError: The link breaks the link rules (see `LinkPolicy`).

        Example:
            ```python
            link = await giga.file_url(run_id, "output.md")
            print(link.expires_at)
            ```
        """
        check_asked_run_id(run_id)
        what = f"file-url for {path!r} of run {run_id}"
        data = await self.signin.call(
            "/api/file-url",
            {"runId": run_id, "path": path},
            what,
            not_found=lambda: RunFileNotFoundError(f"Run {run_id} has no file {path!r}"),
        )
        url = data.get("url")
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise GigaProtocolError(f"{what}: the reply has no http(s) url")
        self.links.policy.check_url(url)
        try:
            return PresignedURL(url=SecretStr(url), expires_at=data.get("expiresAt"))
        except ValidationError:
            raise GigaProtocolError(f"{what}: the reply's expiresAt is not a timestamp") from None

    async def download(
        self,
        run_id: str,
        path: str,
        dest: str | Path,
        *,
        max_bytes: int | None = None,
    ) -> Path:
        """Download one file of a run into the folder ``dest``, keeping its relative path.

        Streams to a temp file and renames it into place; refuses paths that would escape
        ``dest``. Returns the local path.

        Raises:
            UnsafePathError: The path would land outside ``dest``; nothing is written.
            UnsafeLinkError: The link or a redirect breaks the link rules; nothing fetched.
            FileTooLargeError: The file is over the cap; nothing is kept.
            LinkExpiredError: The server refused two fresh links in a row.

        Example:
            ```python
            local = await giga.download(run_id, "output.md", "outputs/")
            print(local.read_text())
            ```
        """
        return (await self.download_file(run_id, path, dest, max_bytes=max_bytes)).local_path

    async def download_file(
        self,
        run_id: str,
        path: str,
        dest: str | Path,
        *,
        max_bytes: int | None = None,
        budget: ByteBudget | None = None,
    ) -> DownloadedFile:
        """Like `download`, and also report the size and SHA-256 of what was written.

        ``budget`` counts the bytes against a cap shared with other files (a per-run cap).

        Example:
            ```python
            got = await giga.download_file(run_id, "output.md", "outputs/")
            print(got.size, got.sha256)
            ```
        """
        check_asked_run_id(run_id)
        target = safe_destination(dest, path)
        size, sha = await fetch_run_file(
            self.exchange,
            self.links,
            self.retry,
            lambda: self.file_url(run_id, path),
            target,
            root=Path(dest),
            max_bytes=max_bytes if max_bytes is not None else self.max_download_bytes,
            path=path,
            budget=budget,
        )
        return DownloadedFile(remote_path=path, local_path=target, size=size, sha256=sha)
