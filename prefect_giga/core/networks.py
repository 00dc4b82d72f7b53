"""The chains and USDC contracts prefect-giga knows how to pay on."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BASE", "BASE_SEPOLIA", "KNOWN_NETWORKS", "Network", "get_network"]


@dataclass(frozen=True)
class Network:
    """One EVM network and its USDC token, as x402 names them.

    Attributes:
        caip2: The CAIP-2 chain id x402 uses, for example ``"eip155:8453"``.
        chain_id: The numeric EVM chain id.
        name: A human name for messages.
        usdc_address: The USDC contract (checksummed).
        usdc_eip712_name: The token's EIP-712 domain ``name``.
        usdc_eip712_version: The token's EIP-712 domain ``version``.
        decimals: USDC has 6 decimals on every network here.

    Example:
        >>> from prefect_giga.core.networks import get_network
        >>> get_network("eip155:8453").usdc_eip712_name
        'USD Coin'
    """

    caip2: str
    chain_id: int
    name: str
    usdc_address: str
    usdc_eip712_name: str
    usdc_eip712_version: str
    decimals: int = 6


BASE = Network(
    caip2="eip155:8453",
    chain_id=8453,
    name="Base",
    usdc_address="0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
    usdc_eip712_name="USD Coin",
    usdc_eip712_version="2",
)

BASE_SEPOLIA = Network(
    caip2="eip155:84532",
    chain_id=84532,
    name="Base Sepolia",
    usdc_address="0x036CbD53842c5426634e7929541eC2318f3dCF7e",
    usdc_eip712_name="USDC",
    usdc_eip712_version="2",
)

KNOWN_NETWORKS: dict[str, Network] = {n.caip2: n for n in (BASE, BASE_SEPOLIA)}

_ALIASES = {"base": BASE.caip2, "base-sepolia": BASE_SEPOLIA.caip2}


def get_network(name: str) -> Network:
    """Look a network up by CAIP-2 id (``"eip155:8453"``) or alias (``"base"``).

    Args:
        name: A CAIP-2 id or one of ``"base"``, ``"base-sepolia"``.

    Returns:
        The matching `Network`.

    Raises:
        ValueError: The network is not one prefect-giga can pay on.

    Example:
        >>> get_network("base-sepolia").chain_id
        84532
    """
    key = _ALIASES.get(name.strip().lower(), name.strip())
    try:
        return KNOWN_NETWORKS[key]
    except KeyError:
        known = ", ".join(sorted([*KNOWN_NETWORKS, *_ALIASES]))
        raise ValueError(f"Unknown network {name!r}; known networks: {known}") from None
