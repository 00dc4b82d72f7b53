"""Scenario (a): the baseline a user writes with the x402 SDK alone.

One ``asyncio.gather`` over per-run loops. Each loop pays for its start through the SDK's
x402 httpx transport, polls ``/api/read`` every interval with a fresh SIWX proof made by the
SDK's helpers (ask, get the 402 challenge, sign, ask again: two round trips per poll), then
lists the files (``includeFiles``) and fetches each through ``/api/file-url`` and a GET.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount
from x402 import x402Client
from x402.extensions.sign_in_with_x import create_siwx_payload, encode_siwx_header
from x402.http.clients.httpx import x402AsyncTransport
from x402.mechanisms.evm import EthAccountSigner
from x402.mechanisms.evm.exact import ExactEvmScheme

from benchmarks.harness import Context, Outcome, scenario_main
from benchmarks.plan import TIER

TERMINAL = ("completed", "failed")
LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=4.0)
"""httpx's default pool size; idle connections are dropped after 4 s, before the emulator's
(uvicorn's) 5 s keep-alive closes them, or a reused one fails with ``ReadError``."""
TIMEOUT = httpx.Timeout(60.0, pool=None)
"""No pool timeout: 1000 loops sharing 100 connections must wait, not fail."""
ATTEMPTS = 3
"""Tries of a free call whose connection broke."""


async def siwx_post(
    http: httpx.AsyncClient, account: LocalAccount, path: str, body: dict[str, Any]
) -> httpx.Response:
    """POST with a fresh SIWX proof: get the challenge, sign it, send again.

    A dropped connection (a pooled one the server closed) costs the whole exchange again,
    up to `ATTEMPTS` times: reads are free, so a careful user retries them.
    """
    for attempt in range(1, ATTEMPTS + 1):
        try:
            challenge = await http.post(path, json=body)
            if challenge.status_code != 402:
                return challenge
            extension = challenge.json()["extensions"]["sign-in-with-x"]
            info = {**extension["info"], **extension["supportedChains"][0]}
            payload = await create_siwx_payload(info, account, str(challenge.url))
            headers = {"SIGN-IN-WITH-X": encode_siwx_header(payload)}
            response = await http.post(path, json=body, headers=headers)
        except httpx.TransportError:
            if attempt == ATTEMPTS:
                raise
            continue
        response.raise_for_status()
        return response
    raise AssertionError("unreachable")


async def download(http: httpx.AsyncClient, url: str, target: Path) -> None:
    """GET a presigned URL into ``target``, streaming; retried like the reads."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, ATTEMPTS + 1):
        try:
            async with http.stream("GET", url) as response:
                response.raise_for_status()
                with target.open("wb") as out:
                    async for chunk in response.aiter_bytes():
                        out.write(chunk)
            return
        except httpx.TransportError:
            if attempt == ATTEMPTS:
                raise


async def one_run(
    paying: httpx.AsyncClient,
    http: httpx.AsyncClient,
    account: LocalAccount,
    prompt: str,
    poll: float,
    dest: Path,
) -> None:
    """Start one run, poll it to the end, download its files."""
    started = await paying.post("/api/start", json={"prompt": prompt, "tier": TIER})
    started.raise_for_status()
    run_id = started.json()["runId"]
    while True:
        read = await siwx_post(http, account, "/api/read", {"runId": run_id})
        if read.json()["status"] in TERMINAL:
            break
        await asyncio.sleep(poll)
    listing = await siwx_post(http, account, "/api/read", {"runId": run_id, "includeFiles": True})
    for entry in listing.json()["files"]:
        if entry["type"] != "file":
            continue
        body = {"runId": run_id, "path": entry["path"]}
        link = (await siwx_post(http, account, "/api/file-url", body)).json()["url"]
        await download(http, link, dest / run_id / entry["path"])


async def work(ctx: Context) -> Outcome:
    """Every run at once, each in its own loop."""
    account: LocalAccount = Account.from_key(ctx.key)
    x402 = x402Client()
    x402.register("eip155:*", ExactEvmScheme(EthAccountSigner(account)))
    x402.set_spend_controls({"max_amount_per_payment": "$0.50"})
    transport = x402AsyncTransport(x402, transport=httpx.AsyncHTTPTransport(limits=LIMITS))
    async with (
        httpx.AsyncClient(base_url=ctx.url, transport=transport, timeout=TIMEOUT) as paying,
        httpx.AsyncClient(base_url=ctx.url, limits=LIMITS, timeout=TIMEOUT) as http,
    ):
        results = await asyncio.gather(
            *(one_run(paying, http, account, p, ctx.plan.poll, ctx.dest) for p in ctx.prompts),
            return_exceptions=True,
        )
    return Outcome().count(results)


if __name__ == "__main__":
    raise SystemExit(scenario_main("sdk", work))
