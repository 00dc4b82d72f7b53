"""What a reply to a paid start means: started, refused, not settled, or unknown."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from enum import Enum
from typing import Any

import httpx

from ..core.exceptions import GigaProtocolError
from ..core.http import excerpt
from .signing import decode_b64_json

__all__ = [
    "PAYMENT_REQUIRED",
    "PAYMENT_RESPONSE",
    "PAYMENT_SIGNATURE",
    "Reply",
    "ReplyKind",
    "classify",
    "is_funds",
    "rejection_data",
]

PAYMENT_REQUIRED = "PAYMENT-REQUIRED"
PAYMENT_SIGNATURE = "PAYMENT-SIGNATURE"
PAYMENT_RESPONSE = "PAYMENT-RESPONSE"
_NONCE_USED = "nonce_already_used"


class ReplyKind(Enum):
    """What a reply to a paid request says about its payment."""

    STARTED = "started"
    NONCE_USED = "nonce_used"
    REJECTED = "rejected"
    BAD_REQUEST = "bad_request"
    NOT_SETTLED = "not_settled"
    REDIRECTED = "redirected"
    UNKNOWN = "unknown"
    NOT_SENT = "not_sent"


@dataclass(frozen=True)
class Reply:
    """A classified reply: its kind, the response (if one came) and why."""

    kind: ReplyKind
    response: httpx.Response | None = None
    why: str = ""


def is_funds(reply: Reply) -> bool:
    """Whether a refusal says the wallet holds too little USDC."""
    if reply.response is None:
        return False
    data = rejection_data(reply.response)
    return "insufficient" in str(data.get("reason") or data.get("error") or "").lower()


def rejection_data(response: httpx.Response) -> dict[str, Any]:
    """The refusal's details, from the PAYMENT-REQUIRED header and the JSON body."""
    data: dict[str, Any] = {}
    header = response.headers.get(PAYMENT_REQUIRED)
    if header:
        with contextlib.suppress(GigaProtocolError):
            data.update(decode_b64_json(header, PAYMENT_REQUIRED))
    with contextlib.suppress(ValueError):
        body = response.json()
        if isinstance(body, dict):
            data.update(body)
    return data


def classify(response: httpx.Response) -> Reply:
    """Classify the reply to a paid request.

    Example:
        >>> classify(httpx.Response(200, json={"runId": "r1"})).kind
        <ReplyKind.STARTED: 'started'>
    """
    status = response.status_code
    if 200 <= status < 300:
        return Reply(ReplyKind.STARTED, response)
    if status == 402:
        data = rejection_data(response)
        reason = str(data.get("reason") or data.get("error") or "")
        kind = ReplyKind.NONCE_USED if _NONCE_USED in reason else ReplyKind.REJECTED
        return Reply(kind, response)
    if status == 500:
        with contextlib.suppress(ValueError):
            body = response.json()
            if (
                isinstance(body, dict)
                and body.get("success") is False
                and ("settle" in str(body.get("error", "")).lower())
            ):
                return Reply(ReplyKind.NOT_SETTLED, response)
    if 300 <= status < 400:
        return Reply(ReplyKind.REDIRECTED, response, f"HTTP {status}")
    if status >= 500 or status == 429:
        return Reply(ReplyKind.UNKNOWN, response, f"HTTP {status}: {excerpt(response)}")
    return Reply(ReplyKind.BAD_REQUEST, response)
