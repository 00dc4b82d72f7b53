"""``prefect-giga tiers``: what the server offers and charges, from its own published documents."""

from __future__ import annotations

from typing import Any

from ..client.tiers import ServerTiers
from .common import BaseUrlOption, BlockOption, JsonOption, open_client
from .output import Output, execute, rows_table

__all__ = ["tiers", "tiers_fields"]


def tiers_fields(server: str, published: ServerTiers) -> dict[str, Any]:
    """The server's tiers as plain fields, in the server's order.

    Example:
        ```python
        print(tiers_fields(giga.base_url, await giga.tiers())["default"])
        ```
    """
    return {
        "server": server,
        "default": published.default,
        "tiers": [
            {"tier": name, "price": price, "default": name == published.default}
            for name, price in published.tiers.items()
        ],
        "sources": list(published.sources),
    }


def tiers(
    block: BlockOption = None,
    base_url: BaseUrlOption = None,
    json_mode: JsonOption = False,
) -> None:
    """The tiers the server offers, their prices and its default, from its own documents.

    Free: reads the server's discovery documents (and at most a quote); pays nothing.

    Example: prefect-giga tiers --json
    """
    output = Output(json_mode)

    async def work() -> None:
        async with open_client(block, base_url) as giga:
            fields = tiers_fields(giga.base_url, await giga.tiers())
        sources = ", ".join(fields["sources"]) or "-"
        output.result(
            fields,
            lambda: rows_table(
                f"Tiers of {fields['server']} (from {sources})",
                ["Tier", "Price", "Default"],
                [[t["tier"], t["price"], t["default"]] for t in fields["tiers"]],
            ),
        )

    execute(output, work)
