"""The Giga client: `GigaClient`, sign-in for reads, files, pagination, the run watcher
and the sync facade."""

# `prefect_giga.client` was one module before the package grew rooms; its names stay here.
from .async_client import (
    DEFAULT_BASE_URL as DEFAULT_BASE_URL,
)
from .async_client import (
    MAX_REPLY_BYTES as MAX_REPLY_BYTES,
)
from .async_client import (
    MIN_DOWNLOAD_RATE as MIN_DOWNLOAD_RATE,
)
from .async_client import (
    BeforePaymentHook as BeforePaymentHook,
)
from .async_client import (
    GigaClient as GigaClient,
)
from .async_client import (
    normalize_base_url as normalize_base_url,
)
