"""Moved to `prefect_giga.core.networks` (old imports and saved results use this path)."""

from .core.networks import (
    BASE as BASE,
)
from .core.networks import (
    BASE_SEPOLIA as BASE_SEPOLIA,
)
from .core.networks import (
    KNOWN_NETWORKS as KNOWN_NETWORKS,
)
from .core.networks import (
    Network as Network,
)
from .core.networks import (
    get_network as get_network,
)
