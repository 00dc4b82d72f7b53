"""Moved to `prefect_giga.core.networks` (old imports and saved results use this path)."""

from .core.networks import BASE, BASE_SEPOLIA, KNOWN_NETWORKS, Network, get_network

__all__ = ["BASE", "BASE_SEPOLIA", "KNOWN_NETWORKS", "Network", "get_network"]
