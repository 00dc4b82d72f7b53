"""The emulator knobs this suite added, driven with plain httpx and the official x402 SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from eth_account.messages import encode_typed_data
from x402.schemas import PaymentPayload

from prefect_giga.core.networks import get_network
from prefect_giga.testing import GigaEmulator, settle_stashed

from ..emulator.emulator_support import (
    WALLET,
    authed,
    b64json,
    paid_post,
    payment_header,
    quote,
    sdk_proof,
    sign_payment,
    start_run,
)

BODY = {"prompt": "knobs [duration=1]"}


@pytest.fixture
async def http(emulator: GigaEmulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=emulator.url, timeout=5) as client:
        yield client


async def test_garbled_paid_reply_happens_after_settlement(
    emulator: GigaEmulator, http: httpx.AsyncClient
) -> None:
    emulator.faults.garble("start", count=1)
    response = await start_run(http, BODY)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    with pytest.raises(ValueError):
        response.json()
    [entry] = emulator.ledger
    assert [run.id for run in emulator.runs] == [entry.run_id]
    assert (await start_run(http, BODY)).json()["status"]  # count=1: the next reply is JSON


async def test_garble_leaves_402_challenges_alone(
    emulator: GigaEmulator, http: httpx.AsyncClient
) -> None:
    emulator.faults.garble("start")
    _, required = await quote(http, BODY)
    assert required.accepts[0].amount == "500000"


async def test_endless_body_streams_without_length_until_the_client_leaves(
    emulator: GigaEmulator, http: httpx.AsyncClient
) -> None:
    run_id = (await start_run(http, BODY)).json()["runId"]
    emulator.faults.never_end("read", chunk=b"  ", interval=0.01)
    body = {"runId": run_id}
    proof = await sdk_proof(http, "/api/read", body)  # its 402 challenge is never spoiled
    chunks = 0
    async with http.stream(
        "POST", "/api/read", json=body, headers={"SIGN-IN-WITH-X": proof}
    ) as endless:
        assert endless.status_code == 200
        assert "content-length" not in endless.headers
        async for chunk in endless.aiter_raw():
            assert chunk.strip() == b""
            chunks += 1
            if chunks == 5:
                break
    assert chunks == 5
    emulator.faults.clear()
    assert (await authed(http, "/api/read", body)).json()["id"] == run_id


async def test_paid_hold_holds_paid_replies_but_answers_probes_at_once(
    emulator: GigaEmulator, http: httpx.AsyncClient
) -> None:
    emulator.faults.hold_paid_replies(30, count=1)
    _, required = await quote(http, BODY)  # not held
    header = payment_header(await sign_payment(required))
    with pytest.raises(httpx.ReadTimeout):
        await http.post("/api/start", json=BODY, headers={"payment-signature": header}, timeout=0.3)
    assert len(emulator.ledger) == 1
    replay = await paid_post(http, BODY, header)  # count used up: answered at once
    assert replay.json()["reason"] == "invalid_exact_evm_nonce_already_used"
    assert emulator.paid_requests == {200: 1, 402: 1}


async def test_stash_and_refuse_keeps_the_authorization_and_the_chain_rejects_a_double_settle(
    emulator: GigaEmulator, http: httpx.AsyncClient
) -> None:
    emulator.hostile.stash_and_refuse(1)
    _, required = await quote(http, BODY)
    payload = await sign_payment(required)
    refused = await paid_post(http, BODY, payment_header(payload))
    assert refused.status_code == 402
    assert refused.json()["reason"] == "requirements_mismatch"
    assert b64json(refused.headers["payment-required"])["accepts"][0]["amount"] == "500000"
    assert emulator.ledger == [] and emulator.runs == []
    nonce = payload.payload["authorization"]["nonce"]
    assert emulator.hostile.stashed == [(WALLET.address, nonce)]
    # The client pays again for the same start: same nonce, a new signature.
    paid = await paid_post(http, BODY, payment_header(_resigned(payload)))
    assert paid.status_code == 200
    [entry] = emulator.ledger
    assert entry.nonce == nonce
    assert emulator.hostile.settle_attempts == 1
    assert emulator.hostile.double_settles_rejected == 1
    assert emulator.hostile.settled_stashed == 0
    assert emulator.hostile.outcomes[0].reason
    assert emulator.hostile.pending == 0


async def test_stashed_authorization_with_an_unused_nonce_settles_for_no_run(
    emulator: GigaEmulator, http: httpx.AsyncClient
) -> None:
    emulator.hostile.stash_and_refuse(1)
    assert (await start_run(http, BODY)).status_code == 402
    [outcome] = settle_stashed(emulator)
    assert outcome.settled and outcome.payer == WALLET.address
    [entry] = emulator.ledger
    assert entry.run_id == "" and entry.nonce == outcome.nonce
    assert emulator.hostile.settled_stashed == 1


async def test_quote_overrides_change_the_challenge_and_the_verified_requirement(
    emulator: GigaEmulator, http: httpx.AsyncClient
) -> None:
    emulator.hostile.quote_overrides = {
        "maxTimeoutSeconds": 10**9,
        "extra": {"name": "USDC", "version": "2"},
    }
    _, required = await quote(http, BODY)
    assert required.accepts[0].max_timeout_seconds == 10**9
    assert required.accepts[0].extra == {"name": "USDC", "version": "2"}


async def test_proof_redirects_spare_requests_without_credentials(
    emulator: GigaEmulator, http: httpx.AsyncClient
) -> None:
    emulator.hostile.redirect_proofs("start", "http://elsewhere.invalid/api/start")
    emulator.hostile.redirect_proofs("read", "http://elsewhere.invalid/api/read")
    response, required = await quote(http, BODY)
    assert response.status_code == 402
    paid = await paid_post(http, BODY, payment_header(await sign_payment(required)))
    assert paid.status_code == 307
    assert paid.headers["location"] == "http://elsewhere.invalid/api/start"
    assert emulator.ledger == []
    assert emulator.paid_requests == {307: 1}
    assert (await http.post("/api/read", json={"runId": "x"})).status_code == 402
    assert (await authed(http, "/api/read", {"runId": "x"})).status_code == 307


async def test_listed_files_are_listed_and_served_whatever_their_path(
    emulator: GigaEmulator, http: httpx.AsyncClient
) -> None:
    run_id = (await start_run(http, BODY)).json()["runId"]
    emulator.hostile.listed_files = {"../escape.txt": b"outside"}
    listed = (await authed(http, "/api/read", {"runId": run_id, "includeFiles": True})).json()
    assert {"path": "../escape.txt", "type": "file", "size": 7} in listed["files"]
    link = await authed(http, "/api/file-url", {"runId": run_id, "path": "../escape.txt"})
    served = await http.get(link.json()["url"])
    assert served.status_code == 200 and served.content == b"outside"


def _resigned(payload: PaymentPayload) -> PaymentPayload:
    """The same authorization signed again (same nonce, later validBefore), as a client does."""
    authorization = dict(payload.payload["authorization"])
    authorization["validBefore"] = str(int(authorization["validBefore"]) + 1)
    network = get_network("eip155:8453")
    typed = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "TransferWithAuthorization": [
                {"name": "from", "type": "address"},
                {"name": "to", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "validAfter", "type": "uint256"},
                {"name": "validBefore", "type": "uint256"},
                {"name": "nonce", "type": "bytes32"},
            ],
        },
        "primaryType": "TransferWithAuthorization",
        "domain": {
            "name": network.usdc_eip712_name,
            "version": network.usdc_eip712_version,
            "chainId": network.chain_id,
            "verifyingContract": network.usdc_address,
        },
        "message": {
            "from": authorization["from"],
            "to": authorization["to"],
            "value": int(authorization["value"]),
            "validAfter": int(authorization["validAfter"]),
            "validBefore": int(authorization["validBefore"]),
            "nonce": bytes.fromhex(authorization["nonce"][2:]),
        },
    }
    signed = WALLET.sign_message(encode_typed_data(full_message=typed))
    copy = payload.model_copy(deep=True)
    copy.payload["authorization"] = authorization
    copy.payload["signature"] = "0x" + bytes(signed.signature).hex()
    return copy
