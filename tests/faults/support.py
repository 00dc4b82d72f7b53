"""Helpers for the fault-injection suite: wallets, fast clients, drivers, ledger audits, a trap."""

from __future__ import annotations

import http.server
import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from prefect_giga import GigaClient, StartedRun
from prefect_giga.core.exceptions import (
    GigaError,
    OutcomeUnknownError,
    PaymentRejectedError,
    SettlementFailedError,
)
from prefect_giga.core.wallet import Wallet
from prefect_giga.payments.journal import Journal
from prefect_giga.testing import EmulatorConfig, GigaEmulator, tier_table
from tests.journal_backends import JournalSpec

from .items import FAST_RECONCILE, FAST_RETRY

LOST_REPLY_KINDS = frozenset(
    {
        "paid 5xx",
        "paid 429",
        "reply dropped after settlement",
        "reply held past the client timeout",
        "paid reply not JSON",
        "client killed after settlement",
    }
)
"""Fault kinds after which the client cannot know from the reply whether it paid."""

RETRIED = "after a test-side retry: "
"""Prefix of resolutions reached only when the test retried a start after a typed error."""


@cache
def wallet(key: str) -> Wallet:
    """The wallet of ``key`` (cached: deriving nonces signs a fixed text once)."""
    return Wallet.from_private_key(key)


def address_of(key: str) -> str:
    """The lowercase address of private key ``key``."""
    return wallet(key).address.lower()


def nonce_of(key: str, idempotency_key: str) -> str:
    """The EIP-3009 nonce the client derives for ``idempotency_key`` with wallet ``key``."""
    return wallet(key).payment_nonce(idempotency_key).lower()


def fast_config(**overrides: Any) -> EmulatorConfig:
    """An emulator whose runs finish at once and whose links outlive the test.

    The suite opts in to the seed text's tier table (the prices its tests and report assert)
    and to ``host:port`` SIWX domains (its knob tests sign with the x402 SDK, which requires
    them); the client is tested at the live defaults in ``tests/integration``.
    """
    settings: dict[str, Any] = {
        "time_scale": 1000.0,
        "file_url_ttl_seconds": 10.0**6,
        "siwx_domain": "host:port",
        **tier_table("seed"),
    }
    settings.update(overrides)
    return EmulatorConfig(**settings)


def make_client(emulator: GigaEmulator, key: str, **kwargs: Any) -> GigaClient:
    """A client of ``emulator`` with fast retry and reconcile policies."""
    kwargs.setdefault("retry", FAST_RETRY)
    kwargs.setdefault("reconcile", FAST_RECONCILE)
    return GigaClient(private_key=key, base_url=emulator.url, **kwargs)


@dataclass
class Outcome:
    """How one logical start ended.

    Attributes:
        key: The idempotency key.
        started: The run, once some attempt returned it.
        errors: Type names of the typed errors earlier attempts raised.
        unknown: The last `OutcomeUnknownError`, when the start never resolved.
    """

    key: str
    started: StartedRun | None = None
    errors: list[str] = field(default_factory=list)
    unknown: OutcomeUnknownError | None = None

    @property
    def resolution(self) -> str:
        """How a start with an unknown outcome was resolved; a resolution that needed a
        test-side retry (after a typed error) is named apart from a first-attempt one."""
        if self.started is None:
            return "left unknown"
        if self.started.reattached:
            how = "re-attached from the journal"
        elif self.started.reconciled:
            how = "claimed from /api/list"
        else:
            how = "resend of the same signed payment"
        return f"{RETRIED}{how}" if self.errors else how


async def start_until_known(
    client: GigaClient, key: str, prompt: str, *, attempts: int = 4
) -> Outcome:
    """Start ``key``, retrying it as a caller would after a typed 'not charged'/'unknown' error."""
    outcome = Outcome(key)
    for _ in range(attempts):
        try:
            outcome.started = await client.start(prompt, idempotency_key=key)
            outcome.unknown = None
            return outcome
        except OutcomeUnknownError as exc:
            outcome.errors.append(type(exc).__name__)
            outcome.unknown = exc
        except (SettlementFailedError, PaymentRejectedError) as exc:
            outcome.errors.append(type(exc).__name__)
    return outcome


async def read_until_terminal(client: GigaClient, run_id: str, *, max_reads: int = 200) -> None:
    """Read until the run is terminal (the emulator's scaled clock decides when)."""
    for _ in range(max_reads):
        if (await client.read(run_id)).status.is_terminal:
            return
    raise AssertionError(f"run {run_id} did not finish within {max_reads} reads")


async def fetch_output(
    client: GigaClient, run_id: str, key: str, dest: Path, *, read_first: bool = True
) -> bool:
    """Download the run's ``output.md`` (retrying like a caller); whether it is ``key``'s.

    Without ``read_first`` the status is not read first: runs finish within milliseconds
    here, and a file of an unfinished run is simply retried (each signed read costs the
    emulator a SIWE parse).
    """
    for _ in range(4):
        try:
            if read_first:
                await read_until_terminal(client, run_id)
            local = await client.download(run_id, "output.md", dest / run_id)
        except GigaError:
            continue
        return f"<{key}>" in local.read_text(encoding="utf-8")
    return False


@dataclass(frozen=True)
class LedgerAudit:
    """The emulator's ledger, checked against the logical starts a test made.

    Attributes:
        entries: Settled payments.
        micros: Their total in atomic USDC.
        per_key: Settlements per idempotency key (by its derived EIP-3009 nonce).
        duplicates: Settlements beyond the first for one key (must be 0).
        unattributed: Settlements whose nonce belongs to none of the keys.
        chain_consistent: The chain used exactly the ledger's nonces.
    """

    entries: int
    micros: int
    per_key: Counter[str]
    duplicates: int
    unattributed: int
    chain_consistent: bool


def audit_ledger(emulator: GigaEmulator, starts: Iterable[tuple[str, str]]) -> LedgerAudit:
    """Audit ``emulator``'s ledger for ``starts`` given as (private key, idempotency key)."""
    by_nonce = {
        (wallet(key).address.lower(), nonce_of(key, ikey)): ikey for key, ikey in set(starts)
    }
    ledger = emulator.ledger
    per_key: Counter[str] = Counter()
    unattributed = 0
    for entry in ledger:
        ikey = by_nonce.get((entry.payer.lower(), entry.nonce.lower()))
        if ikey is None:
            unattributed += 1
        else:
            per_key[ikey] += 1
    used = {(payer, nonce.lower()) for payer, nonce in emulator.used_nonces}
    ledger_nonces = [(e.payer.lower(), e.nonce.lower()) for e in ledger]
    return LedgerAudit(
        entries=len(ledger),
        micros=sum(e.amount for e in ledger),
        per_key=per_key,
        duplicates=sum(n - 1 for n in per_key.values() if n > 1),
        unattributed=unattributed,
        chain_consistent=used == set(ledger_nonces) and len(ledger_nonces) == len(used),
    )


@dataclass(frozen=True)
class JournalAudit:
    """An emulator's ledger read against the journal file of the clients of the test that used it.

    Attributes:
        entries: Settled payments.
        micros: Their total in atomic USDC.
        duplicates: Settlements beyond the first for one logical start (must be 0).
        unattributed: Settlements whose (payer, nonce) no journal row holds (must be 0).
        unmatched: Paid runs the client never tied to their start (journal without the run).
        unmatched_unknown: Of those, starts the journal holds as ``sent`` or ``unusable``
            (reported to the caller with the nonce: `OutcomeUnknownError` or an unusable id).
        without_run: Settlements for no run at all.
        without_run_stashed: Of those, authorizations the hostile knob stashed after refusing.
        not_charged: Journal rows left ``not_charged`` (each checked against the chain).
        false_not_charged: Of those, rows whose nonce the chain used, not explained by a
            hostile server refusing and then settling the authorization (must be 0).
        refused_then_settled: Rows the server refused, then settled anyway (the stash knob).
    """

    entries: int
    micros: int
    duplicates: int
    unattributed: int
    unmatched: int
    unmatched_unknown: int
    without_run: int
    without_run_stashed: int
    not_charged: int
    false_not_charged: int
    refused_then_settled: int


def journal_audit(
    emulator: GigaEmulator, journal: Path | Journal, aliases: Iterable[str] = ()
) -> JournalAudit:
    """Audit ``emulator``'s ledger against the journal (a SQLite file read directly, or any
    `Journal`) of the clients that paid it (through its own URL or any of ``aliases``, such
    as a test's own proxy in front of it)."""
    if isinstance(journal, Journal):
        rows = [
            (e.key, e.payer, e.server, e.nonce, e.state.value, e.run_id) for e in journal.entries()
        ]
    else:
        with sqlite3.connect(journal) as db:
            rows = db.execute(
                "SELECT key, payer, server, nonce, state, run_id FROM starts_v2"
            ).fetchall()
    # A logical start is (payer, server, idempotency key): the same key elsewhere is another.
    # Only this emulator's starts: a key reused on another server signs the same nonce,
    # which that server's own (emulated) chain settles separately.
    by_nonce = {
        (str(p).lower(), str(n).lower()): ((str(p).lower(), str(srv), str(k)), str(s), r)
        for k, p, srv, n, s, r in rows
        if str(srv) in {emulator.url.rstrip("/"), *aliases}
    }
    stashed = {(p.lower(), n.lower()) for p, n in emulator.hostile.stashed}
    used = {(p.lower(), n.lower()) for p, n in emulator.used_nonces}
    per_key: Counter[tuple[str, str, str]] = Counter()
    unattributed = unmatched = unmatched_unknown = without_run = without_run_stashed = 0
    ledger = emulator.ledger
    for entry in ledger:
        payment = (entry.payer.lower(), entry.nonce.lower())
        if not entry.run_id:
            without_run += 1
            without_run_stashed += payment in stashed
        row = by_nonce.get(payment)
        if row is None:
            unattributed += 1
            continue
        key, state, run_id = row
        per_key[key] += 1
        if entry.run_id and run_id != entry.run_id:
            unmatched += 1
            unmatched_unknown += state in ("sent", "unusable")
    not_charged = [nonce for nonce, (_, state, _) in by_nonce.items() if state == "not_charged"]
    settled_anyway = [nonce for nonce in not_charged if nonce in used]
    refused_then_settled = sum(nonce in stashed for nonce in settled_anyway)
    return JournalAudit(
        entries=len(ledger),
        micros=sum(e.amount for e in ledger),
        duplicates=sum(n - 1 for n in per_key.values() if n > 1),
        unattributed=unattributed,
        unmatched=unmatched,
        unmatched_unknown=unmatched_unknown,
        without_run=without_run,
        without_run_stashed=without_run_stashed,
        not_charged=len(not_charged),
        false_not_charged=len(settled_anyway) - refused_then_settled,
        refused_then_settled=refused_then_settled,
    )


def files_under(root: Path) -> set[Path]:
    """Every file (and symlink) below ``root``."""
    return {p for p in root.rglob("*") if p.is_file() or p.is_symlink()}


REPO_ROOT = Path(__file__).resolve().parents[2]
CLIENT_PROCESS = Path(__file__).resolve().with_name("client_process.py")


def spawn_client_process(
    url: str,
    items: Iterable[tuple[int, str]],
    journal: Path | JournalSpec,
    *,
    daily_limit: str | None = None,
    batch_limit: str | None = None,
    one_at_a_time: bool = False,
    list_claims: bool = True,
) -> subprocess.Popen[str]:
    """Run ``client_process.py`` for ``items`` (wallet index, idempotency key) on ``journal``
    (a SQLite file, or either backend's `JournalSpec`; ``one_at_a_time``: one paid request
    per wallet in flight, `items.ONE_AT_A_TIME`; ``list_claims=False``: lost replies are never
    claimed from ``/api/list``; ``batch_limit``: ``"SCOPE=USD"``, a `ScopeLimit` on every
    start)."""
    env = dict(os.environ)
    env.pop("GIGA_JOURNAL_URL", None)
    if isinstance(journal, JournalSpec):
        env.update(journal.env())
    else:
        env["GIGA_JOURNAL_PATH"] = str(journal)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    args = [sys.executable, str(CLIENT_PROCESS), url, *(f"{w}:{k}" for w, k in items)]
    if daily_limit is not None:
        args += ["--daily-limit", daily_limit]
    if batch_limit is not None:
        args += ["--batch-limit", batch_limit]
    if one_at_a_time:
        args.append("--one-at-a-time")
    if not list_claims:
        args.append("--no-list-claims")
    return subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO_ROOT
    )


def outcomes_of(process: subprocess.Popen[str], timeout: float = 60) -> dict[str, dict[str, Any]]:
    """Wait for a client process and parse its JSON lines by key (fails on a non-zero exit)."""
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, f"client process failed ({process.returncode}):\n{err}"
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    return {line["key"]: line for line in lines if "key" in line}


class Trap:
    """Another host: a tiny HTTP server that records every request it gets.

    It answers GETs with a small file and anything else with a JSON run, so a client that
    wrongly followed a redirect there would appear to succeed; tests assert on `requests`.
    """

    BODY = b"served by another host\n"

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        trap = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                trap.requests.append((self.command, self.path, headers))

            def _answer(self, body: bytes, kind: str) -> None:
                self.send_response(200)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._record()
                self._answer(Trap.BODY, "application/octet-stream")

            def do_POST(self) -> None:
                self._record()
                self._answer(b'{"runId": "trap", "status": "running"}', "application/json")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        """The trap's base URL."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Trap:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
