"""The emulator's Starlette app: the Giga routes behind a fault and request-counting layer."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prefect_giga.testing.config import DISCOVERY_DOCUMENTS
from prefect_giga.testing.discovery_docs import discovery_endpoint
from prefect_giga.testing.read_routes import file_endpoint, siwx_endpoint
from prefect_giga.testing.replies import SpoiledReply
from prefect_giga.testing.resume_route import resume_endpoint
from prefect_giga.testing.start_route import start_endpoint

if TYPE_CHECKING:
    from prefect_giga.testing.state import EmulatorState

__all__ = ["build_app", "endpoint_name"]

_ERROR_CODES = {
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}
_CREDENTIALS = (b"payment-signature", b"sign-in-with-x", b"authorization")


def endpoint_name(path: str) -> str:
    """The fault/counter key of a request path (``/api/file-url`` is ``file-url``).

    Example:
        >>> endpoint_name("/api/start")
        'start'
    """
    return path.removeprefix("/api/") if path.startswith("/api/") else path


async def _send_simple(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    headers = [(b"content-length", str(len(body)).encode()), *headers]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _header_names(scope: Scope) -> set[bytes]:
    return {bytes(name).lower() for name, _ in scope.get("headers", [])}


class FaultLayer:
    """ASGI middleware: counts requests and applies `Faults` (redirect, latency, errors, hold,
    spoiled bodies) and `Hostile`'s redirects of requests that carry credentials.

    Args:
        app: The routes.
        emulator: Source of the fault knobs and the counters.
    """

    def __init__(self, app: ASGIApp, emulator: EmulatorState) -> None:
        self.app = app
        self.emulator = emulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        endpoint = endpoint_name(str(scope["path"]))
        faults = self.emulator.faults
        names = _header_names(scope)
        paid = endpoint in ("start", "resume") and b"payment-signature" in names

        async def counted_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = int(message["status"])
                self.emulator.record_request(endpoint, status)
                hold = faults.hold_for(endpoint)
                if paid:
                    self.emulator.record_paid_request(status)
                    hold += faults.take_paid_hold()
                if hold > 0:
                    releases = faults.releases
                    await self.emulator.wait(hold, cut_short=lambda: faults.releases != releases)
            await send(message)

        credentialed = any(name in names for name in _CREDENTIALS)
        target = faults.redirect_for(endpoint) or self.emulator.hostile.redirect_for(
            endpoint, credentialed=credentialed
        )
        if target is not None:
            await _send_simple(counted_send, 307, b"", [(b"location", target.encode())])
            return
        latency = faults.latency_for(endpoint)
        if latency > 0:
            await self.emulator.wait(latency)
        fault = faults.take_error(endpoint)
        if fault is not None:
            code = _ERROR_CODES.get(fault.status, "injected_error")
            body = json.dumps({"error": code, "message": "Injected by the emulator"}).encode()
            headers = [(b"content-type", b"application/json")]
            retry_after = fault.retry_after
            if retry_after is None and fault.status == 429:
                retry_after = 1
            if retry_after is not None:
                headers.append((b"retry-after", str(math.ceil(retry_after)).encode()))
            await _send_simple(counted_send, fault.status, body, headers)
            return
        spoiled = SpoiledReply(
            counted_send,
            receive,
            lambda: faults.take_body_fault(endpoint),
            self.emulator.wait,
            lambda: self.emulator.stopping,
        )
        await self.app(scope, receive, spoiled)


def build_app(emulator: EmulatorState) -> ASGIApp:
    """The full ASGI app of ``emulator``.

    Example:
        >>> from prefect_giga.testing import GigaEmulator
        >>> app = build_app(GigaEmulator())
    """
    routes = [
        Route("/api/start", start_endpoint(emulator), methods=["POST"]),
        Route("/api/read", siwx_endpoint(emulator, "read"), methods=["POST"]),
        Route("/api/list", siwx_endpoint(emulator, "list"), methods=["POST"]),
        Route("/api/file-url", siwx_endpoint(emulator, "file-url"), methods=["POST"]),
        Route("/api/file", file_endpoint(emulator), methods=["GET"]),
        *(Route(p, discovery_endpoint(emulator, p), methods=["GET"]) for p in DISCOVERY_DOCUMENTS),
    ]
    if emulator.config.resume:
        routes.append(Route("/api/resume", resume_endpoint(emulator), methods=["POST"]))
    return FaultLayer(Starlette(routes=routes), emulator)
