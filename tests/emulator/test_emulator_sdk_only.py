"""A whole Giga round trip using only the official x402 SDK and httpx (no prefect_giga client).

This is the independent check that the emulator speaks the protocol the SDK speaks: the
SDK's httpx transport pays the 402, and its SIWX helpers sign the reads.
"""

from __future__ import annotations

import httpx
from eth_account import Account
from x402 import x402Client
from x402.extensions.sign_in_with_x import create_siwx_payload, encode_siwx_header
from x402.http.clients.httpx import x402HttpxClient
from x402.http.utils import decode_payment_response_header
from x402.mechanisms.evm.exact import ExactEvmScheme

from prefect_giga.testing import GigaEmulator

KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # Hardhat #0


async def _siwx_post(
    http: httpx.AsyncClient, account: object, path: str, body: object
) -> httpx.Response:
    challenge = await http.post(path, json=body)
    assert challenge.status_code == 402
    extension = challenge.json()["extensions"]["sign-in-with-x"]
    info = {**extension["info"], **extension["supportedChains"][0]}
    payload = await create_siwx_payload(info, account, str(challenge.url))
    return await http.post(path, json=body, headers={"SIGN-IN-WITH-X": encode_siwx_header(payload)})


async def test_sdk_alone_pays_reads_and_downloads(emulator: GigaEmulator) -> None:
    account = Account.from_key(KEY)
    client = x402Client()
    client.register("eip155:*", ExactEvmScheme(account))
    client.set_spend_controls({"max_amount_per_payment": "$2"})
    created: list[object] = []
    client.on_after_payment_creation(created.append)

    async with x402HttpxClient(client, base_url=emulator.url) as paying:
        started = await paying.post(
            "/api/start", json={"prompt": "SDK only [files=2] [duration=45]", "tier": "$1.00"}
        )
    assert started.status_code == 200, started.text
    receipt = decode_payment_response_header(started.headers["payment-response"])
    assert receipt.success and receipt.payer == account.address
    run_id = started.json()["runId"]

    async with httpx.AsyncClient(base_url=emulator.url) as http:
        body = (await _siwx_post(http, account, "/api/read", {"runId": run_id})).json()
        assert body["status"] == "running"

        emulator.clock.advance(45)
        done = await _siwx_post(http, account, "/api/read", {"runId": run_id, "includeFiles": True})
        assert done.json()["status"] == "completed"
        paths = [f["path"] for f in done.json()["files"] if f["type"] == "file"]
        assert paths == ["data/extra_2.txt", "extra_1.txt", "output.md"]

        listed = await _siwx_post(http, account, "/api/list", {"limit": 5})
        assert [r["id"] for r in listed.json()["runs"]] == [run_id]

        link = await _siwx_post(
            http, account, "/api/file-url", {"runId": run_id, "path": "output.md"}
        )
        async with httpx.AsyncClient() as anonymous:  # the URL is the only credential
            download = await anonymous.get(link.json()["url"])
        assert download.status_code == 200
        assert "SDK only" in download.text
        assert download.headers["content-disposition"].startswith("attachment")

    [entry] = emulator.ledger
    assert (entry.payer, entry.amount, entry.tx_hash) == (
        account.address,
        1_000_000,
        receipt.transaction,
    )
    assert len(created) == 1
    assert emulator.balance_of(account.address) == 999_000_000
