"""``prefect-giga doctor``: is the server reachable, does it quote, does the wallet sign in,
is the journal writable and private, and does this machine's clock agree with the server's."""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx

from ..client.async_client import GigaClient
from ..core.exceptions import GigaError
from ..core.money import format_usd
from ..payments.journal import Journal
from .common import BaseUrlOption, BlockOption, JsonOption, open_client
from .output import EXIT_ERROR, Output, execute, rows_table

__all__ = ["Check", "check_clock", "check_journal", "check_shared_journal", "doctor"]

MAX_SKEW_SECONDS = 30.0
"""Beyond this, sign-ins and payment windows fail (the emulator's and router's tolerance)."""
WARN_SKEW_SECONDS = 5.0


@dataclass(frozen=True)
class Check:
    """One doctor check: its name, ``ok``/``warn``/``fail``, and what was found.

    Example:
        >>> Check("clock", "ok", "1 s apart").failed
        False
    """

    name: str
    status: str
    detail: str

    @property
    def failed(self) -> bool:
        """Whether the check failed."""
        return self.status == "fail"


def check_clock(server_date: str | None, *, now: float | None = None) -> Check:
    """Compare the server's ``Date`` header with this machine's clock.

    Example:
        >>> check_clock("Thu, 01 Jan 1970 00:00:10 GMT", now=10.4).status
        'ok'
        >>> check_clock("Thu, 01 Jan 1970 00:01:40 GMT", now=0).status
        'fail'
    """
    if not server_date:
        return Check("clock", "warn", "the server sent no Date header: skew unknown")
    try:
        server = parsedate_to_datetime(server_date).timestamp()
    except (TypeError, ValueError):
        return Check("clock", "warn", f"the server's Date header is unreadable: {server_date[:40]}")
    skew = server - (time.time() if now is None else now)
    detail = f"the server's clock is {skew:+.0f} s from this machine's (Date has 1 s resolution)"
    if abs(skew) > MAX_SKEW_SECONDS:
        return Check(
            "clock", "fail", f"{detail}: over {MAX_SKEW_SECONDS:g} s, sign-ins and payments fail"
        )
    return Check("clock", "warn" if abs(skew) > WARN_SKEW_SECONDS else "ok", detail)


def check_journal(path: Path) -> Check:
    """The journal file must be writable and private (0600, in a folder others cannot write).

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> check_journal(folder / "missing.sqlite3").status
        'fail'
    """
    try:
        info, folder = path.stat(), path.parent.stat()
    except OSError as exc:
        return Check("journal", "fail", f"{path}: {exc.strerror}")
    problems = []
    if info.st_uid != os.getuid():
        problems.append("owned by another user")
    if stat.S_IMODE(info.st_mode) & 0o077:
        problems.append(f"mode {stat.S_IMODE(info.st_mode):o} (want 600)")
    if stat.S_IMODE(folder.st_mode) & 0o022:
        problems.append(f"its folder is writable by others (mode {stat.S_IMODE(folder.st_mode):o})")
    try:
        db = sqlite3.connect(path, timeout=5.0, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")  # takes the write lock, writes nothing
            db.execute("ROLLBACK")
        finally:
            db.close()
    except sqlite3.Error as exc:
        problems.append(f"not writable ({exc})")
    if problems:
        return Check("journal", "fail", f"{path}: {'; '.join(problems)}")
    status = "warn" if stat.S_IMODE(folder.st_mode) & 0o044 else "ok"
    readable = " (its folder is readable by others)" if status == "warn" else ""
    return Check("journal", status, f"{path}: writable, mode 600{readable}")


def check_shared_journal(journal: Journal) -> Check:
    """A PostgreSQL journal must be reachable and take a write transaction (it writes nothing).

    Example:
        ```python
        print(check_shared_journal(Journal(url=os.environ["GIGA_JOURNAL_URL"])).detail)
        ```
    """
    try:
        with journal.transaction():
            pass  # takes the journal's lock, writes nothing
    except Exception as exc:  # any driver error: reported by kind only (no URL, no password)
        return Check("journal", "fail", f"{journal.location}: not writable ({type(exc).__name__})")
    return Check("journal", "ok", f"{journal.location}: writable (shared PostgreSQL journal)")


async def _check_server(giga: GigaClient) -> tuple[list[Check], str | None]:
    try:
        async with httpx.AsyncClient(timeout=10.0, follow_redirects=False) as http:
            reply = await http.post(
                giga.base_url + "/api/start", json={"prompt": "prefect-giga doctor"}
            )
    except httpx.HTTPError as exc:
        return [
            Check("server", "fail", f"{giga.base_url} is not reachable ({type(exc).__name__})")
        ], None
    status = "ok" if reply.status_code == 402 else "fail"
    detail = f"{giga.base_url} answered an unpaid start with HTTP {reply.status_code}"
    detail += " (asks for payment, as it should)" if status == "ok" else " (expected 402)"
    return [Check("server", status, detail)], reply.headers.get("date")


async def _check_client(giga: GigaClient) -> list[Check]:
    checks = []
    try:
        published = await giga.tiers()
        checks.append(
            Check(
                "tiers",
                "ok",
                f"{published.describe()}, read from {', '.join(published.sources)}",
            )
        )
    except GigaError as exc:
        checks.append(Check("tiers", "fail", str(exc)))
    try:
        quoted = await giga.quote("prefect-giga doctor")
        checks.append(
            Check(
                "quote",
                "ok",
                f"tier {quoted.tier} is quoted {format_usd(quoted.amount)} on {quoted.network}, "
                f"paid to {quoted.pay_to}, within this wallet's limits",
            )
        )
    except GigaError as exc:
        checks.append(Check("quote", "fail", str(exc)))
    try:
        runs = await giga.list_runs(limit=1)
        seen = "has runs" if runs else "has no runs yet"
        checks.append(Check("sign-in", "ok", f"wallet {giga.address} signed in (SIWX); it {seen}"))
    except GigaError as exc:
        checks.append(Check("sign-in", "fail", str(exc)))
    return checks


def doctor(
    block: BlockOption = None,
    base_url: BaseUrlOption = None,
    json_mode: JsonOption = False,
) -> None:
    """Check the server, its quote, the wallet's sign-in, the journal and the clock.

    Exit status 1 when a check fails. Pays nothing.

    Example: prefect-giga doctor --block giga-prod
    """
    output = Output(json_mode)

    async def work() -> int | None:
        async with open_client(block, base_url) as giga:
            checks, server_date = await _check_server(giga)
            if not checks[0].failed:
                checks += await _check_client(giga)
                checks.append(check_clock(server_date))
            journal = giga.journal
            path = journal.path
            checks.append(
                check_journal(path) if path is not None else check_shared_journal(journal)
            )
        ok = not any(c.failed for c in checks)
        data: dict[str, Any] = {"ok": ok, "checks": [vars(c) for c in checks]}
        output.result(
            data,
            lambda: rows_table(
                "prefect-giga doctor",
                ["Check", "Result", "Detail"],
                [[c.name, c.status, c.detail] for c in checks],
            ),
        )
        return None if ok else EXIT_ERROR

    execute(output, work)
