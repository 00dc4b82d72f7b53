"""What a Giga server offers and charges: its tiers, read from its own documents, per client.

Tiers and prices change (the seed text listed ``$0.50`` default, ``$1.00``, ``$2.00``; today's
service lists ``$1.00`` default, ``$2.00``, ``$5.00``), so the client asks the server rather
than trusting a table. `TierBook` reads the discovery documents once per client (see
`discovery`), and when none of them names the default tier, asks for a quote without a tier
and accepts its price only when it is one published tier's price. Nothing here pays: the
quote is the free, unpaid 402.

Where a server publishes nothing, there is no table: a named tier is then checked only by
the rule that a Giga tier key is its own price (``"$1.00"`` costs ``$1.00``), and a start
that names no tier is refused, since "the server's default" cannot be checked.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..core.exceptions import (
    GigaConfigError,
    GigaError,
    GigaProtocolError,
    GigaTransportError,
    TierNotOfferedError,
)
from ..core.exchange import Exchange
from ..core.money import format_usd, tier_price, to_usd
from ..core.networks import Network
from ..payments.replies import PAYMENT_REQUIRED
from ..payments.signing import decode_b64_json
from .discovery import DISCOVERY_PATHS, PublishedTiers, parse_document

__all__ = ["QUOTE_SOURCE", "ServerTiers", "TierBook"]

QUOTE_SOURCE = "quote"
"""The `ServerTiers.sources` entry for a default tier learned from a quote without a tier."""

_PROBE_PROMPT = "prefect-giga: which tier is the default? (a quote only, never paid)"


@dataclass(frozen=True)
class ServerTiers:
    """The tiers a server offers, their USD prices and its default, from its own documents.

    Attributes:
        tiers: Tier key to USD price, in the server's order.
        default: The tier the server uses when a start names none.
        sources: The documents this came from (paths such as ``"/openapi.json"``, and
            ``"quote"`` when the default was learned from a quote without a tier).

    Example:
        >>> tiers = ServerTiers({"$1.00": Decimal("1.00"), "$5.00": Decimal("5.00")}, "$1.00",
        ...                     ("/openapi.json",))
        >>> tiers.describe()
        '$1.00 (default), $5.00'
        >>> tiers.price("$5.00")
        Decimal('5.00')
    """

    tiers: dict[str, Decimal]
    default: str
    sources: tuple[str, ...]

    def price(self, tier: str) -> Decimal | None:
        """The published price of ``tier``, or ``None`` when the server does not offer it.

        Example:
            >>> ServerTiers({"$1.00": Decimal("1.00")}, "$1.00", ()).price("$0.50") is None
            True
        """
        return self.tiers.get(tier)

    @property
    def highest(self) -> str:
        """The most expensive tier (what a router quotes for a body it does not accept).

        Example:
            >>> ServerTiers({"$1.00": Decimal(1), "$2.00": Decimal(2)}, "$1.00", ()).highest
            '$2.00'
        """
        return max(self.tiers, key=lambda key: self.tiers[key])

    def describe(self) -> str:
        """The tiers for people: ``"$1.00 (default), $2.00, $5.00"``.

        Example:
            >>> ServerTiers({"$1.00": Decimal("1.00")}, "$1.00", ()).describe()
            '$1.00 (default)'
        """
        return ", ".join(
            f"{key} (default)" if key == self.default else key for key in self.tiers
        ) + ("" if all(_self_priced(k, p) for k, p in self.tiers.items()) else self._prices())

    def _prices(self) -> str:
        return " [" + ", ".join(f"{k}: {format_usd(p)}" for k, p in self.tiers.items()) + "]"

    def refuse(self, tier: str, server: str, *, from_default: bool) -> TierNotOfferedError:
        """The error for a tier this server does not offer (nothing was signed).

        Args:
            tier: The tier that was asked for.
            server: The server's base URL.
            from_default: The tier came from the client's ``default_tier`` setting (which a
                saved `GigaCredentials` block provides) rather than from the call.

        Example:
            >>> tiers = ServerTiers({"$1.00": Decimal("1.00")}, "$1.00", ("/llms.txt",))
            >>> tiers.refuse("$0.50", "https://giga.example", from_default=False).offered
            ('$1.00',)
        """
        message = (
            f"{server} does not offer tier {tier!r}; it offers {self.describe()} (from "
            f"{', '.join(self.sources)}). Nothing was signed or paid."
        )
        if from_default:
            message += (
                f" {tier!r} is the client's default_tier. If it comes from a saved "
                "GigaCredentials block, change the block's default_tier to one of those tiers, "
                "or clear it to use the server's default: block = GigaCredentials.load(NAME); "
                "block.default_tier = None; block.save(NAME, overwrite=True)."
            )
        return TierNotOfferedError(message, tier=tier, offered=tuple(self.tiers))


def _self_priced(key: str, price: Decimal) -> bool:
    return tier_price(key) == price


class TierBook:
    """One client's knowledge of its server's tiers: read once, then kept.

    A document that is missing (any status but 200) counts as saying nothing and is not asked
    for again; a document whose request failed in transit is asked for again next time.

    Args:
        exchange: The client's exchange with the server.
        network: The payment network (a quote's ``accepts`` entry must be on it).

    Example:
        ```python
        book = TierBook(giga.exchange, giga.network)
        tiers = await book.server_tiers()  # None when the server publishes no tiers
        ```
    """

    def __init__(self, exchange: Exchange, network: Network) -> None:
        self.exchange = exchange
        self.network = network
        self._read: dict[str, PublishedTiers | None] = {}
        self._tiers: ServerTiers | None = None
        self._lock: asyncio.Lock | None = None

    async def published(self) -> tuple[dict[str, Decimal], str | None, tuple[str, ...]] | None:
        """The table the documents publish, its default (if named) and its sources.

        Raises:
            GigaTransportError: No document publishes tiers and some could not be reached.

        The first document (in `DISCOVERY_PATHS` order) that publishes tiers gives the
        table; later ones count as sources only when they publish the same table.
        """
        missing = [path for path in DISCOVERY_PATHS if path not in self._read]
        if missing:
            found = await asyncio.gather(*(self._fetch(path) for path in missing))
            for path, (reached, result) in zip(missing, found, strict=True):
                if reached:
                    self._read[path] = result
        readings = [(p, self._read.get(p)) for p in DISCOVERY_PATHS]
        first = next((r for _, r in readings if r is not None), None)
        if first is None:
            if missing := [p for p in DISCOVERY_PATHS if p not in self._read]:
                raise GigaTransportError(
                    f"Could not reach {self.exchange.base_url} to read {', '.join(missing)}"
                )
            return None
        agreeing = [(p, r) for p, r in readings if r is not None and r.tiers == first.tiers]
        default = next((r.default for _, r in agreeing if r.default is not None), None)
        return first.tiers, default, tuple(p for p, _ in agreeing)

    async def _fetch(self, path: str) -> tuple[bool, PublishedTiers | None]:
        """``(reached, tiers)``: whether the server answered, and what the document says."""
        try:
            response = await self.exchange.send("GET", path, f"read {path}")
        except GigaTransportError:
            return False, None
        except GigaError:
            return True, None
        if response.status_code != 200:
            return True, None
        try:
            return True, parse_document(path, response.text)
        except (ValueError, TypeError, AttributeError):
            return True, None

    async def server_tiers(self) -> ServerTiers | None:
        """The server's tiers and default, or ``None`` when it publishes no tier table.

        Raises:
            GigaProtocolError: The documents name no default and a quote without a tier is
                not one published tier's price.
        """
        if self._tiers is not None:
            return self._tiers
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._tiers is None:
                published = await self.published()
                if published is None:
                    return None
                tiers, default, sources = published
                if default is None:
                    default = await self._default_from_quote(tiers)
                    sources = (*sources, QUOTE_SOURCE)
                self._tiers = ServerTiers(dict(tiers), default, sources)
            return self._tiers

    @property
    def known(self) -> ServerTiers | None:
        """The tiers read so far (``None`` before reading, or when none are published)."""
        return self._tiers

    async def required(self) -> ServerTiers:
        """`server_tiers`, or an error when the server publishes no tier table.

        Raises:
            GigaProtocolError: The server publishes no tier table, or its default is unclear.
        """
        found = await self.server_tiers()
        if found is None:
            raise GigaProtocolError(
                f"{self.exchange.base_url} publishes no tier table (looked for "
                f"{', '.join(DISCOVERY_PATHS)})"
            )
        return found

    async def resolve(
        self, tier: str | None, default_tier: str | None
    ) -> tuple[str, ServerTiers | None]:
        """The tier to send for a call: ``tier``, else ``default_tier``, else the server's.

        Returns:
            The tier, and the server's tiers (``None`` when it publishes none, or could not be
            reached while a tier was named: the tier key's own price is then the only check).

        Raises:
            TierNotOfferedError: The server publishes tiers and this is not one of them.
            GigaConfigError: No tier was named and the server publishes no tier table.
            GigaTransportError: No tier was named and the server could not be reached.
        """
        chosen = tier if tier is not None else default_tier
        try:
            server = await self.server_tiers()
        except GigaTransportError:
            if chosen is None:
                raise
            server = None
        if server is None:
            if chosen is None:
                raise GigaConfigError(
                    f"{self.exchange.base_url} publishes no tier table, so its default tier "
                    "cannot be checked: name a tier (tier='$1.00', or set default_tier)"
                )
            return chosen, None
        if chosen is None:
            chosen = server.default
        if server.price(chosen) is None:
            raise server.refuse(chosen, self.exchange.base_url, from_default=tier is None)
        return chosen, server

    async def _default_from_quote(self, tiers: dict[str, Decimal]) -> str:
        """Ask for a quote without a tier (unpaid); its price must be one tier's price."""
        what = "quote without a tier"
        response = await self.exchange.send(
            "POST", "/api/start", what, json={"prompt": _PROBE_PROMPT}
        )
        header = response.headers.get(PAYMENT_REQUIRED)
        if response.status_code != 402 or not header:
            raise GigaProtocolError(
                f"{what}: expected a 402 quote, got HTTP {response.status_code}; the server's "
                "default tier is unknown, so name a tier"
            )
        amounts = _quoted_amounts(decode_b64_json(header, PAYMENT_REQUIRED), self.network)
        matches = [key for key, price in tiers.items() if price in amounts]
        if len(matches) != 1:
            shown = ", ".join(format_usd(a) for a in sorted(amounts)) or "nothing payable"
            raise GigaProtocolError(
                f"{what}: the server quoted {shown}, which is not exactly one published "
                f"tier's price ({', '.join(tiers)}); its default tier is unknown, so name a tier"
            )
        return matches[0]


def _quoted_amounts(challenge: dict[str, Any], network: Network) -> set[Decimal]:
    amounts: set[Decimal] = set()
    for entry in challenge.get("accepts") or []:
        if not isinstance(entry, dict) or entry.get("network") != network.caip2:
            continue
        if str(entry.get("asset", "")).lower() != network.usdc_address.lower():
            continue
        raw = str(entry.get("amount", ""))
        if raw.isascii() and raw.isdigit():
            amounts.add(to_usd(raw))
    return amounts
