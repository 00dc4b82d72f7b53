"""The paid lane: when a wallet's paid request may leave, shared by every process on the journal.

Paid requests of one wallet to one server may be in flight together while their replies
arrive. A lost reply closes the gate: no new paid request of that wallet leaves (in any
process sharing the journal) until that start's reconciliation ends. A claim from
``/api/list`` first waits for the wallet's other requests still in flight to land, so it sees
every other start either tied to its run or provably not charged (or it gives up: unknown).

The lane's state is the journal table ``paid_flights``: one row per start whose paid request
is in flight (``sending``) or whose lost reply is being reconciled (``reconciling``), with
its owner's host and process id and a lease (``expires_at``) the owner renews. A row whose
lease lapsed, or whose owner is a process of this machine that is gone, no longer counts, so
a crash cannot close the gate for good. A row of another machine (a shared PostgreSQL
journal) counts until its lease lapses: its process cannot be checked from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import weakref

from .journal import Journal, StartRef
from .journal_db import JournalDB

__all__ = ["PaidLane", "in_flight_slot"]

_SENDING = "sending"
_RECONCILING = "reconciling"
_MAX_POLL = 0.25

_SLOTS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[str, str], asyncio.Semaphore]
]
_SLOTS = weakref.WeakKeyDictionary()
_CHANGED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Event]
_CHANGED = weakref.WeakKeyDictionary()
_CHANGED_GUARD = threading.Lock()


def in_flight_slot(
    payer: str, server: str, limit: int | None
) -> contextlib.AbstractAsyncContextManager[object]:
    """A slot among ``limit`` paid requests of a wallet to a server in flight in this process
    and event loop (`ReconcilePolicy.paid_in_flight`); no limit with ``None``.

    Example:
        ```python
        async with in_flight_slot(wallet_address, "https://giga.dev", 1):
            ...  # send the paid request and settle it
        ```
    """
    if limit is None:
        return contextlib.nullcontext()
    loop = asyncio.get_running_loop()
    with _CHANGED_GUARD:
        slots = _SLOTS.setdefault(loop, {})
        slot = slots.get((payer, server))
        if slot is None:
            slot = slots[(payer, server)] = asyncio.Semaphore(limit)
    return slot


def _changed() -> asyncio.Event:
    """This event loop's "a flight landed or a gate moved" signal (other processes poll)."""
    loop = asyncio.get_running_loop()
    with _CHANGED_GUARD:
        event = _CHANGED.get(loop)
        if event is None:
            event = _CHANGED[loop] = asyncio.Event()
    return event


def _announce() -> None:
    with contextlib.suppress(RuntimeError):  # no running loop: the waiters poll
        loop = asyncio.get_running_loop()
        with _CHANGED_GUARD:
            event = _CHANGED.pop(loop, None)
        if event is not None:
            event.set()


async def _wait_for_change(delay: float) -> None:
    """Until this process announces a change, or ``delay`` seconds (for other processes)."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(_changed().wait(), delay)


def _alive(host: str | None, pid: int) -> bool:
    if host is not None and host != socket.gethostname():
        return True  # another machine's process: its lease decides
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


class PaidLane:
    """The lane of one logical start: its wallet's gate on its server (module docstring).

    Args:
        journal: The payment journal the gate lives in.
        ref: The start.
        lease: Seconds a flight row counts without renewal.

    Example:
        ```python
        lane = PaidLane(journal, ref, lease=90)
        sent_at, sent_before = await lane.admit(valid_before)
        ...  # send; then lane.landed() or lane.lost(); always lane.ended() at the end
        ```
    """

    def __init__(self, journal: Journal, ref: StartRef, *, lease: float) -> None:
        self.journal = journal
        self.ref = ref
        self.lease = lease
        self.reconciling = False

    async def admit(self, valid_before: int) -> tuple[float, bool]:
        """Wait while another start of the wallet reconciles a lost reply, then mark this start
        sent and in flight, in the same journal transaction as the check.

        Returns:
            When its first written paid request left, and whether one had left before.
        """
        delay = 0.01
        while True:
            admitted = self._try_admit(valid_before)
            if admitted is not None:
                return admitted
            await _wait_for_change(delay)
            delay = min(delay * 2, _MAX_POLL)

    def _try_admit(self, valid_before: int) -> tuple[float, bool] | None:
        with self.journal.transaction() as db:
            # A start re-sending its own lost payment is not a new paid request.
            if not self.reconciling and self._others(db, _RECONCILING):
                return None
            admitted = self.journal.mark_sent_in(db, self.ref, valid_before=valid_before)
            self._fly(db, _RECONCILING if self.reconciling else _SENDING)
        return admitted

    def landed(self) -> None:
        """The reply came: unless this start is reconciling, it is no longer in flight."""
        if not self.reconciling:
            self.ended()

    def lost(self) -> None:
        """The reply was lost: close the gate until `ended`."""
        self.reconciling = True
        with self.journal.transaction() as db:
            self._fly(db, _RECONCILING)
        _announce()

    def ended(self) -> None:
        """In flight no more, reconciliation over whatever its outcome: open the gate."""
        self.reconciling = False
        with self.journal.transaction() as db:
            db.execute(
                "DELETE FROM paid_flights WHERE payer = ? AND server = ? AND key = ?",
                self.ref.params(),
            )
        _announce()

    async def others_landed(self) -> None:
        """Close the gate and wait until no other paid request of the wallet to the server is
        in flight (each lands, is lost, or lapses), renewing this start's lease meanwhile."""
        self.reconciling = True
        delay = 0.01
        while True:
            with self.journal.transaction() as db:
                self._fly(db, _RECONCILING)
                flying = self._others(db, _SENDING)
            if not flying:
                return
            await _wait_for_change(delay)
            delay = min(delay * 2, _MAX_POLL)

    def _fly(self, db: JournalDB, phase: str) -> None:
        db.execute(
            "INSERT INTO paid_flights (payer, server, key, phase, expires_at, owner, host) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (payer, server, key) DO UPDATE SET phase = excluded.phase, "
            "expires_at = excluded.expires_at, owner = excluded.owner, host = excluded.host",
            (
                *self.ref.params(),
                phase,
                self.journal.now() + self.lease,
                os.getpid(),
                socket.gethostname(),
            ),
        )

    def _others(self, db: JournalDB, phase: str) -> int:
        rows = db.execute(
            "SELECT owner, host FROM paid_flights WHERE payer = ? AND server = ? AND key != ? "
            "AND phase = ? AND expires_at > ?",
            (*self.ref.params(), phase, self.journal.now()),
        ).fetchall()
        return sum(_alive(None if host is None else str(host), int(owner)) for owner, host in rows)
