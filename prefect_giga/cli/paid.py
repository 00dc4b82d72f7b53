"""``prefect-giga quote`` and ``prefect-giga start``: what a run costs, and paying for one."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import RenderableType

from ..client.async_client import GigaClient
from ..core.models import PaymentReceipt, Quote, RunStatus, StartedRun
from ..core.money import format_usd
from ..payments.journal import StartRef
from .common import BaseUrlOption, BlockOption, JsonOption, open_client
from .download import download_files, files_fields, files_table
from .output import EXIT_ERROR, Output, execute, fields_table
from .runs import PollOption, TimeoutOption, run_fields, run_tables, wait_for

__all__ = ["quote", "start"]

TierOption = Annotated[
    str | None,
    typer.Option("--tier", metavar="TIER", help="The tier, e.g. '$1.00' (default: the block's)."),
]
QUOTE_PROMPT = "prefect-giga price check"
"""The prompt of a bare price check (a quote is free and starts nothing)."""


def quote_fields(giga: GigaClient, quoted: Quote) -> dict[str, Any]:
    """A checked quote as plain fields, with the wallet and server it is for.

    Example:
        ```python
        print(quote_fields(giga, await giga.quote("hi"))["amount"])
        ```
    """
    return {
        "server": giga.base_url,
        "wallet": giga.address,
        "tier": quoted.tier,
        "amount": quoted.amount,
        "amount_atomic": quoted.amount_atomic,
        "network": quoted.network,
        "asset": quoted.asset,
        "pay_to": quoted.pay_to,
        "max_timeout_seconds": quoted.max_timeout_seconds,
    }


def quote(
    tier: TierOption = None,
    block: BlockOption = None,
    base_url: BaseUrlOption = None,
    json_mode: JsonOption = False,
) -> None:
    """Ask the server what a run costs (a free probe: nothing is signed or paid).

    Example: prefect-giga quote --tier '$1.00'
    """
    output = Output(json_mode)

    async def work() -> None:
        async with open_client(block, base_url) as giga:
            fields = quote_fields(giga, await giga.quote(QUOTE_PROMPT, tier=tier))
        output.result(fields, lambda: fields_table("Quote (nothing paid)", _titled(fields)))

    execute(output, work)


def _titled(fields: dict[str, Any]) -> dict[str, Any]:
    return {name.replace("_", " ").capitalize(): value for name, value in fields.items()}


def _receipt_fields(receipt: PaymentReceipt | None) -> dict[str, Any] | None:
    if receipt is None:
        return None
    return {
        "tier": receipt.tier,
        "amount": receipt.amount,
        "network": receipt.network,
        "payer": receipt.payer,
        "pay_to": receipt.pay_to,
        "transaction": receipt.transaction or None,
        "payment_nonce": receipt.payment_nonce,
    }


def _started_fields(giga: GigaClient, started: StartedRun) -> dict[str, Any]:
    return {
        "run_id": started.run_id,
        "status": started.status.value,
        "idempotency_key": started.idempotency_key,
        "reattached": started.reattached,
        "reconciled": started.reconciled,
        "server": giga.base_url,
        "wallet": giga.address,
        "receipt": _receipt_fields(started.receipt),
    }


async def _ask_to_pay(
    giga: GigaClient,
    output: Output,
    request: tuple[str, str | None, list[Path]],
    key: str,
    yes: bool,
) -> bool:
    """Show the quote and the idempotency key; ask before paying unless ``yes``."""
    prompt, tier, files = request
    quoted = await giga.quote(prompt, tier=tier, files=files)
    output.note(
        f"Quote: {format_usd(quoted.amount)} for tier {quoted.tier}, in USDC on "
        f"{giga.network.name} ({quoted.network}), paid to {quoted.pay_to} by {giga.address}."
    )
    output.note(
        f"Idempotency key: {key} (if this command is cut off, re-run it with "
        f"--idempotency-key {key}: it re-attaches to the run instead of paying again)."
    )
    return yes or typer.confirm(f"Pay {format_usd(quoted.amount)} and start the run?", err=True)


def start(
    prompt: Annotated[str, typer.Argument(help="What the agent should do.")],
    file: Annotated[
        list[Path] | None,
        typer.Option("--file", "-f", metavar="PATH", help="Attach a file (repeatable)."),
    ] = None,
    tier: TierOption = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            "--idempotency-key",
            metavar="KEY",
            help="Name this logical start; the same key never pays twice (default: a new one).",
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Pay without asking.")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the run finishes.")] = False,
    download: Annotated[
        Path | None,
        typer.Option("--download", metavar="DIR", help="Wait, then download its files here."),
    ] = None,
    timeout: TimeoutOption = None,
    poll_interval: PollOption = 5.0,
    block: BlockOption = None,
    base_url: BaseUrlOption = None,
    json_mode: JsonOption = False,
) -> None:
    """Pay for and start one agent run; shows the quote and asks first unless --yes.

    Exit status 3 means the paid request's outcome is unknown: re-run with the printed
    --idempotency-key, or see `prefect-giga journal unresolved`.

    Example: prefect-giga start "Summarise this CSV" --file data.csv --wait --download out/
    """
    output = Output(json_mode)
    files = list(file or [])
    key = idempotency_key or uuid.uuid4().hex

    async def work() -> int | None:
        async with open_client(block, base_url) as giga:
            recorded = giga.journal.get(StartRef(giga.address, giga.base_url, key))
            if recorded is None or recorded.run_id is None:
                if recorded is not None:
                    output.note(
                        f"Start {key} was sent before and its outcome is unknown: this sends "
                        "the same payment authorization (same EIP-3009 nonce), which can "
                        "settle at most once."
                    )
                if not await _ask_to_pay(giga, output, (prompt, tier, files), key, yes):
                    output.note("Nothing was paid.")
                    return EXIT_ERROR
            started = await giga.start(prompt, tier=tier, files=files, idempotency_key=key)
            fields = _started_fields(giga, started)
            tables: list[RenderableType] = [fields_table("Started", _flat(fields))]
            code = None
            if wait or download is not None:
                run = await wait_for(
                    giga, started.run_id, timeout=timeout, poll_interval=poll_interval
                )
                fields["run"] = run_fields(run)
                tables += run_tables(run, "Finished")
                code = EXIT_ERROR if run.status is RunStatus.FAILED else None
                if download is not None and code is None:
                    got = await download_files(giga, started.run_id, download)
                    fields["files"] = files_fields(got)
                    tables.append(files_table(started.run_id, got))
        output.result(fields, lambda: tables)
        return code

    execute(output, work)


def _flat(fields: dict[str, Any]) -> dict[str, Any]:
    flat = {k: v for k, v in fields.items() if k != "receipt"}
    receipt = fields.get("receipt") or {}
    flat.update({f"paid {k}": v for k, v in receipt.items() if k not in ("payer",)})
    return _titled(flat)
