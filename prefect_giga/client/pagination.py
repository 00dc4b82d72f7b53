"""Walking `/api/list` page by page: shared by the async and the sync client."""

from __future__ import annotations

from ..core.models import RunSummary

__all__ = ["MAX_PAGE_SIZE", "PageWalker"]

MAX_PAGE_SIZE = 100


class PageWalker:
    """Tracks offsets and runs already seen while listing every run.

    Stops on a short page, and on a full page that brings no new run (a server that
    ignores ``offset`` must not make the walk endless).

    Example:
        >>> walker = PageWalker(page_size=2)
        >>> walker.offset
        0
    """

    def __init__(self, page_size: int = MAX_PAGE_SIZE) -> None:
        self.size = max(1, min(page_size, MAX_PAGE_SIZE))
        self.offset = 0
        self.done = False
        self._seen: set[str] = set()

    def take(self, page: list[RunSummary]) -> list[RunSummary]:
        """Record one page; return its runs not seen before and move to the next page."""
        fresh = [run for run in page if run.id not in self._seen]
        self._seen.update(run.id for run in fresh)
        self.done = len(page) < self.size or not fresh
        self.offset += self.size
        return fresh
