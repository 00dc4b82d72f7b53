"""``prefect-giga emulator serve``: the local Giga emulator, as ``python -m prefect_giga.testing
serve`` runs it (same code), for trying the other commands without a real server or chain."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from .common import JsonOption

__all__ = ["app"]

app = typer.Typer(
    name="emulator",
    help="Run the local Giga emulator (verifies payments and sign-ins for real).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port (0 picks a free one).")] = 8402,
    time_scale: Annotated[
        float, typer.Option("--time-scale", help="Agent seconds per real second.")
    ] = 1.0,
    siwx_domain: Annotated[
        str | None,
        typer.Option("--siwx-domain", help="Sign-in domain form: host:port or hostname."),
    ] = None,
    network: Annotated[
        str | None, typer.Option("--network", help="CAIP-2 id, or base / base-sepolia.")
    ] = None,
    tier_table: Annotated[
        str | None,
        typer.Option(
            "--tier-table", help="today ($1.00 default, $2.00, $5.00) or seed ($0.50 default, ...)."
        ),
    ] = None,
    json_mode: JsonOption = False,
) -> None:
    """Serve the emulator until Ctrl-C; prints its URL and a funded THROWAWAY test wallet key.

    With --json the announcement is one JSON line (url, payee, test wallet and its key).

    Example: prefect-giga emulator serve --port 8402 --time-scale 60
    """
    from ..testing.__main__ import Announcement, print_announcement
    from ..testing.__main__ import serve as serve_emulator
    from ..testing.config import TIER_TABLES, EmulatorConfig

    settings: dict[str, Any] = {"host": host, "port": port, "time_scale": time_scale}
    if siwx_domain is not None:
        settings["siwx_domain"] = siwx_domain
    if network is not None:
        settings["network"] = network
    if tier_table is not None:
        if tier_table not in TIER_TABLES:
            typer.echo(f"Error: --tier-table must be one of {', '.join(TIER_TABLES)}", err=True)
            raise typer.Exit(1)
        tiers, default = TIER_TABLES[tier_table]
        settings.update(tiers=dict(tiers), default_tier=default)
    try:
        config = EmulatorConfig(**settings)
    except ValueError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from None

    def announce_json(announcement: Announcement) -> None:
        print(json.dumps(announcement))
        sys.stdout.flush()

    raise typer.Exit(serve_emulator(config, announce_json if json_mode else print_announcement))
