"""The free routes: SIWX-gated ``read``, ``list``, ``file-url``, and token-gated ``file``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from eth_utils.address import to_checksum_address
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from prefect_giga.testing.bodies import (
    BodyError,
    parse_file_url_body,
    parse_list_body,
    parse_read_body,
)
from prefect_giga.testing.clock import isoformat_ms
from prefect_giga.testing.payments import b64_json
from prefect_giga.testing.responses import BodyTooLarge, json_error, origin_of, read_limited
from prefect_giga.testing.runs import TERMINAL_STATUSES
from prefect_giga.testing.siwx import SiwxError
from prefect_giga.testing.tokens import TokenError

if TYPE_CHECKING:
    from prefect_giga.testing.state import EmulatorState

__all__ = ["file_endpoint", "siwx_endpoint"]

Handler = Callable[[Request], Awaitable[Response]]
AuthedHandler = Callable[["EmulatorState", Request, str, bytes], Awaitable[Response]]

_DESCRIPTIONS = {
    "/api/read": "Read the status of a Giga run",
    "/api/list": "List your Giga runs",
    "/api/file-url": "Get a presigned download URL for a run file",
}
_NO_STORE = {"Cache-Control": "no-store"}


def _proof(request: Request) -> str | None:
    proof = request.headers.get("sign-in-with-x")
    if proof:
        return proof
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def _authenticate(emulator: EmulatorState, request: Request) -> str | Response:
    scheme, host = origin_of(request)
    proof = _proof(request)
    if proof is None:
        description = _DESCRIPTIONS.get(request.url.path, "SIWX-protected endpoint")
        challenge = emulator.siwx.challenge(str(request.url), host, description)
        if emulator.hostile.challenge_overrides:  # hostile: tampered challenge fields
            info = challenge["extensions"]["sign-in-with-x"]["info"]
            info.update(emulator.hostile.challenge_overrides)
        headers = {"PAYMENT-REQUIRED": b64_json(challenge), **_NO_STORE}
        return JSONResponse(challenge, status_code=402, headers=headers)
    try:
        wallet = await emulator.siwx.verify(proof, scheme=scheme, host=host)
    except SiwxError as exc:
        return json_error(402, exc.code, exc.message)
    return to_checksum_address(wallet)


async def _read(emulator: EmulatorState, request: Request, wallet: str, raw: bytes) -> Response:
    run_id, include_files = parse_read_body(raw)
    run = emulator.run_store.get(run_id, owner=wallet)
    if run is None:
        return json_error(404, "not_found", "Run not found")
    now = emulator.clock.now()
    detail = run.detail(now, include_files)
    if include_files and run.status(now) in TERMINAL_STATUSES:  # hostile: extra listed files
        listed = emulator.hostile.listed_files
        detail["files"] += [{"path": p, "type": "file", "size": len(listed[p])} for p in listed]
    if emulator.hostile.reply_run_id is not None:  # hostile: another (or no valid) id
        detail["id"] = emulator.hostile.reply_run_id
    if include_files and emulator.hostile.files_reply_run_id is not None:
        detail["id"] = emulator.hostile.files_reply_run_id
    return JSONResponse(detail, headers=_NO_STORE)


async def _list(emulator: EmulatorState, request: Request, wallet: str, raw: bytes) -> Response:
    limit, offset = parse_list_body(raw, clamp=emulator.config.list_limit == "clamp")
    now = emulator.clock.now()
    runs = emulator.run_store.for_owner(wallet, now)[offset : offset + limit]
    summaries = [run.summary(now) for run in runs]
    if emulator.hostile.reply_run_id is not None:  # hostile: another (or no valid) id
        summaries = [{**summary, "id": emulator.hostile.reply_run_id} for summary in summaries]
    return JSONResponse({"runs": summaries}, headers=_NO_STORE)


async def _file_url(emulator: EmulatorState, request: Request, wallet: str, raw: bytes) -> Response:
    run_id, path = parse_file_url_body(raw)
    run = emulator.run_store.get(run_id, owner=wallet)
    if run is None:
        return json_error(404, "not_found", "Run not found")
    relative = path.lstrip("/")
    if path in emulator.hostile.listed_files:
        relative = path
    elif run.resolve_file(relative, emulator.clock.now()) is None:
        return json_error(404, "not_found", "File not found")
    token, expires_at = emulator.tokens.issue(
        run.id, relative, expired=emulator.faults.expired_file_urls
    )
    scheme, host = origin_of(request)
    url = emulator.hostile.file_link or f"{scheme}://{host}/api/file?token={token}"
    return JSONResponse({"url": url, "expiresAt": isoformat_ms(expires_at)}, headers=_NO_STORE)


_HANDLERS: dict[str, AuthedHandler] = {
    "read": _read,
    "list": _list,
    "file-url": _file_url,
}


def siwx_endpoint(emulator: EmulatorState, name: str) -> Handler:
    """Build the SIWX-gated handler ``name`` (``read``, ``list`` or ``file-url``)."""
    handler = _HANDLERS[name]

    async def endpoint(request: Request) -> Response:
        try:
            raw = await read_limited(request, emulator.config.max_request_bytes)
        except BodyTooLarge:
            return json_error(413, "payload_too_large", "Request body is too large")
        wallet = await _authenticate(emulator, request)
        if isinstance(wallet, Response):
            return wallet
        try:
            return await handler(emulator, request, wallet, raw)
        except BodyError as exc:
            return json_error(400, "invalid_request", str(exc))

    return endpoint


def file_endpoint(emulator: EmulatorState) -> Handler:
    """Build the ``GET /api/file?token=`` handler (the token is the only credential)."""

    async def download(request: Request) -> Response:
        token = request.query_params.get("token")
        if not token:
            return json_error(400, "missing_token", "The token query parameter is required")
        try:
            grant = emulator.tokens.verify(token)
        except TokenError as exc:
            return json_error(exc.status, exc.code, str(exc))
        run = emulator.run_store.get(grant.run_id)
        listed = emulator.hostile.listed_files.get(grant.path)
        if run is not None and listed is not None:
            return Response(listed, headers=_NO_STORE, media_type="application/octet-stream")
        path = run.resolve_file(grant.path, emulator.clock.now()) if run else None
        if path is None:
            return json_error(404, "not_found", "File not found")
        return FileResponse(
            path,
            filename=path.name,
            content_disposition_type="attachment",
            headers=_NO_STORE,
        )

    return download
