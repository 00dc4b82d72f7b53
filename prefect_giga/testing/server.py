"""Runs the emulator's app with uvicorn on a real socket, in a thread with its own loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from typing import TYPE_CHECKING

import uvicorn

from prefect_giga.testing.proxy import TcpProxy

if TYPE_CHECKING:
    from prefect_giga.testing.state import EmulatorState

__all__ = ["EmulatorServer"]


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets whose proto says TCP.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


class EmulatorServer:
    """A running emulator: uvicorn (and the dropping proxy) in a background thread.

    The thread has its own event loop, so the server works the same from sync tests and
    from async tests with function-scoped loops. Usually created by `GigaEmulator.run`.

    Args:
        emulator: The emulator to serve (its config gives host, port and proxy).

    Attributes:
        emulator: The served `GigaEmulator` (clock, faults, ledger...).

    Example:
        >>> from prefect_giga.testing import GigaEmulator
        >>> with GigaEmulator().run() as server:
        ...     server.url.startswith("http://127.0.0.1:")
        True
    """

    def __init__(self, emulator: EmulatorState) -> None:
        self.emulator = emulator
        config = emulator.config
        self.host = config.host
        self._port = config.port
        self._use_proxy = config.proxy
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._uvicorn: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """The base URL clients use, e.g. ``http://127.0.0.1:54321``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the server thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 10.0) -> EmulatorServer:
        """Start serving; returns once the socket accepts connections.

        Raises:
            RuntimeError: The server did not start.
        """
        if self.running:
            return self
        self._thread = threading.Thread(target=self._run, name="giga-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            self.stop()
            raise RuntimeError(f"the Giga emulator did not start: {self._error!r}")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and join the thread (in-flight held replies are cut short)."""
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:
            self._error = exc
        finally:
            self._ready.set()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    @staticmethod
    async def _until_started(server: uvicorn.Server, serving: asyncio.Task[None]) -> None:
        for _ in range(2000):  # uvicorn exposes no event; its startup takes milliseconds
            if server.started or serving.done():
                return
            await asyncio.sleep(0.005)

    async def _main(self) -> None:
        public = _bind(self.host, self._port)
        app_sock = _bind(self.host, 0) if self._use_proxy else public
        config = uvicorn.Config(
            self.emulator.app,
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
            ws="none",
        )
        self._uvicorn = uvicorn.Server(config)
        serving = asyncio.create_task(self._uvicorn.serve(sockets=[app_sock]))
        await self._until_started(self._uvicorn, serving)
        if serving.done():
            serving.result()
            return
        proxy: TcpProxy | None = None
        if self._use_proxy:
            proxy = TcpProxy(self.host, app_sock.getsockname()[1], self.emulator.dropper)
            await proxy.start(public)
        self.port = public.getsockname()[1]
        self._ready.set()
        try:
            await serving
        finally:
            if proxy is not None:
                await proxy.close()
            with contextlib.suppress(OSError):
                public.close()
