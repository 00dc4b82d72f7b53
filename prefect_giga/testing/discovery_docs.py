"""The discovery documents the emulator publishes, shaped like the router's.

The router Giga runs on serves an OpenAPI 3.1 document (each paid route with an
``x-payment-info`` price range and its request body's JSON schema), a ``llms.txt`` guide,
and on older deployments ``/.well-known/x402`` (its resource URLs and the same guide as
``instructions``). The emulator builds them from its own configuration, so a client that
reads them learns the emulator's tiers the way it would learn the live service's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from prefect_giga.core.money import format_usd
from prefect_giga.testing.responses import json_error, origin_of

if TYPE_CHECKING:
    from prefect_giga.testing.config import EmulatorConfig
    from prefect_giga.testing.state import EmulatorState

__all__ = ["discovery_endpoint", "guide", "openapi_document", "well_known_document"]

_FILES_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["filename", "data"],
        "properties": {
            "filename": {"type": "string"},
            "contentType": {"type": "string"},
            "data": {"type": "string", "description": "Base64-encoded file content"},
        },
    },
}


def _price_text(price: Decimal) -> str:
    """A price as the router writes it in ``x-payment-info`` (``String(parseFloat(...))``)."""
    return f"{price.normalize():f}"


def _tier_property(config: EmulatorConfig) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "string",
        "enum": list(config.tiers),
        "description": "Payment tier (the tier key is its USD price)",
    }
    if config.discovery_names_default:
        schema["default"] = config.default_tier
    return schema


def _paid_operation(
    config: EmulatorConfig, summary: str, properties: dict[str, Any], required: list[str]
) -> dict[str, Any]:
    prices = list(config.tiers.values())
    return {
        "operationId": summary.split()[0].lower(),
        "summary": summary,
        "tags": ["Giga"],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "object", "required": required, "properties": properties}
                }
            },
        },
        "responses": {
            "200": {"description": "Successful response"},
            "402": {"description": "Payment Required"},
        },
        "x-payment-info": {
            "pricingMode": "range",
            "minPrice": _price_text(min(prices)),
            "maxPrice": _price_text(max(prices)),
            "protocols": ["x402"],
        },
    }


def _siwx_operation(summary: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "operationId": summary.split()[0].lower(),
        "summary": summary,
        "security": [{"siwx": []}],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "object", "properties": properties}}
            },
        },
        "responses": {
            "200": {"description": "Successful response"},
            "402": {"description": "Authentication Required"},
        },
    }


def openapi_document(config: EmulatorConfig, server_url: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the emulated API.

    Example:
        >>> from prefect_giga.testing.config import EmulatorConfig
        >>> doc = openapi_document(EmulatorConfig(), "http://127.0.0.1:8402")
        >>> doc["paths"]["/api/start"]["post"]["x-payment-info"]["maxPrice"]
        '5'
    """
    prompt = {"type": "string", "minLength": 1}
    start = {"prompt": prompt, "tier": _tier_property(config), "files": _FILES_SCHEMA}
    paths: dict[str, Any] = {
        "/api/start": {"post": _paid_operation(config, "Start an agent run", start, ["prompt"])},
        "/api/read": {"post": _siwx_operation("Read a run", {"runId": {"type": "string"}})},
        "/api/list": {"post": _siwx_operation("List runs", {"limit": {"type": "integer"}})},
        "/api/file-url": {"post": _siwx_operation("File URL", {"runId": {"type": "string"}})},
    }
    if config.resume:
        resume = {config.resume_run_field: {"type": "string", "minLength": 1}, **start}
        summary = "Resume a completed or failed run"
        paths["/api/resume"] = {
            "post": _paid_operation(config, summary, resume, [config.resume_run_field, "prompt"])
        }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Giga (emulated)", "version": "1.0.0", "guidance": guide(config)},
        "servers": [{"url": server_url}],
        "components": {
            "securitySchemes": {
                "siwx": {"type": "apiKey", "in": "header", "name": "SIGN-IN-WITH-X"}
            }
        },
        "paths": paths,
    }


def guide(config: EmulatorConfig) -> str:
    """The ``llms.txt`` guide: the workflow in brief and the tier table.

    Example:
        >>> from prefect_giga.testing.config import EmulatorConfig
        >>> "| `$5.00` | $5.00 |" in guide(EmulatorConfig())
        True
    """
    rows = "\n".join(f"| `{key}` | {format_usd(price)} |" for key, price in config.tiers.items())
    lines = [
        "# Giga (emulated)",
        "",
        "Pay-per-run AI agent execution: POST /api/start (paid via x402), poll POST /api/read "
        "(SIWX), then POST /api/file-url and GET /api/file to download outputs.",
        "",
        "## Payment tiers (set via the body field `tier`)",
        "",
        "| Tier key | Price |",
        "|----------|-------|",
        rows,
        "",
    ]
    if config.discovery_names_default:
        lines += [f"Default tier is `{config.default_tier}`.", ""]
    if config.resume:
        lines += ["POST /api/resume (paid) resumes a completed or failed run.", ""]
    return "\n".join(lines)


def well_known_document(config: EmulatorConfig, server_url: str) -> dict[str, Any]:
    """``/.well-known/x402``: the protected resources and the guide as instructions.

    Example:
        >>> from prefect_giga.testing.config import EmulatorConfig
        >>> well_known_document(EmulatorConfig(), "http://h")["resources"][0]
        'http://h/api/start'
    """
    names = ["start", *(["resume"] if config.resume else []), "read", "list", "file-url"]
    return {
        "version": 1,
        "resources": [f"{server_url}/api/{name}" for name in names],
        "instructions": guide(config),
    }


def discovery_endpoint(
    emulator: EmulatorState, path: str
) -> Callable[[Request], Awaitable[Response]]:
    """The ``GET`` handler of one discovery document (404 when it is not published)."""

    async def document(request: Request) -> Response:
        config = emulator.config
        if path not in config.discovery:
            return json_error(404, "not_found", "Not found")
        scheme, host = origin_of(request)
        server_url = f"{scheme}://{host}"
        if path.endswith(".txt"):
            return PlainTextResponse(guide(config))
        if path.endswith("openapi.json"):
            return JSONResponse(openapi_document(config, server_url))
        return JSONResponse(well_known_document(config, server_url))

    return document
