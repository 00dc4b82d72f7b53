"""``prefect-giga block create``: save a `GigaCredentials` block without the key ever showing.

The key comes from ``$GIGA_PRIVATE_KEY`` or a hidden prompt, never from an argument, and is
never printed: only the wallet's address is.
"""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Annotated, Any

import typer

from ..client.async_client import DEFAULT_BASE_URL
from ..core.exceptions import GigaConfigError
from .common import ENV_BASE_URL, JsonOption, prompt_for_key
from .output import Output, execute, fields_table

__all__ = ["app"]

app = typer.Typer(
    name="block",
    help="Save the paying wallet as a Prefect block.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The block's name, e.g. giga-prod.")],
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            metavar="URL",
            help=f"The Giga server (default: ${ENV_BASE_URL}, else {DEFAULT_BASE_URL}).",
        ),
    ] = None,
    network: Annotated[
        str | None, typer.Option("--network", help="eip155:8453 (Base) or eip155:84532.")
    ] = None,
    default_tier: Annotated[
        str | None,
        typer.Option("--default-tier", metavar="TIER", help="Tier used when none is named."),
    ] = None,
    max_price_per_run: Annotated[
        str | None,
        typer.Option("--max-price-per-run", metavar="USD", help="Refuse runs above this."),
    ] = None,
    max_spend_per_day: Annotated[
        str | None,
        typer.Option("--max-spend-per-day", metavar="USD", help="Rolling 24-hour limit."),
    ] = None,
    allowed_payee: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-payee", metavar="ADDRESS", help="Only pay this address (repeatable)."
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a block of the same name.")
    ] = False,
    json_mode: JsonOption = False,
) -> None:
    """Save a GigaCredentials block; the key comes from $GIGA_PRIVATE_KEY or a hidden prompt.

    Example: GIGA_PRIVATE_KEY=0x... prefect-giga block create giga-prod --max-spend-per-day 20
    """
    output = Output(json_mode)

    async def work() -> None:
        from ..credentials import GigaCredentials  # Prefect loads only when a block is saved

        settings: dict[str, Any] = {
            "private_key": prompt_for_key(),
            "base_url": base_url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL,
        }
        optional = {
            "network": network,
            "default_tier": default_tier,
            "max_price_per_run": max_price_per_run,
            "max_spend_per_day": max_spend_per_day,
        }
        settings.update({k: v for k, v in optional.items() if v is not None})
        if allowed_payee:
            settings["allowed_payees"] = allowed_payee
        credentials = GigaCredentials(**settings)
        try:
            await credentials.asave(name, overwrite=overwrite)
        except ValueError as exc:
            raise GigaConfigError(
                f"Block {name!r} was not saved ({exc}); pass --overwrite to replace it"
            ) from None
        fields = {
            "name": name,
            "address": credentials.address,
            "base_url": credentials.base_url,
            "network": credentials.network,
            "default_tier": credentials.default_tier,
            "max_price_per_run": _optional(credentials.max_price_per_run),
            "max_spend_per_day": _optional(credentials.max_spend_per_day),
            "allowed_payees": credentials.allowed_payees,
        }
        output.result(
            fields, lambda: fields_table(f"Saved block {name!r} (key stored as a secret)", fields)
        )

    execute(output, work)


def _optional(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
