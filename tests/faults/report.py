"""The money-safety report: figures the fault-injection tests measure, rendered as Markdown.

Tests add to the session-wide `REPORT`, either through its named figures or through the
generic `MoneyReport.count` (any suite may feed a section of its own). ``conftest.py`` prints
the report at the end of the run and, when the whole fault suite ran, writes it to
``build/money-safety-report.md`` (ignored by git). The tracked ``docs/money-safety-report.md``
changes only through the explicit command::

    python -m tests.faults.report --publish

which runs the fault suite and copies the build file to ``docs/`` when every test passed.
Everything but the timings section depends only on seeded choices.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from tests.hostile.support import TALLY as HOSTILE

__all__ = ["BUILD_PATH", "PUBLISHED_PATH", "REPORT", "Defence", "MoneyReport", "Tally"]

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_PATH = REPO_ROOT / "build" / "money-safety-report.md"
"""Where the suite writes the report (never a tracked file)."""
PUBLISHED_PATH = REPO_ROOT / "docs" / "money-safety-report.md"
"""The tracked copy, written only by ``python -m tests.faults.report --publish``."""
RETRIED = "after a test-side retry: "


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
class Tally:
    """One generic figure: how many were counted, and how many of them failed their check.

    Attributes:
        total: Everything counted.
        checked: Of those, the ones counted with a check (``ok=`` given).
        failed: Of those, the ones whose check failed.
    """

    total: int = 0
    checked: int = 0
    failed: int = 0


class _StartOutcome(Protocol):
    """What `MoneyReport.starts_resolved` reads from a test's `support.Outcome`."""

    @property
    def errors(self) -> list[str]: ...

    @property
    def resolution(self) -> str: ...


@dataclass
class MoneyReport:
    """Figures of one run of the suite (see the module docstring)."""

    starts: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    settled: int = 0
    settled_usd_micros: int = 0
    duplicates: int = 0
    settled_without_run: int = 0
    settled_without_run_stashed: int = 0
    not_charged_checked: int = 0
    false_not_charged: int = 0
    refused_then_settled: int = 0
    outputs_checked: int = 0
    outputs_lost: int = 0
    outputs_lost_unknown: int = 0
    unknown: int = 0
    resolved: Counter[str] = field(default_factory=Counter)
    first_attempt: Counter[str] = field(default_factory=Counter)
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
    sections: dict[str, dict[str, Tally]] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)
    bugs: list[tuple[str, str]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """Whether no test recorded anything."""
        return self.starts == 0 and not self.defences and not self.outcomes and not self.sections

    def count(self, section: str, figure: str, n: int = 1, *, ok: bool | None = None) -> None:
        """Add ``n`` to ``figure`` of ``section``; with ``ok``, they were checked, and held or not.

        Example:
            >>> report = MoneyReport()
            >>> report.count("Hostile servers", "files written outside dest", 0, ok=True)
            >>> report.count("Hostile servers", "requests refused", ok=False)
            >>> report.sections["Hostile servers"]["requests refused"].failed
            1
        """
        tally = self.sections.setdefault(section, {}).setdefault(figure, Tally())
        tally.total += n
        if ok is not None:
            tally.checked += max(n, 1)
            tally.failed += 0 if ok else max(n, 1)

    def overspend(self, level: str, *, refused: bool) -> None:
        """Count one attempt to spend over a limit at ``level``; ``refused`` must be measured
        (a typed error before signing and no paid request at the server), never a literal."""
        self.overspend_attempts[level] += 1
        if refused:
            self.overspend_refused[level] += 1

    def starts_resolved(self, outcomes: Iterable[_StartOutcome]) -> None:
        """Count how starts whose reply was lost ended: on their first attempt, or only after
        the test retried them (after `OutcomeUnknownError` or another typed error)."""
        for outcome in outcomes:
            self.first_attempt[outcome.errors[0] if outcome.errors else "resolved"] += 1
            self.resolved[outcome.resolution] += 1

    def render(self) -> str:
        """The report as Markdown."""
        lines = _HEADER + self._figures() + self._tables()
        for section, figures in sorted(self.sections.items()):
            lines += [
                "",
                f"## {section}",
                "",
                "| Figure | Count | Checks failed |",
                "|---|---|---|",
            ]
            lines += [
                f"| {name} | {t.total} | {t.failed} of {t.checked} |"
                if t.checked
                else f"| {name} | {t.total} | |"
                for name, t in sorted(figures.items())
            ]
        lines += ["", "## Test outcomes", "", "| Outcome | Tests |", "|---|---|"]
        lines += [f"| {name} | {n} |" for name, n in sorted(self.outcomes.items())]
        if self.bugs:
            lines += ["", "## Known client issues (tests marked `xfail(strict=True)`)", ""]
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

    def _figures(self) -> list[str]:
        attempts = sum(self.overspend_attempts.values())
        refused = sum(self.overspend_refused.values())
        first = sum(
            n
            for how, n in self.resolved.items()
            if not how.startswith(RETRIED) and how != "left unknown"
        )
        retried = sum(n for how, n in self.resolved.items() if how.startswith(RETRIED))
        unexplained = self.settled_without_run - self.settled_without_run_stashed
        return [
            "| Figure | Value | Required |",
            "|---|---|---|",
            f"| Starts attempted (logical starts, one idempotency key each) | {self.starts} | |",
            f"| Faults injected | {sum(self.faults.values())} | |",
            f"| Payments settled (ledger entries) | {self.settled} "
            f"(${self.settled_usd_micros / 1_000_000:,.2f}) | |",
            f"| Duplicate payments (two settlements for one start) | {self.duplicates} | 0 |",
            f"| Payments settled for no run | {self.settled_without_run} | |",
            f"| ...of which a hostile server's stashed authorization of a start it had refused "
            f"| {self.settled_without_run_stashed} | |",
            f"| ...of which unexplained | {unexplained} | 0 |",
            f'| Starts the journal ended as "not charged" (checked against the chain) '
            f"| {self.not_charged_checked} | |",
            f'| ...false "not charged" (the client concluded it; the nonce was used) '
            f"| {self.false_not_charged} | 0 |",
            f"| ...refused by the server, which settled the authorization later anyway "
            f"| {self.refused_then_settled} | counted against the limits |",
            f"| Outputs checked (run found and its files downloaded) | {self.outputs_checked} | |",
            f"| Outputs lost (a paid run never tied to its start, or not downloadable) "
            f"| {self.outputs_lost} | |",
            f"| ...of which reported `OutcomeUnknownError` with the nonce "
            f"| {self.outputs_lost_unknown} | all |",
            f"| Starts whose outcome was unknown (reply lost, garbled, client killed) "
            f"| {self.unknown} | |",
            f"| ...resolved on their first attempt | {first} | |",
            f"| ...resolved only after a test-side retry | {retried} | |",
            f"| ...left unknown (ambiguous claim, `OutcomeUnknownError` with the nonce) "
            f"| {self.left_unknown} | |",
            f"| Overspend attempts refused before signing | {refused} of {attempts} | all |",
            f"| Double-settle attempts by a hostile server | {self.double_settle_attempts} | |",
            f"| ...rejected by the chain (EIP-3009 nonce already used) "
            f"| {self.double_settles_rejected} | all that reused a nonce |",
            f"| Client processes killed mid-payment (SIGKILL) | {self.crash_kills} | |",
            f"| ...their starts recovered by a new process, each paid once "
            f"| {self.crash_recovered} of {self.crash_keys} | all |",
            "",
            *_HOW_READ,
        ]

    def _tables(self) -> list[str]:
        lines = ["", "## Faults injected, by kind", "", "| Kind | Count |", "|---|---|"]
        lines += [f"| {kind} | {n} |" for kind, n in sorted(self.faults.items())]
        lines += ["", "## How unknown outcomes were resolved", "", "| Resolution | Starts |"]
        lines += ["|---|---|"] + [f"| {how} | {n} |" for how, n in sorted(self.resolved.items())]
        lines += ["", "## What the first attempt returned (tests recording it per start)", ""]
        lines += ["| First attempt "]
        lines[-1] += "| Starts |"
        lines += ["|---|---|"]
        lines += [f"| {what} | {n} |" for what, n in sorted(self.first_attempt.items())]
        lines += ["", "## Spend limits (refused before signing, nothing sent)", ""]
        lines += ["| Level | Attempts over the limit | Refused (measured) |", "|---|---|---|"]
        lines += [
            f"| {level} | {n} | {self.overspend_refused[level]} |"
            for level, n in sorted(self.overspend_attempts.items())
        ]
        lines += ["", "## Hostile or broken server: defences", ""]
        lines += ["| Server behaviour | Client outcome | Signed | Paid | Written outside dest |"]
        lines += ["|---|---|---|---|---|"]
        lines += [
            f"| {d.name} | {d.error} | {d.signed} | {d.paid} | {d.outside_writes} |"
            for d in sorted(self.defences, key=lambda d: d.name)
        ]
        return lines


_HEADER = [
    "# Money-safety report",
    "",
    "Written by the fault-injection suite (`tests/faults/`): the emulator",
    "(`prefect_giga.testing`) verifies and settles every payment for real on an in-memory USDC",
    "chain, and the figures below are read from its ledger and the client journal after every",
    "test. A run of the suite writes `build/money-safety-report.md`; this page is regenerated",
    "only with:",
    "",
    "<!-- not run -->",
    "```bash",
    "python -m tests.faults.report --publish",
    "```",
    "",
    "## Figures",
    "",
]

_HOW_READ = [
    "How the figures are read:",
    "",
    "- *Payments settled*, *duplicates* and *settled for no run*: after every test, each",
    "  emulator's ledger is matched to the client journal by (payer, EIP-3009 nonce). A start",
    "  settled twice counts as a duplicate; a settlement no start recorded fails the test. A",
    "  payment settled for no run is explained when the emulator's hostile knob had stashed",
    "  that very authorization after refusing it (the server lied; the chain still let it",
    "  settle only once, and the journal counted it against the daily limit meanwhile).",
    '- *False "not charged"*: a journal row left `not_charged` whose nonce the chain used,',
    "  excluding authorizations the server refused and then settled (counted apart).",
    "- *Outputs lost*: paid runs the client never tied to their start, including starts it",
    "  reported as `OutcomeUnknownError` (counted again apart), and outputs that could not be",
    "  downloaded or did not name their own start (each prompt carries its key).",
    "- *Unknown outcome*: the fault left the client unable to tell from the reply whether it",
    "  paid (5xx or 429 to the paid request, reply dropped or held after settling, a 200 that",
    "  is not JSON, the client killed or cancelled mid-payment). *Resolved on the first",
    "  attempt* counts a start whose own `start()` call found its run; a start that raised",
    "  first and was found only when the test called `start()` again is counted apart.",
    "- *Overspend refused*: measured per attempt: a typed error before signing, and no paid",
    "  request reached the server.",
]


REPORT = MoneyReport()
"""The figures of this pytest session."""


def publish() -> int:
    """Run the whole fault suite and the hostile-server tests (their figures are a section of
    the report), then copy the report to `PUBLISHED_PATH` if every test passed."""
    if BUILD_PATH.exists():
        BUILD_PATH.unlink()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "pytest", "tests/faults", "tests/hostile", "-q"]
    command += ["-p", "no:cacheprovider"]
    code = subprocess.call(command, cwd=REPO_ROOT, env=env)
    if code != 0 or not BUILD_PATH.exists():
        print(f"fault suite failed (exit {code}); {PUBLISHED_PATH} left as it was")
        return code or 1
    shutil.copyfile(BUILD_PATH, PUBLISHED_PATH)
    print(
        f"published {BUILD_PATH.relative_to(REPO_ROOT)} to {PUBLISHED_PATH.relative_to(REPO_ROOT)}"
    )
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="The money-safety report of tests/faults.")
    parser.add_argument("--publish", action="store_true", help="run the suite, update docs/")
    if parser.parse_args().publish:
        sys.exit(publish())
    print(BUILD_PATH.read_text(encoding="utf-8") if BUILD_PATH.exists() else "no report yet")
