"""Moved to `prefect_giga.client.watcher` (old imports and saved results use this path)."""

from .client.watcher import (
    FIRST_LOOK_PAGES as FIRST_LOOK_PAGES,
)
from .client.watcher import (
    RECENT_RUNS as RECENT_RUNS,
)
from .client.watcher import (
    LogCallback as LogCallback,
)
from .client.watcher import (
    RunWatcher as RunWatcher,
)
from .client.watcher import (
    WatcherStats as WatcherStats,
)
