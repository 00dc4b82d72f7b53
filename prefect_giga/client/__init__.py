"""The Giga client: `GigaClient`, sign-in for reads, files, pagination, the run watcher
and the sync facade."""

# `prefect_giga.client` was one module before the package grew rooms; its names stay here.
from ..core.exchange import MAX_REPLY_BYTES, normalize_base_url
from .async_client import DEFAULT_BASE_URL, BeforePaymentHook, GigaClient
from .downloads import MIN_DOWNLOAD_RATE

__all__ = [
    "DEFAULT_BASE_URL",
    "MAX_REPLY_BYTES",
    "MIN_DOWNLOAD_RATE",
    "BeforePaymentHook",
    "GigaClient",
    "normalize_base_url",
]
