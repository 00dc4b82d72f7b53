"""SIWX-gated reads: challenges, proofs built with the x402 SDK and with eth-account."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from x402.extensions.sign_in_with_x import SIWxPayload, encode_siwx_header

from prefect_giga.testing import GigaEmulator
from prefect_giga.testing.pytest_plugin import EmulatorFactory

from .emulator_support import (
    WALLET,
    b64json,
    fresh_info,
    iso,
    new_wallet,
    now_utc,
    sdk_proof,
    signed_proof,
    start_run,
)

VECTORS = Path(__file__).parents[1] / "data" / "test-vectors.json"  # see tests/data/README.md


async def _run_id(http: httpx.AsyncClient) -> str:
    response = await start_run(http, {"prompt": "siwx [duration=5]"})
    assert response.status_code == 200, response.text
    return str(response.json()["runId"])


async def _read_with(http: httpx.AsyncClient, run_id: str, proof: str) -> httpx.Response:
    return await http.post("/api/read", json={"runId": run_id}, headers={"SIGN-IN-WITH-X": proof})


def _refused(response: httpx.Response, code: str) -> None:
    assert response.status_code == 402, response.text
    assert response.json()["error"] == code
    assert response.json()["message"]
    assert "payment-required" not in response.headers  # no new challenge


async def test_unauthenticated_read_gets_a_siwx_challenge(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/read", json={"runId": "x"})
    assert response.status_code == 402
    body = response.json()
    assert b64json(response.headers["payment-required"]) == body
    assert body["x402Version"] == 2
    assert body["accepts"] == []
    assert body["resource"]["url"] == str(response.url)
    extension = body["extensions"]["sign-in-with-x"]
    info = extension["info"]
    assert info["domain"] == httpx.URL(str(response.url)).netloc.decode()  # host:port
    assert info["uri"] == str(response.url)
    assert info["version"] == "1"
    assert len(info["nonce"]) == 32 and int(info["nonce"], 16) >= 0
    assert info["statement"] == "Sign in to verify your wallet identity"
    issued = info["issuedAt"]
    assert issued.endswith("Z") and len(issued) == len("2026-03-02T12:00:00.000Z")
    assert extension["supportedChains"] == [{"chainId": "eip155:8453", "type": "eip191"}]
    assert "domain" in extension["schema"]["properties"]


async def test_sdk_built_proof_is_accepted_as_header_or_bearer(http: httpx.AsyncClient) -> None:
    run_id = await _run_id(http)
    proof = await sdk_proof(http, "/api/read", {"runId": run_id})
    response = await _read_with(http, run_id, proof)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == run_id

    bearer = await sdk_proof(http, "/api/read", {"runId": run_id})
    response = await http.post(
        "/api/read", json={"runId": run_id}, headers={"Authorization": f"Bearer {bearer}"}
    )
    assert response.status_code == 200, response.text


async def test_replayed_proof_is_refused(http: httpx.AsyncClient) -> None:
    run_id = await _run_id(http)
    proof = await sdk_proof(http, "/api/read", {"runId": run_id})
    assert (await _read_with(http, run_id, proof)).status_code == 200
    _refused(await _read_with(http, run_id, proof), "siwx_nonce_used")


async def test_expired_proofs_are_refused(http: httpx.AsyncClient, emulator: GigaEmulator) -> None:
    run_id = await _run_id(http)
    old = now_utc() - timedelta(minutes=6)
    stale = fresh_info(emulator.url, "/api/read", issuedAt=iso(old), expirationTime=None)
    _refused(await _read_with(http, run_id, signed_proof(stale)), "siwx_expired")
    lapsed = fresh_info(
        emulator.url, "/api/read", expirationTime=iso(now_utc() - timedelta(seconds=1))
    )
    _refused(await _read_with(http, run_id, signed_proof(lapsed)), "siwx_expired")


async def test_issued_at_in_the_future_beyond_skew_is_malformed(
    http: httpx.AsyncClient, emulator: GigaEmulator
) -> None:
    run_id = await _run_id(http)
    soon = fresh_info(emulator.url, "/api/read", issuedAt=iso(now_utc() + timedelta(seconds=10)))
    assert (await _read_with(http, run_id, signed_proof(soon))).status_code == 200
    later = fresh_info(emulator.url, "/api/read", issuedAt=iso(now_utc() + timedelta(minutes=2)))
    _refused(await _read_with(http, run_id, signed_proof(later)), "siwx_malformed")
    not_yet = fresh_info(emulator.url, "/api/read", notBefore=iso(now_utc() + timedelta(minutes=1)))
    _refused(await _read_with(http, run_id, signed_proof(not_yet)), "siwx_malformed")


@pytest.mark.parametrize(
    ("domain", "uri_base"),
    [("evil.example", None), ("127.0.0.1", None), (None, "http://evil.example:80")],
)
async def test_proof_for_another_origin_is_refused(
    http: httpx.AsyncClient, emulator: GigaEmulator, domain: str | None, uri_base: str | None
) -> None:
    run_id = await _run_id(http)
    info = fresh_info(emulator.url, "/api/read", domain=domain)
    if uri_base is not None:
        info["uri"] = uri_base + "/api/read"
    _refused(await _read_with(http, run_id, signed_proof(info)), "siwx_malformed")


async def test_tampered_proof_is_refused_and_still_burns_its_nonce(
    http: httpx.AsyncClient, emulator: GigaEmulator
) -> None:
    run_id = await _run_id(http)
    info = fresh_info(emulator.url, "/api/read")
    good = json.loads(base64.b64decode(signed_proof(info)))
    tampered = {**good, "statement": "Sign in to drain my wallet"}
    _refused(
        await _read_with(http, run_id, encode_siwx_header(SIWxPayload.model_validate(tampered))),
        "siwx_invalid_signature",
    )
    # The untampered proof with the same nonce is now a replay.
    _refused(await _read_with(http, run_id, signed_proof(info)), "siwx_nonce_used")

    flipped = fresh_info(emulator.url, "/api/read")
    payload = json.loads(base64.b64decode(signed_proof(flipped)))
    signature = bytearray.fromhex(payload["signature"][2:])
    signature[5] ^= 0xFF
    payload["signature"] = "0x" + signature.hex()
    header = encode_siwx_header(SIWxPayload.model_validate(payload))
    _refused(await _read_with(http, run_id, header), "siwx_invalid_signature")


async def test_malformed_header_is_refused(http: httpx.AsyncClient) -> None:
    _refused(await _read_with(http, "r", "not base64 !!"), "siwx_malformed")
    _refused(await _read_with(http, "r", "e30="), "siwx_malformed")  # {}


async def test_client_made_nonce_is_accepted(
    http: httpx.AsyncClient, emulator: GigaEmulator
) -> None:
    run_id = await _run_id(http)
    info = fresh_info(emulator.url, "/api/read", nonce=secrets.token_hex(16))
    assert (await _read_with(http, run_id, signed_proof(info))).status_code == 200


async def test_other_wallet_cannot_see_the_run(http: httpx.AsyncClient) -> None:
    run_id = await _run_id(http)
    stranger = new_wallet()
    proof = await sdk_proof(http, "/api/read", {"runId": run_id}, stranger)
    response = await _read_with(http, run_id, proof)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"

    body = {"runId": run_id, "path": "output.md"}
    proof = await sdk_proof(http, "/api/file-url", body, stranger)
    response = await http.post("/api/file-url", json=body, headers={"SIGN-IN-WITH-X": proof})
    assert response.status_code == 404

    proof = await sdk_proof(http, "/api/list", {}, stranger)
    response = await http.post("/api/list", json={}, headers={"SIGN-IN-WITH-X": proof})
    assert response.json() == {"runs": []}


async def test_unknown_run_is_404(http: httpx.AsyncClient) -> None:
    proof = await sdk_proof(http, "/api/read", {"runId": "nope"})
    response = await _read_with(http, "nope", proof)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


async def test_hostname_mode_accepts_only_the_bare_hostname(
    giga_emulator_factory: EmulatorFactory,
) -> None:
    emulator = giga_emulator_factory(siwx_domain="hostname", manual_clock=True)
    async with httpx.AsyncClient(base_url=emulator.url) as http:
        run_id = await _run_id(http)
        challenge = await http.post("/api/read", json={"runId": run_id})
        assert challenge.json()["extensions"]["sign-in-with-x"]["info"]["domain"] == "127.0.0.1"
        bare = fresh_info(emulator.url, "/api/read", domain="127.0.0.1")
        assert (await _read_with(http, run_id, signed_proof(bare))).status_code == 200
        with_port = fresh_info(emulator.url, "/api/read")
        _refused(await _read_with(http, run_id, signed_proof(with_port)), "siwx_malformed")


@pytest.mark.skipif(not VECTORS.exists(), reason="shared test vectors not available")
async def test_vector_message_format_is_accepted(
    http: httpx.AsyncClient, emulator: GigaEmulator
) -> None:
    vectors = json.loads(VECTORS.read_text())
    account = Account.from_key(vectors["privateKey"])

    def render(info: dict[str, str], address: str) -> str:
        chain = info["chainId"].split(":")[1]
        lines = [f"{info['domain']} wants you to sign in with your Ethereum account:", address, ""]
        lines += [info.get("statement", ""), ""] if "statement" in info else [""]
        lines += [f"URI: {info['uri']}", f"Version: {info['version']}", f"Chain ID: {chain}"]
        lines += [f"Nonce: {info['nonce']}", f"Issued At: {info['issuedAt']}"]
        if "expirationTime" in info:
            lines.append(f"Expiration Time: {info['expirationTime']}")
        return "\n".join(lines)

    for vector in vectors["siwx"]:  # the template reproduces every vector exactly
        assert render(vector["info"], vector["address"]) == vector["message"]
        signed = account.sign_message(encode_defunct(text=vector["message"])).signature
        assert "0x" + bytes(signed).hex() == vector["signature"]

    run_id = await _run_id(http)
    for with_statement in (True, False):
        info = fresh_info(emulator.url, "/api/read")
        if not with_statement:
            del info["statement"], info["expirationTime"]
        signature = account.sign_message(encode_defunct(text=render(info, account.address)))
        proof = {
            **info,
            "address": account.address,
            "signature": "0x" + bytes(signature.signature).hex(),
        }
        header = encode_siwx_header(SIWxPayload.model_validate(proof))
        response = await _read_with(http, run_id, header)
        assert response.status_code == 200, response.text
    assert account.address == WALLET.address
