"""The fingerprint of a start request, so one idempotency key can only ever name one request."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence

__all__ = ["request_fingerprint"]


def request_fingerprint(
    prompt: str, tier: str | None, files: Sequence[Mapping[str, str]] = ()
) -> str:
    """A SHA-256 over what the caller asked for: the prompt, the tier as named (``"default"``
    when none was), and a hash of each attachment (name, type and content, in order).

    Like a payment API's idempotency key, a key reused with another fingerprint is refused
    instead of silently returning the first request's run.

    Args:
        prompt: The prompt.
        tier: The tier the caller named, or ``None`` for the client's default.
        files: The encoded attachments (``{"filename", "contentType", "data"}``).

    Example:
        >>> a = request_fingerprint("Summarise", None)
        >>> a == request_fingerprint("Summarise", None), a == request_fingerprint("Summarise", "$1")
        (True, False)
    """
    attachments = [
        hashlib.sha256(
            "\0".join((f.get("filename", ""), f.get("contentType", ""), f.get("data", ""))).encode(
                "utf-8"
            )
        ).hexdigest()
        for f in files
    ]
    material = {"v": 1, "prompt": prompt, "tier": tier or "default", "files": attachments}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode("utf-8")).hexdigest()
