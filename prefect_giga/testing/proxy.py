"""A small asyncio TCP proxy in front of uvicorn, able to drop a connection without a reply.

ASGI cannot close a connection without answering, so the app marks the connection (by
the proxy's upstream port, which uvicorn reports as the client port) and the proxy
closes the client's socket instead of forwarding the reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading

__all__ = ["ConnectionDropper", "TcpProxy"]

_CHUNK = 64 * 1024


class ConnectionDropper:
    """Thread-safe set of upstream connections whose reply must be dropped.

    Example:
        >>> dropper = ConnectionDropper()
        >>> dropper.mark(("127.0.0.1", 50000))
        True
        >>> dropper.take(50000), dropper.take(50000)
        (True, False)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ports: set[int] = set()
        self.dropped = 0

    def mark(self, client: object) -> bool:
        """Mark the connection of an ASGI ``scope["client"]`` for dropping."""
        if not isinstance(client, tuple | list) or len(client) < 2:
            return False
        with self._lock:
            self._ports.add(int(client[1]))
        return True

    def take(self, port: int) -> bool:
        """Whether the upstream connection from ``port`` is marked (and unmark it)."""
        with self._lock:
            if port in self._ports:
                self._ports.discard(port)
                self.dropped += 1
                return True
            return False


def _abort(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class TcpProxy:
    """Forwards bytes between clients and ``upstream``, dropping marked replies.

    Args:
        upstream_host: Where uvicorn listens.
        upstream_port: Its port.
        dropper: The marks set by the app.
    """

    def __init__(self, upstream_host: str, upstream_port: int, dropper: ConnectionDropper) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._dropper = dropper
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, sock: socket.socket) -> None:
        """Start accepting on an already bound socket."""
        self._server = await asyncio.start_server(self._accept, sock=sock)

    async def close(self) -> None:
        """Stop accepting and cut every open connection."""
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except asyncio.CancelledError:
            _abort(writer)
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            _abort(writer)
            return
        port = int(up_writer.get_extra_info("sockname")[1])
        upward = asyncio.create_task(self._pipe(reader, up_writer))
        try:
            await self._pipe_down(up_reader, writer, up_writer, port)
        finally:
            upward.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await upward
            up_writer.close()
            writer.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(_CHUNK):
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(OSError):
            writer.close()

    async def _pipe_down(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        upstream: asyncio.StreamWriter,
        port: int,
    ) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(_CHUNK):
                if self._dropper.take(port):
                    _abort(writer)
                    upstream.transport.abort()
                    return
                writer.write(data)
                await writer.drain()
