"""Moved to `prefect_giga.client.watcher` (old imports and saved results use this path)."""

from .client.watcher import FIRST_LOOK_PAGES, RECENT_RUNS, LogCallback, RunWatcher, WatcherStats

__all__ = ["FIRST_LOOK_PAGES", "RECENT_RUNS", "LogCallback", "RunWatcher", "WatcherStats"]
