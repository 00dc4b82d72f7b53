"""`SyncGigaClient`: a blocking facade over `GigaClient` for scripts without an event loop."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from anyio.from_thread import BlockingPortal, start_blocking_portal

from ..core.models import PresignedURL, Quote, Run, RunSummary, StartedRun
from ..payments.journal import ScopeLimit
from .async_client import GigaClient
from .files import AttachmentInput, ByteBudget, DownloadedFile
from .pagination import PageWalker
from .tiers import ServerTiers

__all__ = ["SyncGigaClient"]


class SyncGigaClient:
    """The same methods as `GigaClient`, blocking. It runs one event loop in a helper thread.

    Takes exactly `GigaClient`'s arguments. Use it as a context manager, or call ``close()``.

    Example:
        ```python
        from prefect_giga import SyncGigaClient

        with SyncGigaClient(private_key=key, base_url="http://127.0.0.1:8402") as giga:
            started = giga.start("Summarise the attached report", files=["report.pdf"])
            print(giga.read(started.run_id).status)
        ```
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._portal_cm = start_blocking_portal()
        self._portal: BlockingPortal = self._portal_cm.__enter__()
        try:
            self._client: GigaClient = self._portal.call(_build, args, kwargs)
        except BaseException:
            self._portal_cm.__exit__(None, None, None)
            raise

    @property
    def address(self) -> str:
        """The paying wallet's address."""
        return self._client.address

    @property
    def client(self) -> GigaClient:
        """The async client underneath."""
        return self._client

    def __enter__(self) -> SyncGigaClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool and stop the helper thread."""
        if self._portal_cm is not None:
            try:
                self._portal.call(self._client.aclose)
            finally:
                self._portal_cm.__exit__(None, None, None)
                self._portal_cm = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Sync{self._client!r}"

    def quote(
        self,
        prompt: str,
        *,
        tier: str | None = None,
        files: Sequence[AttachmentInput] | None = None,
    ) -> Quote:
        """Blocking `GigaClient.quote`."""
        return self._portal.call(lambda: self._client.quote(prompt, tier=tier, files=files))

    def start(
        self,
        prompt: str,
        *,
        tier: str | None = None,
        files: Sequence[AttachmentInput] | None = None,
        idempotency_key: str | None = None,
        scope_limit: ScopeLimit | None = None,
    ) -> StartedRun:
        """Blocking `GigaClient.start`."""
        return self._portal.call(
            lambda: self._client.start(
                prompt,
                tier=tier,
                files=files,
                idempotency_key=idempotency_key,
                scope_limit=scope_limit,
            )
        )

    def resume(
        self,
        run_id: str,
        prompt: str,
        *,
        tier: str | None = None,
        files: Sequence[AttachmentInput] | None = None,
        idempotency_key: str | None = None,
    ) -> StartedRun:
        """Blocking `GigaClient.resume` (experimental)."""
        return self._portal.call(
            lambda: self._client.resume(
                run_id, prompt, tier=tier, files=files, idempotency_key=idempotency_key
            )
        )

    def tiers(self) -> ServerTiers:
        """Blocking `GigaClient.tiers`."""
        return self._portal.call(self._client.tiers)

    def read(self, run_id: str, *, include_files: bool = False) -> Run:
        """Blocking `GigaClient.read`."""
        return self._portal.call(lambda: self._client.read(run_id, include_files=include_files))

    def list_runs(self, *, limit: int = 10, offset: int = 0) -> list[RunSummary]:
        """Blocking `GigaClient.list_runs`."""
        return self._portal.call(lambda: self._client.list_runs(limit=limit, offset=offset))

    def iter_runs(self, *, page_size: int = 100) -> Iterator[RunSummary]:
        """Blocking `GigaClient.iter_runs`: fetches one page at a time."""
        walker = PageWalker(page_size)
        while not walker.done:
            yield from walker.take(self.list_runs(limit=walker.size, offset=walker.offset))

    def file_url(self, run_id: str, path: str) -> PresignedURL:
        """Blocking `GigaClient.file_url`."""
        return self._portal.call(lambda: self._client.file_url(run_id, path))

    def download(
        self, run_id: str, path: str, dest: str | Path, *, max_bytes: int | None = None
    ) -> Path:
        """Blocking `GigaClient.download`."""
        return self._portal.call(
            lambda: self._client.download(run_id, path, dest, max_bytes=max_bytes)
        )

    def download_file(
        self,
        run_id: str,
        path: str,
        dest: str | Path,
        *,
        max_bytes: int | None = None,
        budget: ByteBudget | None = None,
    ) -> DownloadedFile:
        """Blocking `GigaClient.download_file`."""
        return self._portal.call(
            lambda: self._client.download_file(
                run_id, path, dest, max_bytes=max_bytes, budget=budget
            )
        )


async def _build(args: tuple[Any, ...], kwargs: dict[str, Any]) -> GigaClient:
    return GigaClient(*args, **kwargs)
