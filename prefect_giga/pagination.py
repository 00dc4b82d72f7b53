"""Moved to `prefect_giga.client.pagination` (old imports and saved results use this path)."""

from .client.pagination import MAX_PAGE_SIZE, PageWalker

__all__ = ["MAX_PAGE_SIZE", "PageWalker"]
