"""Fault-suite setup: emulator fixtures, a signing counter, and the money-safety report hooks.

The report (see ``report.py``) is printed in pytest's terminal summary, so it shows without
``-s``, and written to ``build/money-safety-report.md`` (ignored by git) when the whole suite
ran; a run of some of its tests only prints its partial figures. The tracked
``docs/money-safety-report.md`` changes only through ``python -m tests.faults.report --publish``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from prefect_giga.payments.journal import Journal
from prefect_giga.payments.signing import sign_payment
from prefect_giga.testing import GigaEmulator
from prefect_giga.testing.pytest_plugin import EmulatorFactory, giga_emulator_factory

from ..journal_backends import JournalSpec
from .report import BUILD_PATH, REPORT
from .support import fast_config, journal_audit

__all__ = ["ALIASES", "giga_emulator_factory"]

ALIASES: dict[str, set[str]] = {}
"""Other base URLs a test reached an emulator through (by the emulator's URL), for the audit."""


@pytest.fixture
def make_emulator(
    giga_emulator_factory: EmulatorFactory, journal_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., GigaEmulator]]:
    """Start fresh emulators (fast clock, long-lived links) with optional overrides.

    When the test ends, each emulator's ledger is audited against the test's journal and
    added to the report: no logical start may have been paid twice, and every payment must
    belong to a start the client recorded.
    """
    started: list[GigaEmulator] = []

    def make(**overrides: Any) -> GigaEmulator:
        emulator = giga_emulator_factory(fast_config(**overrides))
        started.append(emulator)
        return emulator

    journal: Path | Journal = journal_path
    if "journal_store" in request.fixturenames:  # run on both backends: audit the one it used
        spec: JournalSpec = request.getfixturevalue("journal_store")  # set up before this one
        if spec.url is not None:
            journal = spec.open()
    yield make
    if isinstance(journal, Path) and not journal.exists():
        return  # no client ran (the knob tests pay with the bare SDK)
    for emulator in started:
        audit = journal_audit(emulator, journal, ALIASES.pop(emulator.url, ()))
        REPORT.settled += audit.entries
        REPORT.settled_usd_micros += audit.micros
        REPORT.duplicates += audit.duplicates
        REPORT.outputs_lost += audit.unmatched
        REPORT.outputs_lost_unknown += audit.unmatched_unknown
        REPORT.settled_without_run += audit.without_run
        REPORT.settled_without_run_stashed += audit.without_run_stashed
        REPORT.not_charged_checked += audit.not_charged
        REPORT.false_not_charged += audit.false_not_charged
        REPORT.refused_then_settled += audit.refused_then_settled
        assert audit.duplicates == 0, "a logical start was paid twice"
        assert audit.unattributed == 0, "a payment belongs to no start in the journal"
        assert audit.false_not_charged == 0, "a start marked not charged was charged"
        assert audit.without_run == audit.without_run_stashed, "a payment for no run, unexplained"


@pytest.fixture
def emulator(make_emulator: Callable[..., GigaEmulator]) -> GigaEmulator:
    """A fresh emulator for one test."""
    return make_emulator()


@pytest.fixture
def journal_path(_isolated_payment_journal: Path) -> Path:
    """This test's payment journal file (``$GIGA_JOURNAL_PATH``)."""
    return _isolated_payment_journal


class SigningCounter:
    """Counts payments signed in this process (wraps ``paid_start.sign_payment``)."""

    def __init__(self) -> None:
        self.count = 0


@pytest.fixture
def signed(monkeypatch: pytest.MonkeyPatch) -> Iterator[SigningCounter]:
    """How many payments the client signed during the test."""
    counter = SigningCounter()

    async def counting(*args: Any, **kwargs: Any) -> Any:
        counter.count += 1
        return await sign_payment(*args, **kwargs)

    monkeypatch.setattr("prefect_giga.payments.paid_start.sign_payment", counting)
    yield counter


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "faults: the money-safety fault-injection suite (deselect: -m 'not faults')"
    )


_DESELECTED: list[str] = []


def pytest_deselected(items: list[pytest.Item]) -> None:
    """Remember deselected tests of this suite (a partial run does not write the report)."""
    _DESELECTED.extend(item.nodeid for item in items if "tests/faults/" in item.nodeid)


def _complete_run() -> bool:
    modules = {p.name for p in Path(__file__).parent.glob("test_*.py")}
    return not _DESELECTED and set(REPORT.seconds) >= modules


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark this suite's tests ``faults`` and ``integration`` (they use real sockets)."""
    for item in items:
        if "tests/faults/" in item.nodeid:
            item.add_marker(pytest.mark.faults)
            item.add_marker(pytest.mark.integration)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Collect outcomes, timings and known-bug reasons of this suite's tests."""
    if "tests/faults/" not in report.nodeid:
        return
    module = report.nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
    REPORT.seconds[module] = REPORT.seconds.get(module, 0.0) + report.duration
    xfail = getattr(report, "wasxfail", None)
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        if xfail is not None and report.skipped:
            REPORT.outcomes["xfailed (known client bug)"] += 1
            REPORT.bugs.append((report.nodeid.split("::", 1)[-1], str(xfail)))
        elif report.passed and xfail is not None:
            REPORT.outcomes["xpassed"] += 1
        else:
            REPORT.outcomes[report.outcome] += 1


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Print the money-safety report; write it to ``build/money-safety-report.md`` when the
    whole suite ran (a run of some of its tests only prints its partial figures)."""
    if REPORT.empty:
        return
    text = REPORT.render()
    terminalreporter.write_sep("=", "money-safety report")
    for line in text.splitlines():
        terminalreporter.write_line(line)
    where = BUILD_PATH.relative_to(config.rootpath)
    if not _complete_run():
        terminalreporter.write_line(f"(partial run: {where} left as it was)")
        return
    BUILD_PATH.parent.mkdir(parents=True, exist_ok=True)
    BUILD_PATH.write_text(text, encoding="utf-8")
    terminalreporter.write_line(f"(written to {where})")
