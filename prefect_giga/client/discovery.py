"""Reading a server's tier table out of the documents it publishes about itself.

Giga runs on a router that publishes an OpenAPI document (``/openapi.json`` or, mounted under
the API prefix, ``/api/openapi.json``), a ``llms.txt`` guide and, on older deployments,
``/.well-known/x402``. Each parser here takes one document and returns what it says about
the paid start's tiers, or ``None`` when it says nothing usable. The parsers are pure (no
I/O) and strict: a document whose tiers contradict themselves (a tier key that names one
price and a price column that says another, or a price range that does not fit the tiers)
counts as saying nothing, since a wrong table is worse than none.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..core.money import parse_usd, tier_price

__all__ = [
    "DISCOVERY_PATHS",
    "PublishedTiers",
    "parse_document",
    "parse_guide",
    "parse_openapi",
    "parse_well_known",
]

DISCOVERY_PATHS = ("/openapi.json", "/api/openapi.json", "/llms.txt", "/.well-known/x402")
"""Where a Giga server may publish its tiers, most precise first."""

_TIER_ROW = re.compile(r"\|\s*`([^`|\n]{1,40})`\s*\|\s*\$?\s*(\d+(?:\.\d+)?)\s*\|")
_DEFAULT_PATTERNS = (
    re.compile(r"[Dd]efault tier is\s*`([^`\n]{1,40})`"),
    re.compile(r"`tier`[^.\n]{0,40}?defaults? to\s*`([^`\n]{1,40})`"),
    re.compile(r"`([^`\n]{1,40})`\s*\(default\)"),
)


@dataclass(frozen=True)
class PublishedTiers:
    """What one document says about the start's tiers.

    Attributes:
        tiers: Tier key to USD price, in the document's order.
        default: The default tier the document names, or ``None``.

    Example:
        >>> PublishedTiers({"$1.00": Decimal("1.00")}, "$1.00").default
        '$1.00'
    """

    tiers: dict[str, Decimal]
    default: str | None


def _usd(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    try:
        return parse_usd(value)
    except ValueError:
        return None


def _consistent(tiers: Mapping[str, Decimal]) -> bool:
    """Every key that is itself a price names the price listed for it."""
    return all(tier_price(key) in (None, price) for key, price in tiers.items())


def _default_in(text: str, tiers: Mapping[str, Decimal]) -> str | None:
    for pattern in _DEFAULT_PATTERNS:
        for match in pattern.finditer(text):
            if match.group(1).strip() in tiers:
                return match.group(1).strip()
    return None


def parse_guide(text: str) -> PublishedTiers | None:
    """Tiers from a Markdown guide (``llms.txt``): a ``| `key` | $price |`` table.

    The default comes from a sentence such as "Default tier is `$1.00`", "`tier` defaults
    to `$1.00`" or "`$1.00` (default)".

    Example:
        >>> guide = "| Tier | Price |\\n| `$1.00` | $1.00 |\\n| `$2.00` | $2.00 |\\n"
        >>> found = parse_guide(guide + "Default tier is `$1.00`.")
        >>> list(found.tiers), found.default
        (['$1.00', '$2.00'], '$1.00')
    """
    tiers: dict[str, Decimal] = {}
    for match in _TIER_ROW.finditer(text):
        key, price = match.group(1).strip(), _usd(match.group(2))
        if price is None or tiers.get(key, price) != price:
            return None
        tiers[key] = price
    if not tiers or not _consistent(tiers):
        return None
    return PublishedTiers(tiers, _default_in(text, tiers))


def _resolve(document: Mapping[str, Any], node: Any) -> Any:
    """Follow one local ``$ref`` (``#/components/schemas/...``)."""
    if isinstance(node, dict) and isinstance(node.get("$ref"), str):
        return _get(dict(document), *node["$ref"].removeprefix("#/").split("/"))
    return node


def _get(node: Any, *keys: str) -> Any:
    """``node[k1][k2]...``, or ``None`` as soon as a step is not an object."""
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _tier_schema(document: Mapping[str, Any], path: str) -> tuple[dict[str, Any], Any] | None:
    operation = _get(dict(document), "paths", path, "post")
    content = _get(operation, "requestBody", "content", "application/json", "schema")
    tier = _resolve(document, _get(_resolve(document, content), "properties", "tier"))
    if not isinstance(tier, dict):
        return None
    return tier, _get(operation, "x-payment-info")


def _enum_of(schema: Mapping[str, Any]) -> list[Any]:
    if isinstance(schema.get("enum"), list):
        return list(schema["enum"])
    for combinator in ("anyOf", "oneOf"):
        for option in schema.get(combinator) or []:
            if isinstance(option, dict) and (option.get("enum") or "const" in option):
                return list(option.get("enum") or [option["const"]])
    return []


def _fits_payment_info(info: Any, prices: list[Decimal]) -> bool:
    """The route's ``x-payment-info`` price (or range), if any, agrees with the tiers."""
    if not isinstance(info, dict):
        return True
    declared = {name: _usd(info.get(name)) for name in ("price", "minPrice", "maxPrice")}
    expected = {"price": min(prices), "minPrice": min(prices), "maxPrice": max(prices)}
    if info.get("pricingMode") == "fixed" and len(set(prices)) > 1:
        return False
    return all(
        value is None or value == expected[name]
        for name, value in declared.items()
        if info.get(name) is not None
    )


def parse_openapi(document: Mapping[str, Any], path: str = "/api/start") -> PublishedTiers | None:
    """Tiers from an OpenAPI document: the ``tier`` property of ``path``'s request body.

    The keys come from the property's ``enum`` and must be prices (``"$1.00"``), since OpenAPI
    has no field for a tier's price; the default from its ``default`` or its description.
    The route's ``x-payment-info`` price range, when present, must agree with the tiers.

    Example:
        >>> tier = {"type": "string", "enum": ["$1.00", "$5.00"], "default": "$1.00"}
        >>> body = {"type": "object", "properties": {"prompt": {}, "tier": tier}}
        >>> op = {"requestBody": {"content": {"application/json": {"schema": body}}}}
        >>> found = parse_openapi({"paths": {"/api/start": {"post": op}}})
        >>> found.tiers["$5.00"], found.default
        (Decimal('5.00'), '$1.00')
    """
    located = _tier_schema(document, path)
    if located is None:
        return None
    schema, payment_info = located
    tiers: dict[str, Decimal] = {}
    for key in _enum_of(schema):
        price = tier_price(key) if isinstance(key, str) else None
        if price is None:
            return None
        tiers[key] = price
    if not tiers or not _fits_payment_info(payment_info, list(tiers.values())):
        return None
    default = schema.get("default")
    if not (isinstance(default, str) and default in tiers):
        default = _default_in(str(schema.get("description") or ""), tiers)
    return PublishedTiers(tiers, default)


def parse_well_known(document: Mapping[str, Any]) -> PublishedTiers | None:
    """Tiers from ``/.well-known/x402``: its ``instructions`` text, read as a guide.

    Example:
        >>> parse_well_known({"version": 1, "resources": []}) is None
        True
    """
    instructions = document.get("instructions")
    return parse_guide(instructions) if isinstance(instructions, str) else None


def parse_document(path: str, text: str) -> PublishedTiers | None:
    """Parse the document served at ``path`` (one of `DISCOVERY_PATHS`).

    Example:
        >>> parse_document("/llms.txt", "no tiers here") is None
        True
    """
    if path.endswith(".txt"):
        return parse_guide(text)
    try:
        document = json.loads(text)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    if path.endswith("openapi.json"):
        return parse_openapi(document)
    return parse_well_known(document)
