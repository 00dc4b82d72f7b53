"""A client process for the fault suite: starts items against a Giga server, one JSON line each.

The crash tests kill it with SIGKILL while its paid requests are held after settling, then
start a new one for the same items; the daily-limit and batch-limit tests run two at once on
one journal.
The journal is ``$GIGA_JOURNAL_URL`` (PostgreSQL) or ``$GIGA_JOURNAL_PATH``; the repository
root must be on ``PYTHONPATH``.

Usage::

    python tests/faults/client_process.py URL WALLET:KEY [WALLET:KEY ...] [--daily-limit USD]
        [--batch-limit SCOPE=USD] [--one-at-a-time] [--no-list-claims]

``WALLET`` is an index for `items.wallet_key`; ``KEY`` the idempotency key. Items of one
wallet share one client, and all items start concurrently. When a start waits for another
process's lease on its key, a line ``{"event": "lease_wait"}`` is written first.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import sys
from decimal import Decimal
from typing import Any

from prefect_giga import GigaClient
from prefect_giga.core.exceptions import GigaError, OutcomeUnknownError, QuoteRefusedError
from prefect_giga.payments.journal import ScopeLimit
from tests.faults.items import FAST_RECONCILE, FAST_RETRY, ONE_AT_A_TIME, prompt_for, wallet_key


def _report(line: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


async def _start(client: GigaClient, key: str, scope_limit: ScopeLimit | None) -> None:
    try:
        started = await client.start(prompt_for(key), idempotency_key=key, scope_limit=scope_limit)
    except GigaError as exc:
        line: dict[str, Any] = {"key": key, "error": type(exc).__name__}
        if isinstance(exc, QuoteRefusedError):
            line["reason"] = exc.reason
        if isinstance(exc, OutcomeUnknownError):
            line["candidates"] = list(exc.candidate_run_ids)
            line["nonce"] = exc.payment_nonce
        _report(line)
        return
    _report(
        {
            "key": key,
            "run_id": started.run_id,
            "reconciled": started.reconciled,
            "reattached": started.reattached,
        }
    )


class _LeaseWaits(logging.Handler):
    """Reports the journal-lease waits the payments logger announces, as JSON lines."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Waiting for start"):
            _report({"event": "lease_wait"})


async def main(
    url: str,
    items: list[tuple[int, str]],
    daily_limit: str | None,
    one_at_a_time: bool,
    list_claims: bool = True,
    scope_limit: ScopeLimit | None = None,
) -> None:
    reconcile = ONE_AT_A_TIME if one_at_a_time else FAST_RECONCILE
    clients = {
        index: GigaClient(
            private_key=wallet_key(index),
            base_url=url,
            retry=FAST_RETRY,
            reconcile=dataclasses.replace(reconcile, list_claims=list_claims),
            max_spend_per_day=daily_limit,
        )
        for index in sorted({index for index, _ in items})
    }
    try:
        await asyncio.gather(*(_start(clients[index], key, scope_limit) for index, key in items))
    finally:
        for client in clients.values():
            await client.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("items", nargs="+", metavar="WALLET:KEY")
    parser.add_argument("--daily-limit", default=None)
    parser.add_argument("--batch-limit", default=None, metavar="SCOPE=USD")
    parser.add_argument("--one-at-a-time", action="store_true")
    parser.add_argument("--no-list-claims", action="store_true")
    args = parser.parse_args()
    payments_logger = logging.getLogger("prefect_giga.payments")
    payments_logger.setLevel(logging.INFO)
    payments_logger.addHandler(_LeaseWaits())
    pairs = [(int(item.split(":", 1)[0]), item.split(":", 1)[1]) for item in args.items]
    limit = None
    if args.batch_limit is not None:
        scope, _, usd = args.batch_limit.partition("=")
        limit = ScopeLimit(scope, Decimal(usd))
    asyncio.run(
        main(args.url, pairs, args.daily_limit, args.one_at_a_time, not args.no_list_claims, limit)
    )
