"""Helpers for the emulator tests, built only on the official x402 SDK, httpx and eth-account."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from x402 import x402Client
from x402.extensions.sign_in_with_x import (
    SIWxPayload,
    create_siwx_message,
    create_siwx_payload,
    encode_siwx_header,
)
from x402.http.utils import encode_payment_signature_header
from x402.mechanisms.evm.exact import ExactEvmScheme
from x402.mechanisms.evm.signers import EthAccountSigner
from x402.schemas import PaymentPayload, PaymentRequired

from prefect_giga.testing import tier_table

SDK_OPT_INS: dict[str, Any] = {"siwx_domain": "host:port", **tier_table("seed")}
"""What these tests opt in to, unlike the live service: ``host:port`` SIWX domains (the x402
SDK's SIWX client, which they sign with, refuses a bare hostname on a port) and the seed
text's tier table (the prices they assert)."""

# Public Hardhat/Anvil test key #0 (as in tests/data/test-vectors.json); never fund it.
HARDHAT_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
WALLET: LocalAccount = Account.from_key(HARDHAT_KEY)


def new_wallet() -> LocalAccount:
    """A fresh throwaway wallet."""
    account: LocalAccount = Account.create()
    return account


def b64json(header: str) -> Any:
    """Decode a base64 JSON header."""
    return json.loads(base64.b64decode(header))


def iso(moment: datetime) -> str:
    """ISO-8601 with milliseconds and Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def sdk_client(account: LocalAccount = WALLET, max_usd: str = "$5") -> x402Client:
    """An x402 SDK client with spend controls raised so the $2 tier can be paid."""
    client = x402Client()
    client.register("eip155:*", ExactEvmScheme(EthAccountSigner(account)))
    client.set_spend_controls({"max_amount_per_payment": max_usd})
    return client


async def quote(http: httpx.AsyncClient, body: Any) -> tuple[httpx.Response, PaymentRequired]:
    """POST /api/start without payment and decode the 402 challenge."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = await http.post(
        "/api/start", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 402, response.text
    return response, PaymentRequired.model_validate(b64json(response.headers["payment-required"]))


async def sign_payment(
    required: PaymentRequired, account: LocalAccount = WALLET, **accepts_changes: Any
) -> PaymentPayload:
    """Sign the challenge's first requirement (optionally altered first) with the SDK."""
    accepted = required.accepts[0]
    if accepts_changes:
        accepted = accepted.model_copy(update=accepts_changes)
    altered = required.model_copy(update={"accepts": [accepted]})
    payload = await sdk_client(account).create_payment_payload(altered)
    assert isinstance(payload, PaymentPayload)
    return payload


def payment_header(payload: PaymentPayload) -> str:
    """Encode a payload for PAYMENT-SIGNATURE."""
    return encode_payment_signature_header(payload)


async def paid_post(http: httpx.AsyncClient, body: Any, header: str) -> httpx.Response:
    """POST /api/start with a PAYMENT-SIGNATURE."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await http.post(
        "/api/start",
        content=content,
        headers={"content-type": "application/json", "payment-signature": header},
    )


async def start_run(
    http: httpx.AsyncClient, body: Any, account: LocalAccount = WALLET
) -> httpx.Response:
    """Quote, sign with the SDK, and pay: one successful (or rejected) start."""
    _, required = await quote(http, body)
    return await paid_post(http, body, payment_header(await sign_payment(required, account)))


async def siwx_challenge(
    http: httpx.AsyncClient, path: str, body: Any
) -> tuple[dict[str, Any], str]:
    """Ask a SIWX route for a challenge; returns (info merged with the chain, response URL)."""
    response = await http.post(path, json=body)
    assert response.status_code == 402, response.text
    extension = response.json()["extensions"]["sign-in-with-x"]
    info = {**extension["info"], **extension["supportedChains"][0]}
    return info, str(response.url)


async def sdk_proof(
    http: httpx.AsyncClient, path: str, body: Any, account: LocalAccount = WALLET
) -> str:
    """A SIGN-IN-WITH-X header built by the x402 SDK's client helpers from a fresh challenge."""
    info, url = await siwx_challenge(http, path, body)
    return encode_siwx_header(await create_siwx_payload(info, account, url))


def signed_proof(info: dict[str, Any], account: LocalAccount = WALLET) -> str:
    """Sign arbitrary SIWX fields (no origin check), formatted by the SDK's SIWE formatter."""
    message = create_siwx_message(info, account.address)
    signature = account.sign_message(encode_defunct(text=message)).signature
    payload = SIWxPayload.model_validate(
        {**info, "address": account.address, "signature": "0x" + bytes(signature).hex()}
    )
    return encode_siwx_header(payload)


def fresh_info(
    base_url: str, path: str, domain: str | None = None, **changes: Any
) -> dict[str, Any]:
    """Client-made SIWX fields for ``base_url + path`` (a client-chosen nonce)."""
    host = httpx.URL(base_url).netloc.decode()
    issued = now_utc()
    info = {
        "domain": domain if domain is not None else host,
        "uri": base_url + path,
        "statement": "Sign in to verify your wallet identity",
        "version": "1",
        "chainId": "eip155:8453",
        "type": "eip191",
        "nonce": secrets.token_hex(16),
        "issuedAt": iso(issued),
        "expirationTime": iso(issued + timedelta(minutes=5)),
    }
    info.update(changes)
    return {k: v for k, v in info.items() if v is not None}


async def read(
    http: httpx.AsyncClient,
    run_id: str,
    account: LocalAccount = WALLET,
    include_files: bool = False,
) -> httpx.Response:
    """Authenticated POST /api/read with a fresh SDK-built proof."""
    body = {"runId": run_id, "includeFiles": include_files}
    proof = await sdk_proof(http, "/api/read", body, account)
    return await http.post("/api/read", json=body, headers={"SIGN-IN-WITH-X": proof})


async def authed(
    http: httpx.AsyncClient, path: str, body: Any, account: LocalAccount = WALLET
) -> httpx.Response:
    """Authenticated POST to any SIWX route."""
    proof = await sdk_proof(http, path, body, account)
    return await http.post(path, json=body, headers={"SIGN-IN-WITH-X": proof})
