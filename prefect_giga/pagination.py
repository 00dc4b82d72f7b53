"""Moved to `prefect_giga.client.pagination` (old imports and saved results use this path)."""

from .client.pagination import (
    MAX_PAGE_SIZE as MAX_PAGE_SIZE,
)
from .client.pagination import (
    PageWalker as PageWalker,
)
