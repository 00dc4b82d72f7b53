"""``prefect-giga spend``: payments from the journal by UTC day, wallet and server."""

from __future__ import annotations

import json
import time
from decimal import Decimal

from prefect_giga.payments.journal import Journal, StartRef
from prefect_giga.testing import GigaEmulator

from .conftest import Cli, paid_by


def test_spend_counts_paid_unknown_and_uncharged_starts(cli: Cli, emulator: GigaEmulator) -> None:
    for key in ("a", "b"):
        cli.json("start", f"Job {key}", "--yes", "--idempotency-key", key)
    journal = Journal(cli.journal)
    for key, charged in (("lost", None), ("refused", False)):
        ref = StartRef(cli.address, cli.url, key)
        journal.reserve(
            ref,
            network="eip155:8453",
            nonce="0x" + "ab" * 32,
            tier="$2.00",
            amount=Decimal("2.00"),
            pay_to=emulator.payee,
            daily_limit=None,
        )
        journal.mark_sent(ref, valid_before=int(time.time()) + 300)
        if charged is False:
            journal.mark_not_charged(ref)
    journal.close()
    paid = sum(Decimal(e.amount) / 10**6 for e in paid_by(emulator, cli.address))

    report = cli.json("spend", "--since", "today")
    table = cli("spend", "--wallet", cli.address)
    [line] = report["lines"]
    assert line["payer"] == cli.address.lower() and line["server"] == cli.url
    assert line["paid_runs"] == 2 and Decimal(line["paid"]) == paid
    assert line["unknown_runs"] == 1 and Decimal(line["unknown"]) == Decimal("2.00")
    assert line["not_charged_runs"] == 1
    assert Decimal(report["total"]["at_most"]) == paid + Decimal("2.00")
    assert table.exit_code == 0 and cli.address.lower() in table.stdout


def test_spend_since_a_later_time_is_empty_and_a_bad_since_is_a_clear_error(cli: Cli) -> None:
    cli.json("start", "Job", "--yes")
    later = cli.json("spend", "--since", "2999-01-01")
    bad = cli("spend", "--since", "last tuesday")
    assert later["lines"] == [] and Decimal(later["total"]["paid"]) == 0
    assert bad.exit_code == 1 and "--since 'last tuesday' is not understood" in bad.stderr


def test_entry_point_reports_spend_in_its_own_process(cli: Cli) -> None:
    done = cli.subprocess("spend", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["lines"] == []
