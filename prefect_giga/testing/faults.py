"""Fault knobs: latency, errors, held, dropped or spoiled replies, failed settlements, bad quotes.

Every knob is an attribute tests may change at any time, from any thread; the helper
methods are shorthands. Random choices come from one seeded generator, so a run of the
test suite injects the same faults every time. Endpoint keys are ``"start"``, ``"read"``,
``"list"``, ``"file-url"``, ``"file"``, or ``"*"`` for every endpoint.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from decimal import Decimal

__all__ = ["ENDPOINTS", "BodyFault", "ErrorFault", "Faults"]

ENDPOINTS = ("start", "read", "list", "file-url", "file")


@dataclass
class ErrorFault:
    """Answer an endpoint with an error before it does anything.

    Attributes:
        status: 500, 502, 503, 429...
        rate: Probability per request (1.0 = every request).
        count: Injections left; ``None`` for no limit.
        retry_after: ``Retry-After`` seconds (sent with 429 by default as 1).
    """

    status: int = 503
    rate: float = 1.0
    count: int | None = None
    retry_after: float | None = None


@dataclass
class BodyFault:
    """Spoil the body of an endpoint's successful (2xx) replies, after the side effects happened.

    Attributes:
        chunk: The bytes sent instead of the real body (not JSON).
        endless: Never finish the body: send ``chunk`` every ``interval`` seconds until the
            client goes away, instead of sending it once.
        interval: Real seconds between the chunks of an endless body.
        count: Replies left to spoil; ``None`` for no limit.
    """

    chunk: bytes = b"<html><body>502 Bad Gateway</body></html>"
    endless: bool = False
    interval: float = 0.05
    count: int | None = None


class Faults:
    """The emulator's fault knobs.

    Attributes:
        latency: Real seconds to wait before handling a request, per endpoint.
        hold: Real seconds to hold a reply after the request's side effects happened
            (a client timeout fires mid-request), per endpoint.
        errors: Error injected before handling, per endpoint.
        settle_failures: The next N settlements fail (the run is discarded or kept).
        settle_failure_rate: Probability that any other settlement fails.
        drops_after_settlement: The next N settled starts lose their reply: the payment
            happened but the client's connection is closed without an answer (needs the
            TCP proxy, ``EmulatorConfig(proxy=True)``, the default).
        expired_file_urls: ``/api/file-url`` issues URLs that are already expired.
        shuffle_logs: New runs' log records arrive out of order.
        quote_multiplier: Hostile: quotes (and the server's requirement) are inflated.
        payee_override: Hostile: quotes ask to pay this address instead of the payee.
        redirects: Hostile: answer an endpoint with a 307 to this URL.
        bodies: Spoil the body of an endpoint's 2xx replies (not JSON, or never ending).
        hold_paid: Real seconds to hold the reply of a paid start (one carrying
            ``PAYMENT-SIGNATURE``) after it settled; unpaid probes are answered at once.
        hold_paid_count: Paid replies left to hold; ``None`` for no limit.

    Args:
        seed: Seed of the generator behind every rate.

    Example:
        >>> faults = Faults()
        >>> faults.rate_limit("read", retry_after=2, count=1)
        >>> faults.take_error("read").status
        429
        >>> faults.take_error("read") is None
        True
    """

    def __init__(self, seed: int = 0) -> None:
        self._seed = seed
        self._lock = threading.Lock()
        self.releases = 0
        self.clear()

    def clear(self) -> None:
        """Turn every fault off and reseed the generator."""
        with self._lock:
            self._rng = random.Random(self._seed)  # noqa: S311 - fault injection, not crypto
            self.latency: dict[str, float] = {}
            self.hold: dict[str, float] = {}
            self.errors: dict[str, ErrorFault] = {}
            self.settle_failures = 0
            self.settle_failure_rate = 0.0
            self.drops_after_settlement = 0
            self.expired_file_urls = False
            self.shuffle_logs = False
            self.quote_multiplier = Decimal(1)
            self.payee_override: str | None = None
            self.redirects: dict[str, str] = {}
            self.bodies: dict[str, BodyFault] = {}
            self.hold_paid = 0.0
            self.hold_paid_count: int | None = None

    # -- shorthands -------------------------------------------------------------------

    def fail(
        self,
        endpoint: str,
        status: int = 503,
        *,
        count: int | None = None,
        rate: float = 1.0,
        retry_after: float | None = None,
    ) -> None:
        """Answer ``endpoint`` with ``status`` (``count`` times, or at ``rate``)."""
        self.errors[endpoint] = ErrorFault(status, rate, count, retry_after)

    def rate_limit(self, endpoint: str, *, retry_after: float = 1, count: int | None = 1) -> None:
        """Answer ``endpoint`` with 429 and ``Retry-After``."""
        self.fail(endpoint, 429, count=count, retry_after=retry_after)

    def delay(self, endpoint: str, seconds: float) -> None:
        """Add ``seconds`` of latency before ``endpoint`` is handled."""
        self.latency[endpoint] = seconds

    def hold_reply(self, endpoint: str, seconds: float) -> None:
        """Hold ``endpoint``'s reply ``seconds`` after its side effects happened."""
        self.hold[endpoint] = seconds

    def fail_settlements(self, count: int = 1, *, rate: float = 0.0) -> None:
        """Make the next ``count`` settlements (and then a ``rate`` of them) fail."""
        with self._lock:
            self.settle_failures = count
            self.settle_failure_rate = rate

    def drop_replies_after_settlement(self, count: int = 1) -> None:
        """Settle the next ``count`` paid starts but close the connection instead of answering."""
        with self._lock:
            self.drops_after_settlement = count

    def hold_paid_replies(self, seconds: float, *, count: int | None = None) -> None:
        """Hold the next ``count`` paid replies (all when ``None``) ``seconds`` after settling."""
        with self._lock:
            self.hold_paid = seconds
            self.hold_paid_count = count

    def release_held_replies(self) -> None:
        """Let every reply held right now (`hold_reply`, `hold_paid_replies`) go at once."""
        with self._lock:
            self.releases += 1

    def garble(self, endpoint: str, body: bytes | None = None, *, count: int | None = None) -> None:
        """Replace ``endpoint``'s 2xx bodies with ``body`` (default an HTML error page)."""
        fault = BodyFault(count=count) if body is None else BodyFault(chunk=body, count=count)
        self.bodies[endpoint] = fault

    def never_end(
        self,
        endpoint: str,
        *,
        chunk: bytes = b" ",
        interval: float = 0.05,
        count: int | None = None,
    ) -> None:
        """Make ``endpoint``'s 2xx bodies endless: ``chunk`` every ``interval`` seconds."""
        self.bodies[endpoint] = BodyFault(chunk=chunk, endless=True, interval=interval, count=count)

    # -- used by the app --------------------------------------------------------------

    def _lookup(self, table: dict[str, float], endpoint: str) -> float:
        return float(table.get(endpoint, table.get("*", 0.0)))

    def latency_for(self, endpoint: str) -> float:
        """Seconds of latency for ``endpoint``."""
        return self._lookup(self.latency, endpoint)

    def hold_for(self, endpoint: str) -> float:
        """Seconds to hold ``endpoint``'s reply."""
        return self._lookup(self.hold, endpoint)

    def redirect_for(self, endpoint: str) -> str | None:
        """Where to redirect ``endpoint``, if anywhere."""
        return self.redirects.get(endpoint, self.redirects.get("*"))

    def take_error(self, endpoint: str) -> ErrorFault | None:
        """Decide whether this request gets an injected error (consumes a count)."""
        with self._lock:
            fault = self.errors.get(endpoint, self.errors.get("*"))
            if fault is None or (fault.count is not None and fault.count <= 0):
                return None
            if fault.rate < 1.0 and self._rng.random() >= fault.rate:
                return None
            if fault.count is not None:
                fault.count -= 1
            return fault

    def take_body_fault(self, endpoint: str) -> BodyFault | None:
        """Decide whether this 2xx reply's body is spoiled (consumes a count)."""
        with self._lock:
            fault = self.bodies.get(endpoint, self.bodies.get("*"))
            if fault is None or (fault.count is not None and fault.count <= 0):
                return None
            if fault.count is not None:
                fault.count -= 1
            return fault

    def take_paid_hold(self) -> float:
        """Seconds to hold this paid start's reply (consumes a count)."""
        with self._lock:
            if self.hold_paid <= 0 or (
                self.hold_paid_count is not None and self.hold_paid_count <= 0
            ):
                return 0.0
            if self.hold_paid_count is not None:
                self.hold_paid_count -= 1
            return self.hold_paid

    def take_settle_failure(self) -> bool:
        """Decide whether this settlement fails (consumes a count)."""
        with self._lock:
            if self.settle_failures > 0:
                self.settle_failures -= 1
                return True
            return self.settle_failure_rate > 0 and self._rng.random() < self.settle_failure_rate

    def take_drop(self) -> bool:
        """Decide whether this settled reply is dropped (consumes a count)."""
        with self._lock:
            if self.drops_after_settlement > 0:
                self.drops_after_settlement -= 1
                return True
            return False

    def shuffled(self, count: int) -> list[int]:
        """The arrival order of ``count`` log records (shuffled when `shuffle_logs` is on)."""
        order = list(range(count))
        if self.shuffle_logs:
            with self._lock:
                while count > 1 and order == sorted(order):
                    self._rng.shuffle(order)
        return order
