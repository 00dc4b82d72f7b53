"""`EmulatorState`: the emulator's chain, runs, ledger, clock and knobs, and their inspection."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal

from starlette.types import ASGIApp

from prefect_giga.core.money import to_usd
from prefect_giga.testing.agent import Agent, default_agent
from prefect_giga.testing.chain import InMemoryUsdc
from prefect_giga.testing.clock import Clock
from prefect_giga.testing.config import EmulatorConfig
from prefect_giga.testing.faults import Faults
from prefect_giga.testing.hostile import Hostile
from prefect_giga.testing.ledger import Ledger, LedgerEntry
from prefect_giga.testing.payments import PaymentGate, VerifiedPayment
from prefect_giga.testing.proxy import ConnectionDropper
from prefect_giga.testing.resend import ResendRace
from prefect_giga.testing.runs import Run, RunStore
from prefect_giga.testing.siwx import SiwxVerifier
from prefect_giga.testing.tokens import TokenSigner

__all__ = ["EmulatorState"]


class EmulatorState:
    """The emulator's state and its inspection API, without the server that serves it.

    The app's routes work on this; `GigaEmulator` adds the app and the start/stop of the
    server. Everything here is thread-safe and meant for test assertions too.

    Args:
        config: How the server behaves; defaults to `EmulatorConfig()`.

    Example:
        >>> state = EmulatorState(EmulatorConfig(manual_clock=True))
        >>> state.ledger
        []
    """

    app: ASGIApp
    """The ASGI app serving this state (set by `GigaEmulator`)."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        cfg = self.config
        network = cfg.network_info
        self.clock = Clock(time_scale=cfg.time_scale, manual=cfg.manual_clock)
        self.faults = Faults(seed=cfg.seed)
        self.hostile = Hostile()
        self.resend_race = ResendRace()
        self.usdc = InMemoryUsdc(
            network,
            initial_balance=cfg.initial_balance,
            unfunded=cfg.unfunded,
            balances=cfg.balances,
        )
        self.payments = PaymentGate(self.usdc, max_timeout_seconds=cfg.max_timeout_seconds)
        self.siwx = SiwxVerifier(
            network,
            domain_mode=cfg.siwx_domain,
            max_age_seconds=cfg.siwx_max_age_seconds,
            skew_seconds=cfg.siwx_clock_skew_seconds,
        )
        self.tokens = TokenSigner(
            self.clock, secret=cfg.token_secret, ttl_seconds=cfg.file_url_ttl_seconds
        )
        self.run_store = RunStore(cfg.workspace_root, seed=cfg.seed)
        self.agent: Agent = cfg.agent or default_agent
        self.dropper = ConnectionDropper()
        self._ledger = Ledger()
        self._lock = threading.Lock()
        self._requests: Counter[tuple[str, int]] = Counter()
        self._paid_requests: Counter[int] = Counter()
        self._stopping = threading.Event()

    # -- inspection -------------------------------------------------------------------

    @property
    def payee(self) -> str:
        """The address payments go to."""
        return self.config.payee

    @property
    def ledger(self) -> list[LedgerEntry]:
        """Every settled payment, oldest first."""
        return self._ledger.entries()

    def balance_of(self, address: str) -> int:
        """USDC balance of ``address`` in atomic units (6 decimals)."""
        return self.usdc.balance_of(address)

    def balance_usd(self, address: str) -> Decimal:
        """USDC balance of ``address`` in USD."""
        return to_usd(self.balance_of(address))

    @property
    def used_nonces(self) -> set[tuple[str, str]]:
        """EIP-3009 ``(payer lowercase, nonce hex)`` pairs used on the chain."""
        return self.usdc.used_nonces()

    @property
    def requests(self) -> Counter[tuple[str, int]]:
        """How many requests each ``(endpoint, status)`` got (endpoint as in `Faults`)."""
        with self._lock:
            return Counter(self._requests)

    @property
    def paid_requests(self) -> Counter[int]:
        """How many ``/api/start`` requests carrying ``PAYMENT-SIGNATURE`` got each status."""
        with self._lock:
            return Counter(self._paid_requests)

    def request_count(self, endpoint: str, status: int | None = None) -> int:
        """Requests to ``endpoint`` (optionally only those answered with ``status``)."""
        return sum(
            n for (e, s), n in self.requests.items() if e == endpoint and status in (None, s)
        )

    @property
    def runs(self) -> list[Run]:
        """Every run, oldest first."""
        return self.run_store.all()

    def run_by_id(self, run_id: str) -> Run | None:
        """A run by id."""
        return self.run_store.get(run_id)

    def reset(self) -> None:
        """Back to a fresh state: chain, ledger, runs, SIWX nonces, counters, faults."""
        self.usdc.reset()
        self._ledger.reset()
        self.run_store.reset()
        self.siwx.reset()
        self.faults.clear()
        self.hostile.clear()
        self.resend_race.clear()
        with self._lock:
            self._requests.clear()
            self._paid_requests.clear()

    # -- used by the app --------------------------------------------------------------

    def record_request(self, endpoint: str, status: int) -> None:
        """Count one answered request."""
        with self._lock:
            self._requests[(endpoint, status)] += 1

    def record_paid_request(self, status: int) -> None:
        """Count one answered paid start."""
        with self._lock:
            self._paid_requests[status] += 1

    def record_settlement(self, entry: LedgerEntry) -> None:
        """Add a settled payment to the ledger."""
        self._ledger.record(entry)

    def record_paid(self, payment: VerifiedPayment, transaction: str, run_id: str) -> None:
        """Record ``payment``, settled in ``transaction`` for ``run_id`` ("" for none)."""
        required = payment.requirements
        self.record_settlement(
            LedgerEntry(
                payer=payment.payer,
                payee=required.pay_to,
                amount=int(required.amount),
                asset=required.asset,
                network=str(required.network),
                nonce=payment.nonce,
                tx_hash=transaction,
                run_id=run_id,
                time=self.clock.now(),
            )
        )

    @property
    def stopping(self) -> bool:
        """Whether the server is shutting down (held replies and endless bodies end)."""
        return self._stopping.is_set()

    async def wait(self, seconds: float, *, cut_short: Callable[[], bool] | None = None) -> None:
        """Sleep real ``seconds`` (latency and held replies), cut short when stopping or when
        ``cut_short()`` turns true (a test released held replies)."""
        deadline = time.monotonic() + seconds
        while not self._stopping.is_set() and not (cut_short is not None and cut_short()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, 0.05))
