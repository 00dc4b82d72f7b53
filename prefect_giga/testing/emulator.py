"""`GigaEmulator`: the emulator's state served by its app on a real socket, with start/stop."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prefect_giga.testing.app import build_app
from prefect_giga.testing.config import EmulatorConfig
from prefect_giga.testing.server import EmulatorServer
from prefect_giga.testing.state import EmulatorState

__all__ = ["GigaEmulator"]


class GigaEmulator(EmulatorState):
    """A faithful local Giga server that verifies payments and SIWX proofs for real.

    Holds the in-memory chain, runs, ledger, clock and fault knobs; `run` serves it on a
    real socket. The inspection API (`ledger`, `balance_of`, `used_nonces`, `requests`,
    `paid_requests`, `runs`, `payee`, `reset`) is thread-safe and meant for test assertions.
    `faults` holds the knobs of a broken server, `hostile` those of a malicious one.

    Args:
        config: How the server behaves; defaults to `EmulatorConfig()`.

    Example:
        >>> with GigaEmulator(EmulatorConfig(manual_clock=True)).run() as server:
        ...     emulator = server.emulator
        ...     emulator.clock.advance(60)
        ...     emulator.faults.rate_limit("read", retry_after=2)
        ...     emulator.ledger
        []
    """

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        super().__init__(config)
        self._server: EmulatorServer | None = None
        self.app = build_app(self)

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> EmulatorServer:
        """Serve on a real socket in a background thread; returns the running server."""
        if self._server is None or not self._server.running:
            self._stopping.clear()
            self._server = EmulatorServer(self).start()
        return self._server

    def stop(self) -> None:
        """Stop serving (run files stay until `close`)."""
        self._stopping.set()
        if self._server is not None:
            self._server.stop()
            self._server = None

    def close(self) -> None:
        """Stop serving and delete the run files the emulator created."""
        self.stop()
        self.run_store.cleanup()

    @contextmanager
    def run(self) -> Iterator[EmulatorServer]:
        """Serve for the duration of a ``with`` block, then stop and clean up.

        Example:
            >>> with GigaEmulator().run() as server:
            ...     url = server.url
        """
        server = self.start()
        try:
            yield server
        finally:
            self.close()

    @property
    def url(self) -> str:
        """The base URL while serving.

        Raises:
            RuntimeError: The emulator is not serving.
        """
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start() or run()")
        return self._server.url
