"""The money-safety report: figures the fault-injection tests record, rendered as Markdown.

Tests add to the session-wide `REPORT`; ``conftest.py`` prints it at the end of the run and
writes it to ``docs/money-safety-report.md``. Everything but the timings section depends
only on seeded choices, so two runs of the suite give the same figures.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from tests.hostile.support import TALLY as HOSTILE

__all__ = ["REPORT", "Defence", "MoneyReport"]


@dataclass(frozen=True)
class Defence:
    """One hostile-server defence exercised against the emulator.

    Attributes:
        name: What the server did.
        error: The typed error the client raised (or how it coped).
        paid: Payments the trick got settled (beyond one for a run the client found): 0.
        outside_writes: Files written outside the destination (must be 0).
        signed: Payments the client signed meanwhile (sent only to the server it trusts).
    """

    name: str
    error: str
    paid: int = 0
    outside_writes: int = 0
    signed: int = 0


@dataclass
class MoneyReport:
    """Figures of one run of the suite (see the module docstring)."""

    starts: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    settled: int = 0
    settled_usd_micros: int = 0
    duplicates: int = 0
    outputs_checked: int = 0
    outputs_lost: int = 0
    unknown: int = 0
    resolved: Counter[str] = field(default_factory=Counter)
    left_unknown: int = 0
    overspend_attempts: Counter[str] = field(default_factory=Counter)
    overspend_refused: Counter[str] = field(default_factory=Counter)
    double_settle_attempts: int = 0
    double_settles_rejected: int = 0
    stashed_settled: int = 0
    crash_kills: int = 0
    crash_keys: int = 0
    crash_recovered: int = 0
    defences: list[Defence] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    bugs: list[tuple[str, str]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """Whether no test recorded anything."""
        return self.starts == 0 and not self.defences and not self.outcomes

    def overspend(self, level: str, *, refused: bool) -> None:
        """Count one attempt to spend over a limit at ``level``."""
        self.overspend_attempts[level] += 1
        if refused:
            self.overspend_refused[level] += 1

    def render(self) -> str:
        """The report as Markdown."""
        attempts = sum(self.overspend_attempts.values())
        refused = sum(self.overspend_refused.values())
        lines = [
            "# Money-safety report",
            "",
            "Written by the fault-injection suite (`tests/faults/`) on every run: the emulator",
            "(`prefect_giga.testing`) verifies and settles every payment for real on an",
            "in-memory USDC chain, and the figures below are read from its ledger. Regenerate",
            "it with:",
            "",
            "```bash",
            "PYTHONPATH=. python -m pytest tests/faults -q -p no:cacheprovider",
            "```",
            "",
            "## Figures",
            "",
            "| Figure | Value | Required |",
            "|---|---|---|",
            f"| Starts attempted (logical starts, one idempotency key each) | {self.starts} | |",
            f"| Faults injected | {sum(self.faults.values())} | |",
            f"| Payments settled (ledger entries) | {self.settled} "
            f"(${self.settled_usd_micros / 1_000_000:,.2f}) | |",
            f"| Duplicate payments (two settlements for one start) | {self.duplicates} | 0 |",
            f"| Outputs checked (run found and its files downloaded) | {self.outputs_checked} | |",
            f"| Outputs lost (paid run never found or not downloadable) | {self.outputs_lost} "
            "| 0 |",
            f"| Starts whose outcome was unknown (reply lost, garbled, client killed) "
            f"| {self.unknown} | |",
            f"| ...of which reconciled | {sum(self.resolved.values())} | all but the ambiguous |",
            f"| ...left unknown by design (ambiguous claim, `OutcomeUnknownError` with the "
            f"nonce) | {self.left_unknown} | |",
            f"| Overspend attempts refused before signing | {refused} of {attempts} | all |",
            f"| Double-settle attempts by a hostile server | {self.double_settle_attempts} | |",
            f"| ...rejected by the chain (EIP-3009 nonce already used) "
            f"| {self.double_settles_rejected} | all that reused a nonce |",
            f"| Client processes killed mid-payment (SIGKILL) | {self.crash_kills} | |",
            f"| ...their starts recovered by a new process, each paid once "
            f"| {self.crash_recovered} of {self.crash_keys} | all |",
            "",
            "How the figures are read:",
            "",
            "- *Payments settled* and *duplicates*: after every test, each emulator's ledger is",
            "  matched to the client journal by (payer, EIP-3009 nonce). A start settled twice",
            "  counts as a duplicate; a settlement no start recorded fails the test.",
            "- *Outputs lost*: paid runs the client never tied to their start (apart from",
            "  starts it reported as `OutcomeUnknownError`), and outputs that could not be",
            "  downloaded or did not name their own start (each prompt carries its key).",
            "- *Unknown outcome*: the fault left the client unable to tell from the reply",
            "  whether it paid (5xx or 429 to the paid request, reply dropped or held after",
            "  settling, a 200 that is not JSON, the client killed or cancelled mid-payment).",
            "- *Overspend refused*: a typed error before signing, and no paid request reached",
            "  the server.",
            "",
            "## Faults injected, by kind",
            "",
            "| Kind | Count |",
            "|---|---|",
        ]
        lines += [f"| {kind} | {n} |" for kind, n in sorted(self.faults.items())]
        lines += [
            "",
            "## How unknown outcomes were resolved",
            "",
            "| Resolution | Starts |",
            "|---|---|",
        ]
        lines += [f"| {how} | {n} |" for how, n in sorted(self.resolved.items())]
        lines += [
            "",
            "## Spend limits (refused before signing, nothing sent)",
            "",
            "| Level | Attempts over the limit | Refused |",
            "|---|---|---|",
        ]
        lines += [
            f"| {level} | {n} | {self.overspend_refused[level]} |"
            for level, n in sorted(self.overspend_attempts.items())
        ]
        lines += [
            "",
            "## Hostile or broken server: defences",
            "",
            "| Server behaviour | Client outcome | Signed | Paid | Written outside dest |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {d.name} | {d.error} | {d.signed} | {d.paid} | {d.outside_writes} |"
            for d in sorted(self.defences, key=lambda d: d.name)
        ]
        if self.stashed_settled:
            lines += [
                "",
                f"A hostile server that kept refused authorizations settled "
                f"{self.stashed_settled} of them for no run: each belonged to a start the client "
                "was told was refused, and each was charged once (see the known issues).",
            ]
        lines += ["", "## Test outcomes", "", "| Outcome | Tests |", "|---|---|"]
        lines += [f"| {name} | {n} |" for name, n in sorted(self.outcomes.items())]
        if self.bugs:
            lines += [
                "",
                "## Known client issues (tests marked `xfail(strict=True)`)",
                "",
            ]
            lines += [f"- `{test}`: {reason}" for test, reason in sorted(self.bugs)]
        if HOSTILE.cases:  # counted by tests/hostile/ (see tests/hostile/support.py)
            lines += ["", *HOSTILE.render()]
        lines += [
            "",
            "## Timings (vary between runs)",
            "",
            "| Test module | Seconds |",
            "|---|---|",
        ]
        lines += [f"| {name} | {secs:.1f} |" for name, secs in sorted(self.seconds.items())]
        lines += [f"| total | {sum(self.seconds.values()):.1f} |", ""]
        return "\n".join(lines)


REPORT = MoneyReport()
"""The figures of this pytest session."""
