"""Request body parsing and validation for the emulated endpoints."""

from __future__ import annotations

import base64
import binascii
import json
import unicodedata
from dataclasses import dataclass
from typing import Any

from prefect_giga.testing.agent import Attachment

__all__ = [
    "BodyError",
    "ResumeRequest",
    "StartRequest",
    "parse_file_url_body",
    "parse_list_body",
    "parse_read_body",
    "parse_resume_body",
    "parse_start_body",
    "sanitize_filename",
]

MAX_FILENAME = 255
MAX_LIST_LIMIT = 100


class BodyError(ValueError):
    """The body does not follow the endpoint's schema (answered with 400)."""


@dataclass(frozen=True)
class StartRequest:
    """A valid ``POST /api/start`` body.

    Attributes:
        prompt: The prompt.
        tier: The tier key sent, or ``None``.
        files: The decoded attachments.
    """

    prompt: str
    tier: str | None
    files: tuple[Attachment, ...]


@dataclass(frozen=True)
class ResumeRequest(StartRequest):
    """A valid ``POST /api/resume`` body: a start body plus the run to resume.

    Attributes:
        run_id: The run to resume.
    """

    run_id: str = ""


def sanitize_filename(name: str) -> str:
    """Strip directories and control characters and truncate to 255 characters.

    Example:
        >>> sanitize_filename("../../etc/pa\\x00sswd")
        'passwd'
    """
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if unicodedata.category(ch) not in ("Cc", "Cf"))
    cleaned = cleaned.strip()
    if cleaned in ("", ".", ".."):
        cleaned = "file"
    return cleaned[:MAX_FILENAME]


def _json_object(raw: bytes, *, allow_empty: bool = False) -> dict[str, Any]:
    if allow_empty and not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BodyError("body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BodyError("body must be a JSON object")
    return data


def _attachment(item: Any, index: int) -> Attachment:
    if not isinstance(item, dict):
        raise BodyError(f"files[{index}] must be an object")
    filename, data = item.get("filename"), item.get("data")
    content_type = item.get("contentType", "application/octet-stream")
    if not isinstance(filename, str) or not filename:
        raise BodyError(f"files[{index}].filename must be a non-empty string")
    if not isinstance(data, str):
        raise BodyError(f"files[{index}].data must be a base64 string")
    if not isinstance(content_type, str):
        raise BodyError(f"files[{index}].contentType must be a string")
    try:
        decoded = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise BodyError(f"files[{index}].data is not valid base64") from None
    return Attachment(sanitize_filename(filename), content_type, decoded)


def parse_start_body(raw: bytes) -> StartRequest:
    """Parse ``{"prompt", "tier"?, "files"?}``.

    Raises:
        BodyError: Malformed JSON, no prompt, a non-string tier or a bad file entry.

    Example:
        >>> parse_start_body(b'{"prompt": "hi", "tier": "$1.00"}').tier
        '$1.00'
    """
    data = _json_object(raw)
    prompt, tier, files = data.get("prompt"), data.get("tier"), data.get("files", [])
    if not isinstance(prompt, str) or not prompt.strip():
        raise BodyError("prompt must be a non-empty string")
    if tier is not None and not isinstance(tier, str):
        raise BodyError("tier must be a string")
    if files is None:
        files = []
    if not isinstance(files, list):
        raise BodyError("files must be a list")
    attachments = tuple(_attachment(item, i) for i, item in enumerate(files))
    return StartRequest(prompt=prompt, tier=tier, files=attachments)


def parse_resume_body(raw: bytes, run_field: str = "runId") -> ResumeRequest:
    """Parse ``{"runId", "prompt", "tier"?, "files"?}`` (the shape the client guesses).

    ``run_field`` names the field holding the run id (another name plays a server whose
    resume takes another body).

    Raises:
        BodyError: No runId, or anything `parse_start_body` refuses.

    Example:
        >>> parse_resume_body(b'{"runId": "r1", "prompt": "more"}').run_id
        'r1'
    """
    start = parse_start_body(raw)
    data = _json_object(raw)
    run_id = _run_id({"runId": data.get(run_field)})
    return ResumeRequest(prompt=start.prompt, tier=start.tier, files=start.files, run_id=run_id)


def _run_id(data: dict[str, Any]) -> str:
    run_id = data.get("runId")
    if not isinstance(run_id, str) or not run_id:
        raise BodyError("runId must be a non-empty string")
    return run_id


def parse_read_body(raw: bytes) -> tuple[str, bool]:
    """Parse ``{"runId", "includeFiles"?}`` into ``(run_id, include_files)``.

    Example:
        >>> parse_read_body(b'{"runId": "r1"}')
        ('r1', False)
    """
    data = _json_object(raw)
    include = data.get("includeFiles", False)
    if not isinstance(include, bool):
        raise BodyError("includeFiles must be a boolean")
    return _run_id(data), include


def parse_list_body(raw: bytes, *, clamp: bool = False) -> tuple[int, int]:
    """Parse ``{"limit"?, "offset"?}`` into ``(limit, offset)``.

    A limit over 100 is refused, as the live service does (with ``clamp``, lowered to 100).

    Raises:
        BodyError: A field is not an integer or out of range.

    Example:
        >>> parse_list_body(b'{"limit": 500}', clamp=True)
        (100, 0)
    """
    data = _json_object(raw, allow_empty=True)
    limit, offset = data.get("limit", 10), data.get("offset", 0)
    for name, value in (("limit", limit), ("offset", offset)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise BodyError(f"{name} must be an integer")
    if limit < 1 or offset < 0:
        raise BodyError("limit must be at least 1 and offset at least 0")
    if limit > MAX_LIST_LIMIT and not clamp:
        raise BodyError(f"limit must be at most {MAX_LIST_LIMIT}")
    return min(limit, MAX_LIST_LIMIT), offset


def parse_file_url_body(raw: bytes) -> tuple[str, str]:
    """Parse ``{"runId", "path"}``.

    Example:
        >>> parse_file_url_body(b'{"runId": "r1", "path": "/output.md"}')
        ('r1', '/output.md')
    """
    data = _json_object(raw)
    path = data.get("path")
    if not isinstance(path, str) or not path:
        raise BodyError("path must be a non-empty string")
    return _run_id(data), path
