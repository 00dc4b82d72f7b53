"""Sign-In-With-X for Giga's free reads: EIP-4361 messages signed with EIP-191.

The message is formatted here (it is a fixed text layout, checked against independent test
vectors) rather than through the ``siwe`` package, which is slow and which the retired
``siwe`` 4.4.0 release breaks.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import SplitResult, urlsplit

from .exceptions import SiwxChallengeError
from .wallet import Wallet

__all__ = [
    "SIWX_EXTENSION",
    "SIWX_HEADER",
    "SiwxInfo",
    "check_challenge_origin",
    "client_made_info",
    "encode_proof",
    "format_siwe_message",
    "parse_challenge",
    "sign_in",
]

SIWX_HEADER = "SIGN-IN-WITH-X"
SIWX_EXTENSION = "sign-in-with-x"
DEFAULT_STATEMENT = "Sign in to verify your wallet identity"


@dataclass(frozen=True)
class SiwxInfo:
    """The fields of one SIWX proof, before the address and signature are added.

    Example:
        >>> info = SiwxInfo(domain="giga.example", uri="https://giga.example/api/read",
        ...     chain_id="eip155:8453", nonce="0123456789abcdef0123456789abcdef",
        ...     issued_at="2026-03-02T12:00:00.000Z")
        >>> info.numeric_chain_id
        8453
    """

    domain: str
    uri: str
    chain_id: str
    nonce: str
    issued_at: str
    version: str = "1"
    statement: str | None = None
    expiration_time: str | None = None
    not_before: str | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = field(default_factory=tuple)
    type: str = "eip191"

    @property
    def numeric_chain_id(self) -> int:
        """The EVM chain id from the CAIP-2 ``eip155:<id>``."""
        namespace, _, reference = self.chain_id.partition(":")
        if namespace != "eip155" or not reference.isdigit():
            raise SiwxChallengeError(f"Unsupported SIWX chain {self.chain_id!r}: need eip155:<id>")
        return int(reference)


def format_siwe_message(info: SiwxInfo, address: str) -> str:
    """Format the EIP-4361 (Sign-In with Ethereum) message for ``address``.

    Example:
        >>> info = SiwxInfo(domain="giga.example", uri="https://giga.example/api/read",
        ...     chain_id="eip155:8453", nonce="00112233445566778899aabbccddeeff",
        ...     issued_at="2026-03-02T12:00:00.000Z")
        >>> print(format_siwe_message(info, "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"))
        giga.example wants you to sign in with your Ethereum account:
        0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266
        <BLANKLINE>
        <BLANKLINE>
        URI: https://giga.example/api/read
        Version: 1
        Chain ID: 8453
        Nonce: 00112233445566778899aabbccddeeff
        Issued At: 2026-03-02T12:00:00.000Z
    """
    header = f"{info.domain} wants you to sign in with your Ethereum account:\n{address}\n\n"
    statement = f"{info.statement}\n" if info.statement else ""
    lines = [
        f"URI: {info.uri}",
        f"Version: {info.version}",
        f"Chain ID: {info.numeric_chain_id}",
        f"Nonce: {info.nonce}",
        f"Issued At: {info.issued_at}",
    ]
    if info.expiration_time:
        lines.append(f"Expiration Time: {info.expiration_time}")
    if info.not_before:
        lines.append(f"Not Before: {info.not_before}")
    if info.request_id is not None:
        lines.append(f"Request ID: {info.request_id}")
    if info.resources:
        lines.append("Resources:")
        lines.extend(f"- {resource}" for resource in info.resources)
    return header + statement + "\n" + "\n".join(lines)


def encode_proof(info: SiwxInfo, address: str, signature: str) -> str:
    """Encode the ``SIGN-IN-WITH-X`` header value: base64 of the proof's JSON."""
    proof: dict[str, Any] = {"domain": info.domain, "uri": info.uri}
    if info.statement:
        proof["statement"] = info.statement
    proof.update(
        version=info.version,
        chainId=info.chain_id,
        type=info.type,
        nonce=info.nonce,
        issuedAt=info.issued_at,
    )
    optional = {
        "expirationTime": info.expiration_time,
        "notBefore": info.not_before,
        "requestId": info.request_id,
        "resources": list(info.resources) or None,
    }
    proof.update({key: value for key, value in optional.items() if value is not None})
    proof.update(address=address, signature=signature)
    text = json.dumps(proof, separators=(",", ":"))
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def sign_in(wallet: Wallet, info: SiwxInfo) -> str:
    """Sign ``info`` with ``wallet`` and return the ``SIGN-IN-WITH-X`` header value.

    Example:
        >>> w = Wallet.from_private_key("0x" + "11" * 32)
        >>> header = sign_in(w, client_made_info("https://giga.example/api/read", "eip155:8453"))
        >>> isinstance(header, str)
        True
    """
    message = format_siwe_message(info, wallet.address)
    return encode_proof(info, wallet.address, wallet.sign_text(message))


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def client_made_info(
    url: str,
    chain_id: str,
    *,
    bare_hostname: bool = False,
    now: datetime | None = None,
    lifetime: timedelta = timedelta(minutes=5),
) -> SiwxInfo:
    """Fields for a proof made without asking the server for a challenge (saves a round trip).

    Servers built on the agentcash router accept client-made nonces; when one refuses, the
    caller falls back to the server's challenge.

    Args:
        url: The URL being called.
        chain_id: The CAIP-2 chain, for example ``"eip155:8453"``.
        bare_hostname: Use the bare hostname as the domain (as the router issues it) instead
            of ``host:port``.
        now: The time to stamp (defaults to now).
        lifetime: How long the proof stays valid.
    """
    parts = urlsplit(url)
    issued = now or datetime.now(timezone.utc)
    domain = (parts.hostname or "") if bare_hostname else parts.netloc
    return SiwxInfo(
        domain=domain,
        uri=url,
        chain_id=chain_id,
        nonce=secrets.token_hex(16),
        issued_at=_iso(issued),
        expiration_time=_iso(issued + lifetime),
        statement=DEFAULT_STATEMENT,
    )


def check_challenge_origin(info: SiwxInfo, url: str) -> None:
    """Refuse a challenge that asks to sign for another host than the one being called.

    The domain may be the bare hostname (as the agentcash router issues it) or ``host:port``
    (as the x402 SDKs expect); the URI must share the request's origin.

    Raises:
        SiwxChallengeError: The challenge names another host or origin.

    Example:
        >>> info = SiwxInfo(domain="evil.example", uri="https://evil.example/api/read",
        ...     chain_id="eip155:8453", nonce="n", issued_at="2026-01-01T00:00:00.000Z")
        >>> check_challenge_origin(info, "https://giga.example/api/read")
        Traceback (most recent call last):
        ...
        prefect_giga.core.exceptions.SiwxChallengeError: ...
    """
    request = urlsplit(url)
    host = (request.hostname or "").lower()
    if info.domain.lower() not in {host, f"{host}:{_port(request)}", request.netloc.lower()}:
        raise SiwxChallengeError(
            f"Refusing to sign in: the SIWX challenge is for domain {info.domain!r}, but the "
            f"request goes to {request.netloc!r}"
        )
    if _origin(urlsplit(info.uri)) != _origin(request):
        raise SiwxChallengeError(
            f"Refusing to sign in: the SIWX challenge's URI {info.uri!r} is not on the "
            f"request's origin {request.scheme}://{request.netloc}"
        )


def _port(parts: SplitResult) -> int:
    try:
        port = parts.port
    except ValueError:
        port = None
    return port if port is not None else (443 if parts.scheme == "https" else 80)


def _origin(parts: SplitResult) -> tuple[str, str, int]:
    return (parts.scheme.lower(), (parts.hostname or "").lower(), _port(parts))


def parse_challenge(payment_required: Mapping[str, Any], chain_id: str) -> SiwxInfo:
    """Read the SIWX challenge out of a 402 body (or decoded ``PAYMENT-REQUIRED`` header).

    Args:
        payment_required: The decoded 402 JSON.
        chain_id: The chain the wallet signs for; the challenge must list it.

    Raises:
        SiwxChallengeError: The 402 carries no usable SIWX challenge.
    """
    extensions = payment_required.get("extensions")
    extension = extensions.get(SIWX_EXTENSION) if isinstance(extensions, Mapping) else None
    info = extension.get("info") if isinstance(extension, Mapping) else None
    if not isinstance(info, Mapping):
        raise SiwxChallengeError("The 402 reply has no sign-in-with-x challenge")
    chains = extension.get("supportedChains") or [] if isinstance(extension, Mapping) else []
    supported = {c.get("chainId"): c.get("type") for c in chains if isinstance(c, Mapping)}
    if supported and chain_id not in supported:
        raise SiwxChallengeError(
            f"The SIWX challenge does not support {chain_id}; "
            f"it offers {sorted(map(str, supported))}"
        )
    named_chain = info.get("chainId")
    if named_chain is not None and named_chain != chain_id:
        raise SiwxChallengeError(
            f"The SIWX challenge names chain {str(named_chain)[:40]!r}, not {chain_id}"
        )
    try:
        resources = info.get("resources") or ()
        if isinstance(resources, (str, bytes)) or not isinstance(resources, (list, tuple)):
            raise SiwxChallengeError("The SIWX challenge's resources are not a list")
        return SiwxInfo(
            domain=str(info["domain"]),
            uri=str(info["uri"]),
            chain_id=chain_id,
            nonce=str(info["nonce"]),
            issued_at=str(info["issuedAt"]),
            version=str(info.get("version", "1")),
            statement=info.get("statement"),
            expiration_time=info.get("expirationTime"),
            not_before=info.get("notBefore"),
            request_id=info.get("requestId"),
            resources=tuple(str(r) for r in resources),
            type=str(supported.get(chain_id) or "eip191"),
        )
    except (KeyError, TypeError) as exc:
        raise SiwxChallengeError(f"The SIWX challenge is missing a field: {exc}") from None
