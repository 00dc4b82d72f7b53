"""The ``prefect-giga`` command: every command group wired into one typer application."""

from __future__ import annotations

import typer

from . import block, doctor, download, emulator, journal, paid, runs, spend, tiers

__all__ = ["app", "main"]

app = typer.Typer(
    name="prefect-giga",
    help="Operate Giga from a terminal: quote, start and fetch runs, see spending, settle "
    "starts whose outcome is unknown, and check the setup. Add --json for scripts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
app.command("quote")(paid.quote)
app.command("start")(paid.start)
app.command("download")(download.download)
app.command("tiers")(tiers.tiers)
app.command("spend")(spend.spend)
app.command("doctor")(doctor.doctor)
app.add_typer(runs.app)
app.add_typer(journal.app)
app.add_typer(block.app)
app.add_typer(emulator.app)


def main() -> None:
    """Run the command line (the ``prefect-giga`` console script).

    Example:
        ```bash
        prefect-giga runs list --json
        ```
    """
    app()
