"""The double-send race, on demand: one signed payment handled twice at once.

The router runs the handler before it settles, so the same payment sent twice at once passes
verification twice, runs the handler twice, and only one settlement succeeds; the other
answers 500 ``Settlement failed`` and its run is discarded. Two requests on a loopback
socket rarely overlap by chance, so this knob makes them, in a fixed order: an armed paid
request waits, after its payment was verified, until the same payment arrives again; the
resend runs and settles first, then the waiting request runs and its settlement fails, and
only then does the resend answer (so a test sees both outcomes without waiting for them).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass, field
from enum import Enum

__all__ = ["RaceRole", "ResendRace"]


class RaceRole(Enum):
    """A paid request's part in an armed race."""

    NONE = "none"
    FIRST = "first"
    RESEND = "resend"


@dataclass
class _Race:
    released: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class ResendRace:
    """Holds armed paid requests until their payment is sent again (thread-safe knob).

    Attributes:
        armed: Paid requests left that will wait for a resend.
        wait_seconds: Longest real wait (for the resend, and for the first to finish).
        waited: Requests that waited for a resend.
        raced: Resends that found their payment already being handled.
        lost_settlements: Waiting requests whose settlement then failed (their run
            discarded).

    Example:
        >>> race = ResendRace()
        >>> race.arm(1)
        >>> race.armed
        1
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._races: dict[tuple[str, str], _Race] = {}
        self.clear()

    def clear(self) -> None:
        """Disarm and forget the counts."""
        with self._lock:
            self.armed = 0
            self.wait_seconds = 10.0
            self.waited = 0
            self.raced = 0
            self.lost_settlements = 0

    def arm(self, count: int = 1, *, wait_seconds: float = 10.0) -> None:
        """Make the next ``count`` paid requests wait for their payment to be sent again."""
        with self._lock:
            self.armed = count
            self.wait_seconds = wait_seconds

    async def hold(self, payer: str, nonce: str) -> RaceRole:
        """Called after verification: the first of a race waits for the resend to settle."""
        key = (payer.lower(), nonce)
        with self._lock:
            race = self._races.get(key)
            if race is not None:
                self.raced += 1
                return RaceRole.RESEND
            if self.armed <= 0:
                return RaceRole.NONE
            self.armed -= 1
            self.waited += 1
            race = self._races[key] = _Race()
            wait = self.wait_seconds
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(race.released.wait(), wait)
        return RaceRole.FIRST

    async def settled(self, payer: str, nonce: str, role: RaceRole, *, success: bool) -> None:
        """Called after a settlement attempt: the resend lets the first go on and waits for it."""
        key = (payer.lower(), nonce)
        with self._lock:
            race = self._races.get(key)
            wait = self.wait_seconds
            if role is RaceRole.FIRST:
                self._races.pop(key, None)
                self.lost_settlements += 0 if success else 1
        if race is None or role is RaceRole.NONE:
            return
        if role is RaceRole.FIRST:
            race.done.set()
            return
        race.released.set()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(race.done.wait(), wait)
