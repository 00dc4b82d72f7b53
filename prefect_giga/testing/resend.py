"""The double-send race, on demand: one signed payment handled twice at once.

The router runs the handler before it settles, so the same payment sent twice at once passes
verification twice, runs the handler twice, and only one settlement succeeds; the other
answers 500 ``Settlement failed`` and its run is discarded. Two requests on a loopback
socket rarely overlap by chance, so this knob makes them: an armed paid request waits, after
its payment was verified, until the same payment arrives again and has been settled, and
only then settles itself (and fails).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

__all__ = ["ResendRace"]


class ResendRace:
    """Holds armed paid requests until their payment is sent again (thread-safe knob).

    Attributes:
        armed: Paid requests left that will wait for a resend.
        wait_seconds: Longest real wait for the resend; the request then goes on alone.
        waited: Requests that waited.
        raced: Requests that found their payment already waiting (the resends).

    Example:
        >>> race = ResendRace()
        >>> race.arm(1)
        >>> race.armed
        1
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[tuple[str, str], asyncio.Event] = {}
        self.clear()

    def clear(self) -> None:
        """Disarm and forget the counts."""
        with self._lock:
            self.armed = 0
            self.wait_seconds = 10.0
            self.waited = 0
            self.raced = 0

    def arm(self, count: int = 1, *, wait_seconds: float = 10.0) -> None:
        """Make the next ``count`` paid requests wait for their payment to be sent again."""
        with self._lock:
            self.armed = count
            self.wait_seconds = wait_seconds

    async def hold(self, payer: str, nonce: str) -> None:
        """Called after verification: wait for a resend if armed; a resend goes straight on."""
        key = (payer.lower(), nonce)
        with self._lock:
            if key in self._waiting:
                self.raced += 1
                return
            if self.armed <= 0:
                return
            self.armed -= 1
            self.waited += 1
            event = self._waiting[key] = asyncio.Event()
            wait = self.wait_seconds
        try:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(event.wait(), wait)
        finally:
            with self._lock:
                self._waiting.pop(key, None)

    def settled(self, payer: str, nonce: str) -> None:
        """Called after a settlement attempt: release a request waiting on this payment."""
        with self._lock:
            event = self._waiting.get((payer.lower(), nonce))
        if event is not None:
            event.set()
