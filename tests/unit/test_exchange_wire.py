"""`Exchange` over real loopback sockets: only time on the wire counts, and a request that was
never written is "not sent" (`RequestNotSentError`), while one written and unanswered is not."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from prefect_giga.core.exceptions import GigaTransportError, RequestNotSentError
from prefect_giga.core.exchange import Exchange


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def silent_server() -> AsyncIterator[tuple[str, asyncio.Event]]:
    """A loopback server that reads requests and never answers; the event fires on a read."""
    got_bytes = asyncio.Event()

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if await reader.read(1024):
            got_bytes.set()
        await reader.read()  # until the client goes away
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", got_bytes
    finally:
        server.close()
        await server.wait_closed()


async def test_connection_refused_is_not_sent() -> None:
    async with httpx.AsyncClient() as http:
        exchange = Exchange(f"http://127.0.0.1:{_closed_port()}", http, timeout=2, max_in_flight=1)
        with pytest.raises(RequestNotSentError) as caught:
            await exchange.send("POST", "/api/start", "start (paid)", json={"prompt": "x"})
    assert "never saw it" in str(caught.value)


async def test_written_request_without_a_reply_stays_unknown(
    silent_server: tuple[str, asyncio.Event],
) -> None:
    url, got_bytes = silent_server
    async with httpx.AsyncClient() as http:
        exchange = Exchange(url, http, timeout=0.3, max_in_flight=1)
        with pytest.raises(GigaTransportError) as caught:
            await exchange.send("POST", "/api/start", "start (paid)", json={"prompt": "x"})
    assert got_bytes.is_set()
    assert not isinstance(caught.value, RequestNotSentError)


async def test_waiting_for_a_slot_does_not_count_against_the_timeout() -> None:
    """The only slot is held (as a slow download would) for longer than the timeout; the
    queued request is sent once it frees, and its deadline starts only then."""
    answered = asyncio.Event()

    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
        await writer.drain()
        answered.set()
        writer.close()

    server = await asyncio.start_server(reply, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with httpx.AsyncClient() as http:
        exchange = Exchange(f"http://127.0.0.1:{port}", http, timeout=0.2, max_in_flight=1)
        await exchange.slots.acquire()  # held by someone else
        queued = asyncio.ensure_future(exchange.send("POST", "/api/list", "list runs", json={}))
        release = asyncio.get_running_loop().call_later(0.5, exchange.slots.release)
        try:
            response = await queued
        finally:
            release.cancel()
            server.close()
            await server.wait_closed()
    assert response.status_code == 200 and answered.is_set()
