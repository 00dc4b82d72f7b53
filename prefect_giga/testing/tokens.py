"""Presigned file tokens: HMAC-SHA256 over run id, path and expiry, url-safe base64."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from prefect_giga.testing.clock import Clock

__all__ = ["FileToken", "TokenError", "TokenSigner"]


class TokenError(Exception):
    """A presigned token was refused.

    Attributes:
        status: The HTTP status to answer (403 forged or malformed, 410 expired).
        code: The JSON ``error`` code.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class FileToken:
    """What a valid token grants: one file of one run, until ``expires_at``."""

    run_id: str
    path: str
    expires_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Issues and checks presigned file tokens against the emulator clock.

    Args:
        clock: Expiry is measured on this clock.
        secret: The HMAC key; random when omitted.
        ttl_seconds: Token lifetime (1 hour, as Giga documents).

    Example:
        >>> signer = TokenSigner(Clock(manual=True))
        >>> token, _ = signer.issue("run1", "output.md")
        >>> signer.verify(token).path
        'output.md'
    """

    def __init__(
        self, clock: Clock, *, secret: bytes | None = None, ttl_seconds: float = 3600.0
    ) -> None:
        self._clock = clock
        self._secret = secret or secrets.token_bytes(32)
        self.ttl_seconds = ttl_seconds

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._secret, body, hashlib.sha256).digest()

    def issue(self, run_id: str, path: str, *, expired: bool = False) -> tuple[str, datetime]:
        """Issue a token for ``path`` of ``run_id``; ``expired=True`` issues one already dead."""
        ttl = -1.0 if expired else self.ttl_seconds
        expires_at = self._clock.now() + timedelta(seconds=ttl)
        expiry_ms = int(expires_at.timestamp() * 1000)
        body = json.dumps({"r": run_id, "p": path, "e": expiry_ms}, separators=(",", ":"))
        raw = body.encode("utf-8")
        return f"{_b64(raw)}.{_b64(self._mac(raw))}", expires_at

    def verify(self, token: str) -> FileToken:
        """Check a token's MAC and expiry.

        Raises:
            TokenError: 403 for a malformed, forged or tampered token; 410 once expired.
        """
        try:
            body_part, mac_part = token.split(".")
            raw, mac = _unb64(body_part), _unb64(mac_part)
        except ValueError:
            raise TokenError(403, "invalid_token", "The download token is malformed") from None
        if not hmac.compare_digest(mac, self._mac(raw)):
            raise TokenError(403, "invalid_token", "The download token is not valid")
        try:
            data = json.loads(raw)
            run_id, path, expiry_ms = str(data["r"]), str(data["p"]), int(data["e"])
        except (ValueError, KeyError, TypeError):
            raise TokenError(403, "invalid_token", "The download token is malformed") from None
        expires_at = datetime.fromtimestamp(expiry_ms / 1000, tz=timezone.utc)
        if self._clock.now() >= expires_at:
            raise TokenError(410, "token_expired", "The download link has expired")
        return FileToken(run_id=run_id, path=path, expires_at=expires_at)
