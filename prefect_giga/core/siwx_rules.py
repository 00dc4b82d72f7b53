"""What a server's SIWX challenge may contain before this client signs it (EIP-4361 grammar).

Every field of a challenge ends up in the text the wallet signs. A value with a line break
could add lines to that text (a second ``URI:`` or ``Resources:``), so each field is checked
against the grammar of EIP-4361 first, along with the times, the chain and the host it names.
A challenge that breaks a rule raises `SiwxChallengeError` and nothing is signed.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

from .exceptions import SiwxChallengeError
from .siwx import SiwxInfo, check_challenge_origin

__all__ = [
    "MAX_CHALLENGE_LIFETIME",
    "MAX_CLOCK_SKEW",
    "check_challenge",
]

MAX_CLOCK_SKEW = timedelta(minutes=5)
"""How far a challenge's ``issuedAt`` may be from this machine's clock, either way."""

MAX_CHALLENGE_LIFETIME = timedelta(minutes=30)
"""The longest a signed proof may stay valid (``expirationTime - issuedAt``)."""

_MAX_RESOURCES = 20
_NONCE = re.compile(r"[A-Za-z0-9]{8,128}")
# EIP-4361: statement = *( reserved / unreserved / " " ); no line break can hide in it.
_STATEMENT = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;= ]{1,500}")
# EIP-4361: request-id = *pchar (RFC 3986).
_REQUEST_ID = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@%]{0,200}")
# RFC 3339 date-time, as EIP-4361 requires for every time field.
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")
# An absolute URI without whitespace or control characters (RFC 3986 characters only).
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_AUTHORITY = re.compile(r"[A-Za-z0-9\-._~%!$&'()*+,;=:\[\]]{1,255}")


def _refuse(field: str, why: str) -> SiwxChallengeError:
    return SiwxChallengeError(
        f"Refusing to sign in: the SIWX challenge's {field} {why}; nothing was signed"
    )


def _time(value: str | None, field: str) -> datetime:
    if not isinstance(value, str) or _DATE_TIME.fullmatch(value) is None:
        raise _refuse(field, "is not an RFC 3339 date-time")
    try:
        moment = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        raise _refuse(field, "is not a valid date-time") from None
    return moment


def _check_text_fields(info: SiwxInfo) -> None:
    if not isinstance(info.domain, str) or _AUTHORITY.fullmatch(info.domain) is None:
        raise _refuse("domain", "is not a host name or host:port")
    if not isinstance(info.uri, str) or _URI.fullmatch(info.uri) is None:
        raise _refuse("uri", "is not an absolute URI on one line")
    if info.version != "1":
        raise _refuse("version", "is not 1")
    if not isinstance(info.nonce, str) or _NONCE.fullmatch(info.nonce) is None:
        raise _refuse("nonce", "is not 8 to 128 letters and digits")
    if info.statement is not None and (
        not isinstance(info.statement, str) or _STATEMENT.fullmatch(info.statement) is None
    ):
        raise _refuse("statement", "holds characters EIP-4361 does not allow (a line break?)")
    if info.request_id is not None and (
        not isinstance(info.request_id, str) or _REQUEST_ID.fullmatch(info.request_id) is None
    ):
        raise _refuse("requestId", "holds characters EIP-4361 does not allow")
    if info.type != "eip191":
        raise _refuse("type", f"is {str(info.type)[:20]!r}; this client signs eip191 only")


def _check_times(info: SiwxInfo, now: datetime) -> None:
    issued = _time(info.issued_at, "issuedAt")
    if abs(issued - now) > MAX_CLOCK_SKEW:
        raise _refuse("issuedAt", f"is more than {MAX_CLOCK_SKEW} away from this machine's clock")
    if info.expiration_time is None:
        raise _refuse("expirationTime", "is missing: a proof without an expiry never expires")
    expires = _time(info.expiration_time, "expirationTime")
    if expires <= now or expires <= issued:
        raise _refuse("expirationTime", "has passed or comes before issuedAt")
    if expires - issued > MAX_CHALLENGE_LIFETIME:
        raise _refuse("expirationTime", f"is more than {MAX_CHALLENGE_LIFETIME} after issuedAt")
    if info.not_before is not None and _time(info.not_before, "notBefore") > expires:
        raise _refuse("notBefore", "comes after expirationTime")


def _check_resources(info: SiwxInfo, url: str) -> None:
    if len(info.resources) > _MAX_RESOURCES:
        raise _refuse("resources", f"lists more than {_MAX_RESOURCES} entries")
    called = urlsplit(url)
    for resource in info.resources:
        if not isinstance(resource, str) or _URI.fullmatch(resource) is None:
            raise _refuse("resources", "hold an entry that is not an absolute URI on one line")
        parts = urlsplit(resource)
        if (parts.scheme.lower(), parts.netloc.lower()) != (
            called.scheme.lower(),
            called.netloc.lower(),
        ):
            raise _refuse("resources", "name a URI on another host than the one called")


def check_challenge(
    info: SiwxInfo,
    url: str,
    *,
    chain_id: str,
    now: datetime | None = None,
) -> None:
    """Refuse a challenge that is not one this client will sign for ``url``.

    Checks, before anything is signed: every text field against the EIP-4361 grammar
    (single-line values; a nonce of 8 to 128 letters and digits; a statement and request id
    without line breaks); ``issuedAt`` within `MAX_CLOCK_SKEW` of now; an expiry that has
    not passed and lies at most `MAX_CHALLENGE_LIFETIME` after ``issuedAt``; resources on
    the host called; the chain the wallet signs for; and the domain and URI of the host
    called (`check_challenge_origin`).

    Args:
        info: The parsed challenge.
        url: The URL being called.
        chain_id: The chain the wallet signs for (CAIP-2).
        now: The time to judge ``issuedAt`` and the expiry by (defaults to now).

    Raises:
        SiwxChallengeError: A field breaks a rule; the message names the field only.

    Example:
        >>> from prefect_giga.core.siwx import client_made_info
        >>> info = client_made_info("https://giga.example/api/read", "eip155:8453")
        >>> check_challenge(info, "https://giga.example/api/read", chain_id="eip155:8453")
    """
    _check_text_fields(info)
    if info.chain_id != chain_id:
        raise _refuse("chainId", f"is not {chain_id}, the chain this wallet signs for")
    _ = info.numeric_chain_id  # refuses anything but eip155:<digits>
    _check_times(info, now or datetime.now(timezone.utc))
    _check_resources(info, url)
    check_challenge_origin(info, url)
