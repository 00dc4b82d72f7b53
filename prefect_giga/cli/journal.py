"""``prefect-giga journal``: starts whose outcome is unknown, and resolving them with evidence.

Resolving applies the rules a live start uses to claim its run: the run must be this
wallet's, assigned to no other start, and created after the payment left. "Not charged" is
only ever recorded by hand, and only once the payment authorization has expired.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Annotated, Any

import typer
from rich.console import RenderableType

from ..client.async_client import GigaClient
from ..core.exceptions import GigaConfigError, RunNotFoundError
from ..core.models import RunSummary
from ..payments.journal import Journal, JournalEntry, StartRef, StartState
from ..payments.ledger import (
    Evidence,
    ResolutionRefusedError,
    assign_run,
    gather_evidence,
    mark_not_charged,
    unresolved,
)
from .common import BaseUrlOption, BlockOption, JsonOption, open_client
from .output import EXIT_UNKNOWN_OUTCOME, Output, execute, fields_table, rows_table

__all__ = ["app", "entry_fields", "evidence_fields"]

app = typer.Typer(
    name="journal",
    help="Starts whose outcome is unknown, and resolving them.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


def _moment(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, timezone.utc)


def entry_fields(entry: JournalEntry, *, now: float | None = None) -> dict[str, Any]:
    """A journal entry as plain fields (no secret: the nonce and addresses are public).

    Example:
        ```python
        print(entry_fields(entry)["payment_nonce"])
        ```
    """
    moment = time.time() if now is None else now
    return {
        "key": entry.key,
        "state": entry.state.value,
        "wallet": entry.payer,
        "server": entry.server,
        "tier": entry.tier,
        "amount": entry.amount,
        "network": entry.network,
        "pay_to": entry.pay_to,
        "payment_nonce": entry.nonce,
        "run_id": entry.run_id,
        "sent_at": _moment(entry.sent_at),
        "authorization_valid_until": _moment(entry.valid_before),
        "authorization_expired": entry.valid_before is not None and entry.valid_before <= moment,
    }


def evidence_fields(evidence: Evidence) -> dict[str, Any]:
    """What the server's run list showed about a start, as plain fields.

    Example:
        ```python
        print(evidence_fields(evidence)["verdict"])
        ```
    """
    return {
        "runs_created_since": evidence.since,
        "candidates": [
            {"id": run.id, "status": run.status.value, "created_at": run.created_at}
            for run in evidence.candidates
        ],
        "assigned_to_other_starts": list(evidence.assigned),
        "other_unresolved_starts": [rival.key for rival in evidence.rivals],
        "verdict": evidence.verdict,
    }


@app.command("unresolved")
def list_unresolved(
    wallet: Annotated[
        str | None, typer.Option("--wallet", metavar="ADDRESS", help="Only this wallet.")
    ] = None,
    json_mode: JsonOption = False,
) -> None:
    """Starts whose paid request lost its reply, so whether they were charged is unknown.

    Reads only the journal ($GIGA_JOURNAL_URL or $GIGA_JOURNAL_PATH); needs no key.

    Example: prefect-giga journal unresolved
    """
    output = Output(json_mode)

    async def work() -> None:
        journal = Journal()
        try:
            entries = [entry_fields(e) for e in unresolved(journal, payer=wallet)]
        finally:
            journal.close()
        output.result(
            {"journal": journal.location, "unresolved": entries},
            lambda: rows_table(
                f"Starts with an unknown outcome ({journal.location})",
                [
                    "Key",
                    "Wallet",
                    "Server",
                    "Tier",
                    "Amount",
                    "Sent",
                    "Authorization until",
                    "Payment nonce",
                ],
                [
                    [
                        e["key"],
                        e["wallet"],
                        e["server"],
                        e["tier"],
                        e["amount"],
                        e["sent_at"],
                        e["authorization_valid_until"],
                        e["payment_nonce"],
                    ]
                    for e in entries
                ],
            ),
        )

    execute(output, work)


def _lookup(giga: GigaClient, key: str) -> JournalEntry:
    entry = giga.journal.get(StartRef(giga.address, giga.base_url, key))
    if entry is None:
        elsewhere = [f"{e.payer} on {e.server}" for e in giga.journal.find(key)]
        where = f" (it exists for {', '.join(elsewhere)})" if elsewhere else ""
        raise ResolutionRefusedError(
            f"The journal has no start {key} of wallet {giga.address} on {giga.base_url}"
            f"{where}; nothing changed"
        )
    if entry.state is not StartState.SENT:
        became = f" (run {entry.run_id})" if entry.run_id else ""
        raise ResolutionRefusedError(
            f"Start {key} is not unresolved: it is {entry.state.value}{became}; nothing changed"
        )
    return entry


async def _listed_since(giga: GigaClient, since: datetime) -> list[RunSummary]:
    """This wallet's runs updated since ``since`` (the list is ordered by last update)."""
    runs = []
    async for run in giga.iter_runs():
        if run.updated_at < since:
            break
        runs.append(run)
    return runs


async def _resolve_one(
    giga: GigaClient, evidence: Evidence, run_id: str | None, not_charged: bool
) -> JournalEntry:
    journal, entry = giga.journal, evidence.entry
    if run_id is not None:
        try:
            run = await giga.read(run_id)
        except RunNotFoundError:
            raise ResolutionRefusedError(
                f"Run {run_id} is not a run of wallet {giga.address} on {giga.base_url} (the "
                f"server does not show it to this wallet): it cannot be start {entry.key}'s; "
                "nothing changed"
            ) from None
        return assign_run(journal, entry, run, reader=giga.address)
    if not_charged:
        if evidence.claimable is not None:
            raise ResolutionRefusedError(
                f"Run {evidence.claimable.id} appeared after start {entry.key}'s payment and "
                "can only be its run, so it was charged: resolve without --not-charged; "
                "nothing changed"
            )
        return mark_not_charged(journal, entry)
    if evidence.claimable is not None and giga.reconcile.list_claims:
        return assign_run(journal, entry, evidence.claimable, reader=giga.address)
    return entry  # with list claims off, the evidence is shown and the start stays unresolved


def _tables(results: list[dict[str, Any]]) -> list[RenderableType]:
    tables: list[RenderableType] = []
    for result in results:
        start = {k: v for k, v in result.items() if k not in ("evidence",)}
        tables.append(fields_table(f"Start {result['key']}", start))
        evidence = result["evidence"]
        tables.append(
            rows_table(
                f"Evidence: {evidence['verdict']}",
                ["Candidate run", "Status", "Created"],
                [[c["id"], c["status"], c["created_at"]] for c in evidence["candidates"]],
            )
        )
    if not results:
        tables.append(fields_table("Nothing to resolve", {"unresolved starts": 0}))
    return tables


@app.command("resolve")
def resolve(
    key: Annotated[
        str | None,
        typer.Argument(metavar="[KEY]", help="The start's idempotency key (default: all)."),
    ] = None,
    run_id: Annotated[
        str | None,
        typer.Option("--run", metavar="ID", help="Record by hand that the start became this run."),
    ] = None,
    not_charged: Annotated[
        bool,
        typer.Option(
            "--not-charged",
            help="Record by hand that it was not charged (only after its authorization expired).",
        ),
    ] = False,
    block: BlockOption = None,
    base_url: BaseUrlOption = None,
    json_mode: JsonOption = False,
) -> None:
    """Re-check unresolved starts against the server's runs, or record one's outcome by hand.

    Without --run or --not-charged, a start is resolved only when exactly one run can be
    its own (and never with a block whose list claims are off); otherwise the evidence is
    shown and it stays unresolved (exit status 3).

    Example: prefect-giga journal resolve 3f2a9c --run clx8m2k4p0000abc123xyz
    """
    output = Output(json_mode)

    async def work() -> int | None:
        if (run_id is not None or not_charged) and key is None:
            raise GigaConfigError("--run and --not-charged need the start's KEY")
        if run_id is not None and not_charged:
            raise GigaConfigError("Give --run or --not-charged, not both")
        async with open_client(block, base_url) as giga:
            entries = (
                [_lookup(giga, key)]
                if key is not None
                else unresolved(giga.journal, payer=giga.address, server=giga.base_url)
            )
            listed: list[RunSummary] = []
            if entries:
                earliest = min(gather_evidence(giga.journal, e, []).since for e in entries)
                listed = await _listed_since(giga, earliest)
            results = []
            for entry in entries:  # evidence after each resolution: a run is assigned once
                evidence = gather_evidence(giga.journal, entry, listed)
                after = await _resolve_one(giga, evidence, run_id, not_charged)
                results.append({**entry_fields(after), "evidence": evidence_fields(evidence)})
        output.result({"resolved": results}, lambda: _tables(results))
        left = [r for r in results if r["state"] == StartState.SENT.value]
        return EXIT_UNKNOWN_OUTCOME if left else None

    execute(output, work)
