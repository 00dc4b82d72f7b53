"""The emulator's clock: agent time that runs scaled, or only when a test moves it."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

__all__ = ["Clock", "isoformat_ms"]


def isoformat_ms(moment: datetime) -> str:
    """Format a moment as ISO-8601 UTC with milliseconds and ``Z``, as Giga does.

    Example:
        >>> from datetime import datetime, timezone
        >>> isoformat_ms(datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc))
        '2026-03-02T12:00:00.000Z'
    """
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


class Clock:
    """Emulator time, used for run state, log arrival and presigned-URL expiry.

    In the default *scaled* mode, emulator time advances ``time_scale`` agent seconds per
    real second (``time_scale=1000`` makes a 90-second run take 90 ms). In *manual* mode it
    only moves when `advance` is called, so tests never sleep to wait for a state. Either
    mode can be switched at runtime with `freeze` and `resume`. Thread-safe.

    Payment windows and SIWX proofs are *not* checked against this clock: clients sign
    them with their own wall clock, so the emulator checks them against wall time too.

    Args:
        time_scale: Agent seconds per real second in scaled mode.
        manual: Start frozen (manual mode).
        start: The emulator time at construction; defaults to the current UTC time.

    Example:
        >>> clock = Clock(manual=True)
        >>> t0 = clock.now()
        >>> clock.advance(90)
        >>> (clock.now() - t0).total_seconds()
        90.0
    """

    def __init__(
        self,
        *,
        time_scale: float = 1.0,
        manual: bool = False,
        start: datetime | None = None,
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self._lock = threading.Lock()
        self._time_scale = float(time_scale)
        self._manual = manual
        origin = start or datetime.now(timezone.utc)
        self._origin = origin.replace(microsecond=(origin.microsecond // 1000) * 1000)
        self._elapsed = 0.0  # agent seconds accumulated before _mark
        self._mark = time.monotonic()

    def _elapsed_locked(self) -> float:
        if self._manual:
            return self._elapsed
        return self._elapsed + (time.monotonic() - self._mark) * self._time_scale

    def now(self) -> datetime:
        """The current emulator time (UTC).

        Example:
            >>> Clock(manual=True).now().tzinfo is not None
            True
        """
        with self._lock:
            return self._origin + timedelta(seconds=self._elapsed_locked())

    def advance(self, seconds: float) -> None:
        """Move emulator time forward by ``seconds`` agent seconds (works in both modes).

        Example:
            >>> clock = Clock(manual=True)
            >>> clock.advance(1.5)
        """
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._elapsed += seconds

    def freeze(self) -> None:
        """Switch to manual mode: time stops until `advance` or `resume`.

        Example:
            >>> clock = Clock(time_scale=1000)
            >>> clock.freeze()
            >>> clock.manual
            True
        """
        with self._lock:
            if not self._manual:
                self._elapsed = self._elapsed_locked()
                self._manual = True

    def resume(self, time_scale: float | None = None) -> None:
        """Switch to scaled mode, optionally with a new ``time_scale``.

        Example:
            >>> clock = Clock(manual=True)
            >>> clock.resume(time_scale=1000)
            >>> clock.manual
            False
        """
        with self._lock:
            self._elapsed = self._elapsed_locked()
            self._mark = time.monotonic()
            if time_scale is not None:
                if time_scale <= 0:
                    raise ValueError("time_scale must be positive")
                self._time_scale = float(time_scale)
            self._manual = False

    @property
    def manual(self) -> bool:
        """Whether time only moves through `advance`."""
        with self._lock:
            return self._manual

    @property
    def time_scale(self) -> float:
        """Agent seconds per real second in scaled mode."""
        with self._lock:
            return self._time_scale
