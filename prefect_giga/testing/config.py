"""The emulator's configuration."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from prefect_giga.core.networks import Network, get_network
from prefect_giga.testing.agent import Agent

__all__ = [
    "DEFAULT_PAYEE",
    "DEFAULT_TIERS",
    "DISCOVERY_DOCUMENTS",
    "SEED_TIERS",
    "TIER_TABLES",
    "TODAY_TIERS",
    "EmulatorConfig",
    "tier_table",
]

DEFAULT_PAYEE = "0x179eC767Cd66Dd21064F85fd630385f26A98FD4e"
"""The emulator's fixed payee: keccak("prefect-giga emulator payee"), last 20 bytes."""

TODAY_TIERS: dict[str, Decimal] = {
    "$1.00": Decimal("1.00"),
    "$2.00": Decimal("2.00"),
    "$5.00": Decimal("5.00"),
}
"""Today's public Giga tiers (default ``$1.00``)."""

SEED_TIERS: dict[str, Decimal] = {
    "$0.50": Decimal("0.50"),
    "$1.00": Decimal("1.00"),
    "$2.00": Decimal("2.00"),
}
"""The tiers of the text this project started from (default ``$0.50``)."""

DEFAULT_TIERS = TODAY_TIERS
"""The emulator's tiers unless told otherwise: today's."""

TIER_TABLES: dict[str, tuple[dict[str, Decimal], str]] = {
    "today": (TODAY_TIERS, "$1.00"),
    "seed": (SEED_TIERS, "$0.50"),
}
"""The tier tables the emulator can publish, with their default tier."""

DISCOVERY_DOCUMENTS = ("/openapi.json", "/api/openapi.json", "/llms.txt", "/.well-known/x402")
"""Every discovery document the emulator can serve."""


def tier_table(name: Literal["today", "seed"]) -> dict[str, Any]:
    """`EmulatorConfig` keyword arguments for a named tier table.

    Example:
        >>> EmulatorConfig(**tier_table("seed")).default_tier
        '$0.50'
    """
    tiers, default = TIER_TABLES[name]
    return {"tiers": dict(tiers), "default_tier": default}


def _default_tiers() -> dict[str, Decimal]:
    return dict(DEFAULT_TIERS)


@dataclass
class EmulatorConfig:
    """How the emulated Giga server behaves.

    Attributes:
        network: CAIP-2 id or alias of the network paid on (Base by default).
        tiers: Tier key to price in USD (today's table by default; see `tier_table`).
        default_tier: The tier used when the body names none.
        discovery: The discovery documents served (paths from `DISCOVERY_DOCUMENTS`);
            the others answer 404. The router serves ``/openapi.json`` and ``/llms.txt``.
        discovery_names_default: Whether the documents name the default tier (when not, a
            client learns it from a quote without a tier).
        resume: Serve the paid ``POST /api/resume`` (body ``{runId, prompt, tier?, files?}``).
        resume_run_field: The body field naming the run to resume (``"runId"``, the shape
            the client guesses; another name plays a server whose resume takes another
            body).
        unknown_tier: ``"default"`` quotes and charges an unknown tier at the default tier's
            price, as the real router does; ``"reject"`` answers 400.
        payee: The address payments go to.
        initial_balance: USD every wallet starts with.
        unfunded: Addresses that start with no USDC.
        balances: Explicit starting balances (USD) per address.
        siwx_domain: Challenge domain form: ``"hostname"`` (what the live service issues,
            the default) or ``"host:port"`` (what the x402 SDKs expect). Proofs must use the
            same form.
        siwx_max_age_seconds: Oldest accepted ``issuedAt``.
        siwx_clock_skew_seconds: How far in the future ``issuedAt`` may be.
        time_scale: Agent seconds per real second.
        manual_clock: Start with a frozen clock that only `Clock.advance` moves.
        pending_seconds: Agent seconds a run stays ``pending``.
        logs_delay_seconds: Log ingestion lag (``logs`` is null until then).
        agent: The agent runs execute; the deterministic default agent when ``None``.
        model: ``logs.metadata.model``.
        file_url_ttl_seconds: Presigned URL lifetime.
        max_request_bytes: Largest accepted request body (413 above).
        max_timeout_seconds: ``maxTimeoutSeconds`` in quotes.
        list_limit: ``"refuse"`` answers a ``/api/list`` ``limit`` over 100 with 400, as the
            live service does; ``"clamp"`` lowers it to 100.
        keep_unpaid_runs: Keep a run whose settlement failed (default: discard it).
        settlement_seconds: Real seconds a paid start's settlement takes before its reply
            (about 2 on Base); unpaid probes and reads are not delayed.
        seed: Seeds run ids and fault randomness.
        token_secret: HMAC key for file tokens (random when ``None``).
        workspace_root: Where run files live (a fresh temporary directory when ``None``).
        host: Interface to listen on.
        port: Port to listen on (0 picks a free one).
        proxy: Put a TCP proxy in front of the server (needed to drop connections).

    Example:
        >>> EmulatorConfig(siwx_domain="host:port").network_info.chain_id
        8453
    """

    network: str = "eip155:8453"
    tiers: dict[str, Decimal] = field(default_factory=_default_tiers)
    default_tier: str = "$1.00"
    discovery: tuple[str, ...] = ("/openapi.json", "/llms.txt")
    discovery_names_default: bool = True
    resume: bool = True
    resume_run_field: str = "runId"
    unknown_tier: Literal["default", "reject"] = "default"
    payee: str = DEFAULT_PAYEE
    initial_balance: Decimal = Decimal("1000")
    unfunded: frozenset[str] = frozenset()
    balances: dict[str, Decimal] = field(default_factory=dict)
    siwx_domain: Literal["host:port", "hostname"] = "hostname"
    siwx_max_age_seconds: float = 300.0
    siwx_clock_skew_seconds: float = 30.0
    time_scale: float = 1.0
    manual_clock: bool = False
    pending_seconds: float = 0.0
    logs_delay_seconds: float = 2.0
    agent: Agent | None = None
    model: str = "claude-sonnet-4-6"
    file_url_ttl_seconds: float = 3600.0
    max_request_bytes: int = 20 * 1024 * 1024
    max_timeout_seconds: int = 300
    list_limit: Literal["refuse", "clamp"] = "refuse"
    keep_unpaid_runs: bool = False
    settlement_seconds: float = 0.0
    seed: int = 0
    token_secret: bytes | None = None
    workspace_root: Path | None = None
    host: str = "127.0.0.1"
    port: int = 0
    proxy: bool = True

    def __post_init__(self) -> None:
        if self.default_tier not in self.tiers:
            raise ValueError(f"default tier {self.default_tier!r} is not one of the tiers")
        if self.siwx_domain not in ("host:port", "hostname"):
            raise ValueError("siwx_domain must be 'host:port' or 'hostname'")
        if self.list_limit not in ("refuse", "clamp"):
            raise ValueError("list_limit must be 'refuse' or 'clamp'")
        unknown = set(self.discovery) - set(DISCOVERY_DOCUMENTS)
        if unknown:
            raise ValueError(f"unknown discovery documents {sorted(unknown)}")
        if self.settlement_seconds < 0:
            raise ValueError("settlement_seconds must not be negative")
        self.tiers = {k: Decimal(v) for k, v in self.tiers.items()}
        get_network(self.network)

    @property
    def network_info(self) -> Network:
        """The configured `Network`."""
        return get_network(self.network)

    @property
    def highest_tier(self) -> str:
        """The most expensive tier (quoted for bodies that fail validation)."""
        return max(self.tiers, key=lambda key: self.tiers[key])
