"""Moved to `prefect_giga.client.sync_client` (old imports and saved results use this path)."""

from .client.sync_client import SyncGigaClient

__all__ = ["SyncGigaClient"]
