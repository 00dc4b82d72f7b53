"""Moved to `prefect_giga.payments.quotes` (old imports and saved results use this path)."""

from .payments.quotes import (
    DEFAULT_QUOTE_TTL as DEFAULT_QUOTE_TTL,
)
from .payments.quotes import (
    Offer as Offer,
)
from .payments.quotes import (
    QuoteCache as QuoteCache,
)
