"""SIWX proofs: the EIP-4361 text, signatures and headers against the independent vectors and
the x402 SDK's own server-side parsing and verification; challenge parsing and origin checks."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from x402.extensions.sign_in_with_x import (
    format_siwe_message as sdk_format_siwe_message,
)
from x402.extensions.sign_in_with_x import (
    parse_siwx_header,
    validate_siwx_message,
    verify_siwx_signature,
)

from prefect_giga import siwx
from prefect_giga.core.exceptions import SiwxChallengeError
from prefect_giga.core.siwx import SiwxInfo
from prefect_giga.core.wallet import Wallet

from ..vectors import load_vectors
from ._giga_fakes import ADDRESS, BASE_NETWORK, KEY, siwx_info, siwx_required

SIWX_VECTORS = load_vectors()["siwx"]
VECTOR_IDS = [v["info"]["uri"] for v in SIWX_VECTORS]


def info_of(vector: dict[str, Any]) -> SiwxInfo:
    raw = vector["info"]
    return SiwxInfo(
        domain=raw["domain"],
        uri=raw["uri"],
        chain_id=raw["chainId"],
        nonce=raw["nonce"],
        issued_at=raw["issuedAt"],
        version=raw["version"],
        statement=raw.get("statement"),
        expiration_time=raw.get("expirationTime"),
        type=raw["type"],
    )


@pytest.fixture(scope="module")
def wallet() -> Wallet:
    return Wallet.from_private_key(KEY)


# --- the oracle --------------------------------------------------------------------------


@pytest.mark.parametrize("vector", SIWX_VECTORS, ids=VECTOR_IDS)
def test_siwe_message_matches_vector(vector: dict[str, Any]) -> None:
    assert siwx.format_siwe_message(info_of(vector), vector["address"]) == vector["message"]


@pytest.mark.parametrize("vector", SIWX_VECTORS, ids=VECTOR_IDS)
def test_sign_text_matches_vector_signature(wallet: Wallet, vector: dict[str, Any]) -> None:
    assert wallet.address == vector["address"]
    assert wallet.sign_text(vector["message"]) == vector["signature"]


@pytest.mark.parametrize("vector", SIWX_VECTORS, ids=VECTOR_IDS)
def test_sign_in_header_matches_vector_byte_for_byte(
    wallet: Wallet, vector: dict[str, Any]
) -> None:
    assert siwx.sign_in(wallet, info_of(vector)) == vector["header"]


@pytest.mark.parametrize("vector", SIWX_VECTORS, ids=VECTOR_IDS)
def test_sdk_parses_our_vector_header_and_recovers_our_address(
    wallet: Wallet, vector: dict[str, Any]
) -> None:
    payload = parse_siwx_header(siwx.sign_in(wallet, info_of(vector)))

    assert payload.address == ADDRESS
    assert payload.chain_id == BASE_NETWORK
    assert payload.nonce == vector["info"]["nonce"]
    message = sdk_format_siwe_message(payload, payload.address)
    assert message == vector["message"]
    signer = Account.recover_message(encode_defunct(text=message), signature=payload.signature)
    assert signer == ADDRESS


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://giga.example/api/read", "https://giga.example"),
        ("http://127.0.0.1:8787/api/list", "http://127.0.0.1:8787"),
    ],
)
async def test_client_made_proof_passes_sdk_server_validation_and_verification(
    wallet: Wallet, url: str, origin: str
) -> None:
    header = siwx.sign_in(wallet, siwx.client_made_info(url, BASE_NETWORK))
    payload = parse_siwx_header(header)

    validation = await validate_siwx_message(payload, origin)
    verification = await verify_siwx_signature(payload)

    assert validation.is_valid, validation.invalid_message
    assert verification.is_valid, verification.invalid_message
    assert verification.payer == ADDRESS


async def test_sdk_rejects_a_proof_whose_signature_was_tampered(wallet: Wallet) -> None:
    info = siwx.client_made_info("https://giga.example/api/read", BASE_NETWORK)
    forged = Wallet.from_private_key("0x" + "22" * 32).sign_text(
        siwx.format_siwe_message(info, wallet.address)
    )
    payload = parse_siwx_header(siwx.encode_proof(info, wallet.address, forged))

    verification = await verify_siwx_signature(payload)

    assert not verification.is_valid


def test_message_with_all_optional_fields_matches_sdk_formatter() -> None:
    info = SiwxInfo(
        domain="127.0.0.1:8787",
        uri="http://127.0.0.1:8787/api/read",
        chain_id=BASE_NETWORK,
        nonce="0123456789abcdef0123456789abcdef",
        issued_at="2026-03-02T12:00:00.000Z",
        statement="Sign in",
        expiration_time="2026-03-02T12:05:00.000Z",
        not_before="2026-03-02T11:59:00.000Z",
        request_id="req-42",
        resources=("https://giga.example/api/read", "ipfs://bafybeigdyrzt"),
    )
    expected = sdk_format_siwe_message(
        {
            "domain": info.domain,
            "uri": info.uri,
            "chainId": info.chain_id,
            "nonce": info.nonce,
            "issuedAt": info.issued_at,
            "version": "1",
            "statement": info.statement,
            "expirationTime": info.expiration_time,
            "notBefore": info.not_before,
            "requestId": info.request_id,
            "resources": list(info.resources),
        },
        ADDRESS,
    )

    assert siwx.format_siwe_message(info, ADDRESS) == expected


def test_proof_carries_optional_fields_only_when_set(wallet: Wallet) -> None:
    bare = SiwxInfo(
        domain="giga.example",
        uri="https://giga.example/api/read",
        chain_id=BASE_NETWORK,
        nonce="00112233445566778899aabbccddeeff",
        issued_at="2026-03-02T12:00:00.000Z",
    )
    payload = parse_siwx_header(siwx.sign_in(wallet, bare))

    assert payload.statement is None
    assert payload.expiration_time is None
    assert payload.not_before is None
    assert payload.request_id is None
    assert payload.resources is None
    assert payload.type == "eip191"


# --- client-made proofs ------------------------------------------------------------------


def test_client_made_info_uses_host_and_port_by_default() -> None:
    info = siwx.client_made_info("http://127.0.0.1:8787/api/read", BASE_NETWORK)

    assert info.domain == "127.0.0.1:8787"
    assert info.uri == "http://127.0.0.1:8787/api/read"
    assert info.statement == siwx.DEFAULT_STATEMENT


def test_client_made_info_can_use_bare_hostname() -> None:
    info = siwx.client_made_info("http://127.0.0.1:8787/api/read", BASE_NETWORK, bare_hostname=True)

    assert info.domain == "127.0.0.1"


def test_client_made_info_expires_five_minutes_after_issue() -> None:
    now = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)

    info = siwx.client_made_info("https://giga.example/api/read", BASE_NETWORK, now=now)

    assert info.issued_at == "2026-03-02T12:00:00.000Z"
    assert info.expiration_time == "2026-03-02T12:05:00.000Z"


def test_client_made_info_draws_a_fresh_32_hex_nonce_each_time() -> None:
    nonces = {
        siwx.client_made_info("https://giga.example/api/read", BASE_NETWORK).nonce
        for _ in range(20)
    }

    assert len(nonces) == 20
    assert all(re.fullmatch(r"[0-9a-f]{32}", nonce) for nonce in nonces)


def test_client_made_info_stamps_now_in_utc() -> None:
    info = siwx.client_made_info("https://giga.example/api/read", BASE_NETWORK)

    issued = datetime.fromisoformat(info.issued_at.replace("Z", "+00:00"))
    assert abs(datetime.now(timezone.utc) - issued) < timedelta(seconds=5)


# --- parsing and checking challenges ---------------------------------------------------


def test_parse_challenge_reads_every_field() -> None:
    info = siwx_info(
        "https://giga.example",
        "/api/read",
        notBefore="2026-03-02T11:59:00.000Z",
        requestId="req-1",
        resources=["https://giga.example/api/read"],
    )

    parsed = siwx.parse_challenge(siwx_required(info), BASE_NETWORK)

    assert parsed.domain == "giga.example"
    assert parsed.uri == "https://giga.example/api/read"
    assert parsed.nonce == info["nonce"]
    assert parsed.issued_at == info["issuedAt"]
    assert parsed.expiration_time == info["expirationTime"]
    assert parsed.not_before == "2026-03-02T11:59:00.000Z"
    assert parsed.request_id == "req-1"
    assert parsed.resources == ("https://giga.example/api/read",)
    assert parsed.statement == info["statement"]
    assert parsed.chain_id == BASE_NETWORK
    assert parsed.type == "eip191"


@pytest.mark.parametrize(
    "challenge",
    [
        {"x402Version": 2, "accepts": []},
        {"x402Version": 2, "accepts": [], "extensions": {"sign-in-with-x": {}}},
        {"x402Version": 2, "accepts": [], "extensions": "sign-in-with-x"},
    ],
    ids=["no-extensions", "no-info", "extensions-not-object"],
)
def test_parse_challenge_refuses_402_without_siwx_info(challenge: dict[str, Any]) -> None:
    with pytest.raises(SiwxChallengeError):
        siwx.parse_challenge(challenge, BASE_NETWORK)


@pytest.mark.parametrize("missing", ["domain", "uri", "nonce", "issuedAt"])
def test_parse_challenge_refuses_info_missing_a_field(missing: str) -> None:
    info = siwx_info("https://giga.example", "/api/read")
    del info[missing]

    with pytest.raises(SiwxChallengeError, match="missing"):
        siwx.parse_challenge(siwx_required(info), BASE_NETWORK)


def test_parse_challenge_refuses_challenge_for_another_chain() -> None:
    challenge = siwx_required(
        siwx_info("https://giga.example", "/api/read"),
        chains=[{"chainId": "eip155:1", "type": "eip191"}],
    )

    with pytest.raises(SiwxChallengeError, match=BASE_NETWORK):
        siwx.parse_challenge(challenge, BASE_NETWORK)


def test_numeric_chain_id_refuses_non_evm_chain() -> None:
    info = SiwxInfo(
        domain="giga.example",
        uri="https://giga.example/api/read",
        chain_id="solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp",
        nonce="n",
        issued_at="2026-03-02T12:00:00.000Z",
    )

    with pytest.raises(SiwxChallengeError):
        _ = info.numeric_chain_id


def _challenge(domain: str, uri: str) -> SiwxInfo:
    return SiwxInfo(
        domain=domain,
        uri=uri,
        chain_id=BASE_NETWORK,
        nonce="0123456789abcdef0123456789abcdef",
        issued_at="2026-03-02T12:00:00.000Z",
    )


@pytest.mark.parametrize(
    ("domain", "uri", "request_url"),
    [
        ("giga.example", "https://giga.example/api/read", "https://giga.example/api/read"),
        ("127.0.0.1", "http://127.0.0.1:8787/api/read", "http://127.0.0.1:8787/api/read"),
        ("127.0.0.1:8787", "http://127.0.0.1:8787/api/read", "http://127.0.0.1:8787/api/read"),
        ("giga.example", "https://giga.example/other", "https://giga.example/api/read"),
    ],
    ids=["hostname", "bare-hostname-on-port", "host-and-port", "other-path-same-origin"],
)
def test_challenge_origin_accepts_the_request_host(domain: str, uri: str, request_url: str) -> None:
    siwx.check_challenge_origin(_challenge(domain, uri), request_url)


@pytest.mark.parametrize(
    ("domain", "uri", "request_url"),
    [
        ("evil.example", "https://giga.example/api/read", "https://giga.example/api/read"),
        ("giga.example.evil", "https://giga.example/api/read", "https://giga.example/api/read"),
        ("127.0.0.1:9999", "http://127.0.0.1:8787/api/read", "http://127.0.0.1:8787/api/read"),
        ("giga.example", "https://evil.example/api/read", "https://giga.example/api/read"),
        ("giga.example", "http://giga.example/api/read", "https://giga.example/api/read"),
        ("127.0.0.1", "http://127.0.0.1:9999/api/read", "http://127.0.0.1:8787/api/read"),
        ("giga.example", "/api/read", "https://giga.example/api/read"),
    ],
    ids=[
        "other-domain",
        "suffixed-domain",
        "other-port-domain",
        "uri-other-host",
        "uri-other-scheme",
        "uri-other-port",
        "uri-relative",
    ],
)
def test_challenge_origin_refuses_another_host(domain: str, uri: str, request_url: str) -> None:
    with pytest.raises(SiwxChallengeError, match="Refusing to sign in"):
        siwx.check_challenge_origin(_challenge(domain, uri), request_url)
