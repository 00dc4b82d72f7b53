"""Spoiled replies: an ASGI ``send`` wrapper that swaps a 2xx body for garbage or an endless one.

The route runs and sends its real reply (so its side effects, a settled payment included,
have happened); the wrapper forwards the status line, drops the real body and sends what a
`BodyFault` says instead: bytes that are not JSON, or a body that never ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from starlette.types import Message, Receive, Send

from prefect_giga.testing.faults import BodyFault

__all__ = ["SpoiledReply"]

_DROPPED_HEADERS = {b"content-length", b"content-type", b"content-disposition"}


class SpoiledReply:
    """Wraps an ASGI ``send``; spoils the body of a 2xx reply when ``take`` gives a fault.

    Args:
        send: The ``send`` to forward to.
        receive: The request's ``receive`` (an endless body stops once it reports
            ``http.disconnect``).
        take: Called at a 2xx response start; the fault to apply, or ``None``.
        wait: Sleeps real seconds between endless chunks (cut short when the server stops).
        stopped: Whether the server is stopping (an endless body then ends).

    Attributes:
        spoiled: The fault applied to this reply, if any.
    """

    def __init__(
        self,
        send: Send,
        receive: Receive,
        take: Callable[[], BodyFault | None],
        wait: Callable[[float], Awaitable[None]],
        stopped: Callable[[], bool],
    ) -> None:
        self._send = send
        self._receive = receive
        self._take = take
        self._wait = wait
        self._stopped = stopped
        self.spoiled: BodyFault | None = None

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            status = int(message["status"])
            self.spoiled = self._take() if 200 <= status < 300 else None
            if self.spoiled is not None:
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() not in _DROPPED_HEADERS
                ]
                headers.append((b"content-type", b"text/html; charset=utf-8"))
                if not self.spoiled.endless:
                    headers.append((b"content-length", str(len(self.spoiled.chunk)).encode()))
                message = {**message, "headers": headers}
            await self._send(message)
            return
        fault = self.spoiled
        if fault is None or message["type"] != "http.response.body":
            await self._send(message)
            return
        if message.get("more_body", False):
            return  # the real body is dropped
        if not fault.endless:
            await self._send({"type": "http.response.body", "body": fault.chunk})
            return
        await self._trickle(fault)

    async def _trickle(self, fault: BodyFault) -> None:
        gone = asyncio.Event()

        async def watch() -> None:
            while (await self._receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watcher = asyncio.ensure_future(watch())
        try:
            while not (gone.is_set() or watcher.done() or self._stopped()):
                await self._send(
                    {"type": "http.response.body", "body": fault.chunk, "more_body": True}
                )
                await self._wait(fault.interval)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher
        with contextlib.suppress(Exception):
            await self._send({"type": "http.response.body", "body": b""})
