"""The `GigaError` hierarchy: every failure prefect-giga raises, each saying what to do next.

Messages never contain a private key, a signature, a SIWX proof or a presigned URL token.
"""

from __future__ import annotations

from decimal import Decimal

__all__ = [
    "AttachmentError",
    "AuthenticationError",
    "BudgetExceededError",
    "FileTooLargeError",
    "GigaConfigError",
    "GigaError",
    "GigaProtocolError",
    "GigaServerError",
    "GigaTimeoutError",
    "GigaTransportError",
    "IdempotencyKeyConflictError",
    "InsufficientFundsError",
    "LinkExpiredError",
    "OutcomeUnknownError",
    "PaymentError",
    "PaymentRejectedError",
    "QuoteRefusedError",
    "RateLimitedError",
    "RequestNotSentError",
    "RunFailedError",
    "RunFileNotFoundError",
    "RunNotFoundError",
    "SettlementFailedError",
    "SiwxChallengeError",
    "TierNotOfferedError",
    "UnsafeLinkError",
    "UnsafePathError",
]


class GigaError(Exception):
    """Base class of every error prefect-giga raises.

    Example:
        >>> try:
        ...     raise RunNotFoundError("run abc not found")
        ... except GigaError as exc:
        ...     print(type(exc).__name__)
        RunNotFoundError
    """


# --- configuration -------------------------------------------------------------------------


class GigaConfigError(GigaError, ValueError):
    """A setting is wrong: a malformed private key, an unknown tier or network, a bad limit."""


# --- transport and server ------------------------------------------------------------------


class GigaTransportError(GigaError):
    """The request did not get an answer: connection refused, reset or timed out."""


class RequestNotSentError(GigaTransportError):
    """The request failed before any byte of it was written (connecting, or waiting for a
    connection): the server never saw it, so sending it again is safe."""


class GigaServerError(GigaError):
    """The server answered with an unexpected status (5xx, or a 4xx not covered elsewhere).

    Attributes:
        status_code: The HTTP status.
        body_excerpt: The start of the response body, for diagnosis.
    """

    def __init__(self, message: str, *, status_code: int, body_excerpt: str = "") -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body_excerpt = body_excerpt


class RateLimitedError(GigaServerError):
    """The server answered 429 more often than the retry policy allows.

    Attributes:
        retry_after: Seconds the server asked to wait, when it said.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int = 429,
        body_excerpt: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, body_excerpt=body_excerpt)
        self.retry_after = retry_after


class GigaProtocolError(GigaError):
    """The server's reply did not follow the API: malformed JSON, a missing field, a bad header."""


class GigaTimeoutError(GigaError, TimeoutError):
    """Waiting for a run took longer than the timeout the caller set."""


# --- authentication ------------------------------------------------------------------------


class AuthenticationError(GigaError):
    """The server refused the wallet's Sign-In-With-X proof.

    Attributes:
        code: The server's error code, for example ``"siwx_expired"``.
    """

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class SiwxChallengeError(AuthenticationError):
    """The SIWX challenge was malformed or asked to sign for another host; nothing was signed."""


# --- payments ------------------------------------------------------------------------------


class PaymentError(GigaError):
    """Base class of payment failures."""


class QuoteRefusedError(PaymentError):
    """The 402 quote broke a limit the user set; nothing was signed or paid.

    Attributes:
        quote: The quoted price in USD, when there was one.
        limit: The limit it broke, in USD, when the limit is a price.
        reason: A short machine-readable reason (``"price_mismatch"``, ``"payee_not_allowed"``).
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        quote: Decimal | None = None,
        limit: Decimal | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.quote = quote
        self.limit = limit


class TierNotOfferedError(QuoteRefusedError):
    """The server does not offer the tier asked for; refused before anything was signed.

    Attributes:
        tier: The tier that was asked for.
        offered: The tiers the server publishes, in its order.

    Example:
        >>> error = TierNotOfferedError("not offered", tier="$0.50", offered=("$1.00",))
        >>> error.offered
        ('$1.00',)
    """

    def __init__(self, message: str, *, tier: str, offered: tuple[str, ...]) -> None:
        super().__init__(message, reason="tier_not_offered")
        self.tier = tier
        self.offered = offered


class BudgetExceededError(QuoteRefusedError):
    """Paying would go over a spend budget (per batch or per day); nothing was signed."""


class PaymentRejectedError(PaymentError):
    """The server rejected the signed payment (bad signature, nonce used, wrong amount...).

    Attributes:
        reason: The server's reason code.
    """

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class InsufficientFundsError(PaymentRejectedError):
    """The wallet holds too little USDC; the message names the address and network to fund."""


class SettlementFailedError(PaymentError):
    """The server ran the request but could not settle the payment; this attempt was not charged."""


class IdempotencyKeyConflictError(PaymentError):
    """An idempotency key was reused for another request or on another server; nothing was
    signed or sent.

    Attributes:
        idempotency_key: The key.
        origin: The server the key is recorded at.
        run_id: The run the key started there, when there is one.
    """

    def __init__(
        self, message: str, *, idempotency_key: str, origin: str, run_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.idempotency_key = idempotency_key
        self.origin = origin
        self.run_id = run_id


class OutcomeUnknownError(PaymentError):
    """A paid request lost its reply and reconciliation could not tell which run it started.

    Attributes:
        idempotency_key: The logical start's key.
        payment_nonce: The EIP-3009 nonce (public on chain), to look the transfer up.
        payer: The paying address.
        network: The CAIP-2 network.
        candidate_run_ids: Runs that may belong to this start.
    """

    def __init__(
        self,
        message: str,
        *,
        idempotency_key: str,
        payment_nonce: str,
        payer: str,
        network: str,
        candidate_run_ids: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.idempotency_key = idempotency_key
        self.payment_nonce = payment_nonce
        self.payer = payer
        self.network = network
        self.candidate_run_ids = candidate_run_ids


# --- runs and files ------------------------------------------------------------------------


class RunNotFoundError(GigaError):
    """No run with that id belongs to this wallet (runs belong to the wallet that paid)."""


class RunFailedError(GigaError):
    """The run ended ``failed``.

    Attributes:
        run_id: The run.
        error_code: The server's error code, when it gave one.
    """

    def __init__(self, message: str, *, run_id: str, error_code: str | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.error_code = error_code


class RunFileNotFoundError(GigaError):
    """The run has no file at that path (or it is gone)."""


class LinkExpiredError(GigaError):
    """A presigned download link expired or was refused; ask for a new one."""


class UnsafeLinkError(GigaProtocolError):
    """A download link (or a redirect) points where this client never fetches; nothing fetched.

    Links must be ``https`` unless they share the API's origin, and may not reach private,
    link-local or loopback addresses (loopback only when the API itself is on loopback),
    checked on the address a name resolves to when connecting.
    """


class UnsafePathError(GigaError):
    """A file path would land outside the download folder; nothing was written."""


class FileTooLargeError(GigaError):
    """A file is larger than the configured cap; nothing (more) was written."""


class AttachmentError(GigaError, ValueError):
    """An attachment is missing or unreadable, or the request would be too large; nothing paid."""
