"""``prefect-giga spend``: what the journal says was paid, by day, wallet and server."""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from decimal import Decimal
from typing import Annotated, Any

import typer

from ..core.exceptions import GigaConfigError
from ..core.money import format_usd
from ..payments.journal import Journal
from ..payments.ledger import spend_by_day
from .common import JsonOption
from .output import Output, execute, rows_table

__all__ = ["parse_since", "spend"]

_RELATIVE = re.compile(r"^(\d+)([dhm])$")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60}


def parse_since(text: str, *, now: float | None = None) -> float:
    """``7d``, ``12h``, ``30m``, ``today`` (UTC midnight), or an ISO date or time (UTC if naive).

    Raises:
        GigaConfigError: The text is none of those.

    Example:
        >>> parse_since("2d", now=200000.0)
        27200.0
        >>> parse_since("1970-01-02")
        86400.0
    """
    moment = time.time() if now is None else now
    text = text.strip()
    relative = _RELATIVE.match(text)
    if relative:
        return moment - int(relative.group(1)) * _UNIT_SECONDS[relative.group(2)]
    if text == "today":
        day = datetime.fromtimestamp(moment, timezone.utc).date()
        return datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise GigaConfigError(
            f"--since {text!r} is not understood: use 7d, 12h, 30m, today, or a date such as "
            "2026-03-01"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def spend(
    since: Annotated[
        str,
        typer.Option(
            "--since",
            metavar="WHEN",
            help="7d, 12h, 30m, today, or a date (UTC) such as 2026-03-01.",
        ),
    ] = "7d",
    wallet: Annotated[
        str | None, typer.Option("--wallet", metavar="ADDRESS", help="Only this wallet.")
    ] = None,
    json_mode: JsonOption = False,
) -> None:
    """Payments recorded in this machine's journal, by UTC day, wallet and server.

    "Unknown" counts paid requests whose reply was lost (see `prefect-giga journal`): they
    may have been charged. Reads only the journal ($GIGA_JOURNAL_URL or $GIGA_JOURNAL_PATH);
    needs no key.

    Example: prefect-giga spend --since today
    """
    output = Output(json_mode)

    async def work() -> None:
        start = parse_since(since)
        journal = Journal()
        try:
            lines = spend_by_day(journal, since=start, payer=wallet)
        finally:
            journal.close()
        paid = sum((line.paid for line in lines), Decimal(0))
        unknown = sum((line.unknown for line in lines), Decimal(0))
        data: dict[str, Any] = {
            "since": datetime.fromtimestamp(start, timezone.utc),
            "journal": journal.location,
            "lines": [{**vars(line), "at_most": line.at_most} for line in lines],
            "total": {
                "paid_runs": sum(line.paid_runs for line in lines),
                "paid": paid,
                "unknown_runs": sum(line.unknown_runs for line in lines),
                "unknown": unknown,
                "at_most": paid + unknown,
            },
        }
        rows: list[list[Any]] = [
            [
                line.day,
                line.payer,
                line.server,
                line.paid_runs,
                format_usd(line.paid),
                line.unknown_runs,
                format_usd(line.unknown),
                line.not_charged_runs,
            ]
            for line in lines
        ]
        total = data["total"]
        rows.append(
            [
                "total",
                "",
                "",
                total["paid_runs"],
                format_usd(paid),
                total["unknown_runs"],
                format_usd(unknown),
                sum(line.not_charged_runs for line in lines),
            ]
        )
        since_text = f"{datetime.fromtimestamp(start, timezone.utc):%Y-%m-%d %H:%M} UTC"
        output.result(
            data,
            lambda: rows_table(
                f"Spend since {since_text} ({journal.location})",
                [
                    "Day (UTC)",
                    "Wallet",
                    "Server",
                    "Runs paid",
                    "Paid",
                    "Unknown",
                    "Maybe paid",
                    "Not charged",
                ],
                rows,
            ),
        )

    execute(output, work)
