"""Idempotency-key namespaces: a resume's key can never be taken for a start's, or the reverse.

Both kinds of paid call live in one journal and derive their EIP-3009 nonce from their key.
A resume's key is stored (and its nonce derived) under the reserved prefix `RESUME_PREFIX`,
which a start's key may not begin with, so the two can never name the same payment.
"""

from __future__ import annotations

from ..core.exceptions import GigaConfigError

__all__ = ["RESUME_PREFIX", "check_start_key", "resume_key"]

RESUME_PREFIX = "giga-resume:"
"""The journal prefix of a resume's idempotency key (reserved: no start key begins with it)."""


def check_start_key(key: str) -> str:
    """``key`` if it may name a start.

    Raises:
        GigaConfigError: The key is empty or begins with the reserved `RESUME_PREFIX`.

    Example:
        >>> check_start_key("nightly-report-2026-03-02")
        'nightly-report-2026-03-02'
    """
    if not key:
        raise GigaConfigError("An idempotency key must be a non-empty string")
    if key.startswith(RESUME_PREFIX):
        raise GigaConfigError(
            f"Idempotency keys beginning with {RESUME_PREFIX!r} are reserved for resumes"
        )
    return key


def resume_key(key: str) -> str:
    """The journal key of a resume whose idempotency key is ``key``.

    Example:
        >>> resume_key("fix-1")
        'giga-resume:fix-1'
    """
    if not key:
        raise GigaConfigError("An idempotency key must be a non-empty string")
    return RESUME_PREFIX + key
