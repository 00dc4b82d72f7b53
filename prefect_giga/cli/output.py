"""How commands print: rich tables for people, JSON for scripts, notes and errors on stderr."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any, NoReturn

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from ..core.exceptions import GigaError, OutcomeUnknownError
from ..core.money import format_usd

__all__ = [
    "EXIT_ERROR",
    "EXIT_UNKNOWN_OUTCOME",
    "Output",
    "execute",
    "fields_table",
    "rows_table",
    "to_jsonable",
]

EXIT_ERROR = 1
"""Exit status of a command that failed (or of a run that failed, for the waiting commands)."""
EXIT_UNKNOWN_OUTCOME = 3
"""Exit status when a paid start's outcome is unknown (see ``prefect-giga journal``)."""

_PIPE_WIDTH = 200  # no terminal to measure: wide enough that ids and addresses never wrap


def to_jsonable(value: Any) -> Any:
    """``value`` with decimals as strings, datetimes as ISO-8601 and enums as their values.

    Example:
        >>> to_jsonable({"amount": Decimal("0.50"), "when": date(2026, 3, 2)})
        {'amount': '0.50', 'when': '2026-03-02'}
    """
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Enum):
        return to_jsonable(value.value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    return value


def _cell(value: Any) -> Text:
    if value is None:
        return Text("-")
    if isinstance(value, bool):
        return Text("yes" if value else "no")
    if isinstance(value, datetime):
        return Text(value.strftime("%Y-%m-%d %H:%M:%S"))
    if isinstance(value, Decimal):  # every amount the commands show is in USD
        return Text(format_usd(value))
    return Text(str(to_jsonable(value)))


def rows_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    """A table with a header row; cells are shown as plain text (never rich markup).

    Example:
        >>> rows_table("Runs", ["Run", "Status"], [["r1", "completed"]]).row_count
        1
    """
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(value) for value in row))
    return table


def fields_table(title: str, fields: Mapping[str, Any]) -> Table:
    """A two-column table of one record's fields.

    Example:
        >>> fields_table("Quote", {"Tier": "$0.50", "Amount": "$0.50"}).row_count
        2
    """
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("Field", style="bold")
    table.add_column("Value", overflow="fold")
    for name, value in fields.items():
        table.add_row(Text(name), _cell(value))
    return table


class Output:
    """Where one command's results, notes and errors go.

    Results go to stdout: JSON with ``--json``, rich tables otherwise. Notes (what a command
    is about to do) and errors go to stderr, so stdout stays parseable.

    Args:
        json_mode: Print results as JSON.

    Example:
        >>> out = Output(json_mode=True)
        >>> out.result({"ok": True}, lambda: fields_table("Result", {"ok": True}))
        {
          "ok": true
        }
    """

    def __init__(self, json_mode: bool) -> None:
        self.json_mode = json_mode
        self.console = Console(highlight=False)
        if not self.console.is_terminal:
            self.console = Console(highlight=False, width=_PIPE_WIDTH)
        self.stderr = Console(stderr=True, highlight=False)
        if not self.stderr.is_terminal:
            self.stderr = Console(stderr=True, highlight=False, width=_PIPE_WIDTH)

    def result(
        self, data: Any, render: Callable[[], RenderableType | Sequence[RenderableType]]
    ) -> None:
        """Print a command's result: ``data`` as JSON, or what ``render`` builds."""
        if self.json_mode:
            typer.echo(json.dumps(to_jsonable(data), indent=2))
            return
        rendered = render()
        for item in rendered if isinstance(rendered, Sequence) else [rendered]:
            self.console.print(item)

    def note(self, text: str) -> None:
        """Tell the person running the command something (on stderr)."""
        self.stderr.print(text, markup=False)

    def failure(self, error: BaseException) -> None:
        """Report an error: its message on stderr, and a JSON object on stdout with ``--json``."""
        message = _message(error)
        self.stderr.print(f"Error: {message}", markup=False)
        if isinstance(error, OutcomeUnknownError) and error.idempotency_key:
            key = error.idempotency_key
            self.note(
                f"Start {key} stays recorded as sent in the journal. Re-run start with "
                f"--idempotency-key {key} (it cannot pay twice), or settle it with "
                f"`prefect-giga journal resolve {key}`."
            )
        if self.json_mode:
            detail: dict[str, Any] = {"type": type(error).__name__, "message": message}
            if isinstance(error, OutcomeUnknownError):
                detail.update(
                    idempotency_key=error.idempotency_key,
                    payment_nonce=error.payment_nonce,
                    payer=error.payer,
                    network=error.network,
                    candidate_run_ids=list(error.candidate_run_ids),
                )
            typer.echo(json.dumps({"error": detail}, indent=2))


def _message(error: BaseException) -> str:
    if isinstance(error, ValidationError):
        problems = [
            f"{'.'.join(str(part) for part in e['loc']) or 'value'}: {e['msg']}"
            for e in error.errors()
        ]
        return "; ".join(problems)
    return str(error)


def execute(output: Output, work: Callable[[], Coroutine[Any, Any, int | None]]) -> NoReturn:
    """Run a command's coroutine and exit with its status, turning errors into clear messages.

    Args:
        output: Where errors are reported.
        work: Builds the coroutine; it returns an exit status (``None`` for success).

    Raises:
        typer.Exit: Always, with the command's exit status: `EXIT_UNKNOWN_OUTCOME` when a paid
            start's outcome is unknown, `EXIT_ERROR` for any other error.

    Example:
        ```python
        async def work() -> int | None:
            output.result({"ok": True}, lambda: fields_table("OK", {"ok": True}))
            return None

        execute(output, work)
        ```
    """
    try:
        code = asyncio.run(work())
    except OutcomeUnknownError as exc:
        output.failure(exc)
        raise typer.Exit(EXIT_UNKNOWN_OUTCOME) from None
    except (GigaError, ValidationError) as exc:
        output.failure(exc)
        raise typer.Exit(EXIT_ERROR) from None
    raise typer.Exit(code or 0)
