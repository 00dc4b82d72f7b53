"""Moved to `prefect_giga.core.money` (old imports and saved results use this path)."""

from .core.money import (
    USDC_DECIMALS as USDC_DECIMALS,
)
from .core.money import (
    format_usd as format_usd,
)
from .core.money import (
    parse_usd as parse_usd,
)
from .core.money import (
    tier_price as tier_price,
)
from .core.money import (
    to_atomic as to_atomic,
)
from .core.money import (
    to_usd as to_usd,
)
