"""Hand-built Giga replies for unit tests: 402 quotes, SIWX challenges, runs and receipts.

Everything here follows ``shared/spec/protocol-notes.md`` and is written independently of the
package, so the tests check the client against the protocol rather than against itself.
"""

from __future__ import annotations

import base64
import functools
import json
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from prefect_giga import GigaClient, RetryPolicy
from prefect_giga.payments.paid_start import ReconcilePolicy

VECTORS_PATH = Path(__file__).parents[1] / "data" / "test-vectors.json"  # see tests/data/README.md

# The public Hardhat/Anvil test key #0 (never fund it) and another throwaway key.
KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
OTHER_KEY = "0x" + "11" * 32

BASE_URL = "https://giga.example"
LOCAL_URL = "http://127.0.0.1:8787"
EVIL_URL = "https://evil.example"

BASE_NETWORK = "eip155:8453"
USDC_BASE = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"
USDC_SEPOLIA = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
PAYEE = "0xeC2B1E0b1fcFA64BfDD3a094355857926DE0Eb03"
OTHER_PAYEE = "0x000000000000000000000000000000000000dEaD"
TX_HASH = "0x" + "fe" * 32

TOKEN = "tok_PRESIGNED_5f2d9c81a7e4b3c6d0"
FILE_URL = f"{BASE_URL}/api/file?token={TOKEN}"

SIWX_HEADER = "sign-in-with-x"
PAYMENT_SIGNATURE = "payment-signature"
STATEMENT = "Sign in to verify your wallet identity"

NO_WAIT = RetryPolicy(attempts=3, initial_backoff=0, max_backoff=0)
NO_WAIT_RECONCILE = ReconcilePolicy(resends=2, backoff=0)
"""Three tries, no waiting between them."""

Reply = httpx.Response | BaseException | Callable[[httpx.Request], httpx.Response]


@functools.lru_cache(maxsize=1)
def load_vectors() -> dict[str, Any]:
    """The independent oracle: SIWX and EIP-3009 vectors made with the x402 TypeScript SDK."""
    return json.loads(VECTORS_PATH.read_text(encoding="utf-8"))


def make_client(**overrides: Any) -> GigaClient:
    """A `GigaClient` on ``BASE_URL`` with the test key and a retry policy that never waits.

    It names the seed text's default tier (``$0.50``) and no price cap beyond the tier's own
    price, as these tests' fake server publishes no tiers (see ``conftest.router``).
    """
    options: dict[str, Any] = {
        "private_key": KEY,
        "base_url": BASE_URL,
        "default_tier": "$0.50",
        "max_price_per_run": None,
        "retry": NO_WAIT,
        "reconcile": NO_WAIT_RECONCILE,
    }
    options.update(overrides)
    return GigaClient(**options)


# --- base64 JSON -------------------------------------------------------------------------


def b64json(value: Any) -> str:
    """Base64 of compact JSON, as x402 headers carry it."""
    return base64.b64encode(json.dumps(value, separators=(",", ":")).encode()).decode()


def unb64json(value: str) -> Any:
    """Decode a base64 JSON header."""
    return json.loads(base64.b64decode(value))


def iso(moment: datetime) -> str:
    """ISO 8601 with milliseconds and ``Z``, as the server writes timestamps."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- paid start --------------------------------------------------------------------------


def accepts_entry(amount: str = "500000", **overrides: Any) -> dict[str, Any]:
    """One ``accepts`` entry: USDC on Base, ``exact``, to ``PAYEE``."""
    entry: dict[str, Any] = {
        "scheme": "exact",
        "network": BASE_NETWORK,
        "asset": USDC_BASE,
        "amount": amount,
        "payTo": PAYEE,
        "maxTimeoutSeconds": 300,
        "extra": {"name": "USD Coin", "version": "2"},
    }
    entry.update(overrides)
    return entry


def payment_required(*entries: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """The decoded ``PAYMENT-REQUIRED`` challenge (x402 v2) of a paid start."""
    challenge: dict[str, Any] = {
        "x402Version": 2,
        "error": "Payment required",
        "resource": {
            "url": f"{BASE_URL}/api/start",
            "description": "Start a Giga agent run",
            "mimeType": "application/json",
        },
        "accepts": list(entries) if entries else [accepts_entry()],
    }
    challenge.update(fields)
    return challenge


def quote_402(*entries: dict[str, Any], header: str | None = None, **fields: Any) -> httpx.Response:
    """A paid 402: empty body, the challenge only in ``PAYMENT-REQUIRED``."""
    value = header if header is not None else b64json(payment_required(*entries, **fields))
    return httpx.Response(402, headers={"PAYMENT-REQUIRED": value})


def settlement_header(
    payer: str = ADDRESS, transaction: str = TX_HASH, network: str = BASE_NETWORK
) -> str:
    """A ``PAYMENT-RESPONSE`` value for a settled payment."""
    return b64json(
        {"success": True, "payer": payer, "transaction": transaction, "network": network}
    )


def started_200(run_id: str = "run_1", status: str = "running", **settled: Any) -> httpx.Response:
    """The paid reply: the run id, with the settlement in ``PAYMENT-RESPONSE``."""
    return httpx.Response(
        200,
        json={"runId": run_id, "status": status},
        headers={"PAYMENT-RESPONSE": settlement_header(**settled)},
    )


def _respond(spec: Reply, request: httpx.Request) -> httpx.Response:
    if isinstance(spec, BaseException):
        raise spec
    if isinstance(spec, httpx.Response):
        return spec
    return spec(request)


class Script:
    """Replies given in order; the last one repeats. Each entry may be an exception to raise."""

    def __init__(self, *replies: Reply) -> None:
        self._replies = list(replies)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        spec = self._replies.pop(0) if len(self._replies) > 1 else self._replies[0]
        return _respond(spec, request)


class StartEndpoint:
    """Fake ``POST /api/start``: unpaid probes get ``quote``, paid requests get ``paid``."""

    def __init__(
        self,
        quote: Reply | None = None,
        paid: Reply | None = None,
    ) -> None:
        self.quote: Reply = quote if quote is not None else (lambda _: quote_402())
        self.paid: Reply = paid if paid is not None else (lambda _: started_200())
        self.probes: list[httpx.Request] = []
        self.payments: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if PAYMENT_SIGNATURE in request.headers:
            self.payments.append(request)
            return _respond(self.paid, request)
        self.probes.append(request)
        return _respond(self.quote, request)


DISCOVERY_PATHS = ("/openapi.json", "/api/openapi.json", "/llms.txt", "/.well-known/x402")


def api_calls(router: Any) -> list[Any]:
    """The router's calls to the API itself, leaving out reads of the discovery documents
    (public, free ``GET``s of what the server publishes about its tiers)."""
    return [
        call
        for call in router.calls
        if not (call.request.method == "GET" and call.request.url.path in DISCOVERY_PATHS)
    ]


def body_of(request: httpx.Request) -> Any:
    """The JSON body a request carried."""
    return json.loads(request.content)


def payment_of(request: httpx.Request) -> dict[str, Any]:
    """The decoded ``PAYMENT-SIGNATURE`` of a paid request."""
    decoded: dict[str, Any] = unb64json(request.headers[PAYMENT_SIGNATURE])
    return decoded


# --- SIWX reads --------------------------------------------------------------------------


def siwx_info(base_url: str, path: str, **overrides: Any) -> dict[str, Any]:
    """A fresh challenge ``info``: bare hostname domain (as the router issues it), +5 min."""
    now = datetime.now(timezone.utc)
    info: dict[str, Any] = {
        "domain": urlsplit(base_url).hostname,
        "uri": base_url + path,
        "version": "1",
        "nonce": secrets.token_hex(16),
        "issuedAt": iso(now),
        "expirationTime": iso(now + timedelta(minutes=5)),
        "statement": STATEMENT,
    }
    info.update(overrides)
    return info


def siwx_required(
    info: dict[str, Any], chains: Iterable[dict[str, str]] | None = None
) -> dict[str, Any]:
    """The JSON body of an unauthenticated read's 402."""
    return {
        "x402Version": 2,
        "accepts": [],
        "extensions": {
            "sign-in-with-x": {
                "info": info,
                "supportedChains": list(
                    chains if chains is not None else [{"chainId": BASE_NETWORK, "type": "eip191"}]
                ),
            }
        },
    }


def siwx_signer(header: str) -> str:
    """Recover who signed a ``SIGN-IN-WITH-X`` proof, using the x402 SDK's own SIWE formatter."""
    from eth_account import Account
    from eth_account.messages import encode_defunct
    from x402.extensions.sign_in_with_x import format_siwe_message, parse_siwx_header

    payload = parse_siwx_header(header)
    message = format_siwe_message(payload, payload.address)
    return str(Account.recover_message(encode_defunct(text=message), signature=payload.signature))


class SiwxEndpoint:
    """Fake SIWX-protected read: a 402 challenge without a proof, ``reply`` with a valid one.

    Like the agentcash router it accepts client-made nonces (unless told not to), refuses a
    replayed nonce, and answers a bad proof with 402 ``{error: siwx_*}`` and no new challenge.
    """

    def __init__(
        self,
        reply: dict[str, Any] | Callable[[httpx.Request], httpx.Response],
        *,
        base_url: str = BASE_URL,
        accept_client_nonces: bool = True,
        refuse_with: str | None = None,
        chains: Iterable[dict[str, str]] | None = None,
        **info_overrides: Any,
    ) -> None:
        self.reply = reply
        self.base_url = base_url
        self.accept_client_nonces = accept_client_nonces
        self.refuse_with = refuse_with
        self.chains = chains
        self.info_overrides = info_overrides
        self.issued: list[str] = []
        self.headers: list[str] = []
        self.requests: list[httpx.Request] = []

    @property
    def proofs(self) -> list[dict[str, Any]]:
        """The decoded proofs received, in order."""
        return [unb64json(header) for header in self.headers]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        header = request.headers.get(SIWX_HEADER)
        if header is None:
            info = siwx_info(self.base_url, request.url.path, **self.info_overrides)
            self.issued.append(info["nonce"])
            return httpx.Response(402, json=siwx_required(info, self.chains))
        used = {proof["nonce"] for proof in self.proofs}
        self.headers.append(header)
        proof = unb64json(header)
        if self.refuse_with is not None:
            return _siwx_refusal(self.refuse_with)
        if proof["nonce"] in used:
            return _siwx_refusal("siwx_nonce_used")
        if not self.accept_client_nonces and proof["nonce"] not in self.issued:
            return _siwx_refusal("siwx_malformed")
        if siwx_signer(header) != proof["address"]:
            return _siwx_refusal("siwx_invalid_signature")
        if callable(self.reply):
            return self.reply(request)
        return httpx.Response(200, json=self.reply)


def _siwx_refusal(code: str) -> httpx.Response:
    return httpx.Response(402, json={"error": code, "message": f"Sign-in refused: {code}"})


def run_json(run_id: str = "run_1", status: str = "running", **fields: Any) -> dict[str, Any]:
    """A ``/api/read`` reply while polling (``logs`` still null)."""
    data: dict[str, Any] = {
        "id": run_id,
        "status": status,
        "errorCode": None,
        "createdAt": "2026-03-02T12:00:00.000Z",
        "updatedAt": "2026-03-02T12:00:10.000Z",
        "logs": None,
    }
    data.update(fields)
    return data


def summary_json(run_id: str, status: str = "completed") -> dict[str, Any]:
    """One entry of ``/api/list``."""
    data = run_json(run_id, status)
    del data["logs"]
    return data


def file_url_json(url: str = FILE_URL) -> dict[str, Any]:
    """A ``/api/file-url`` reply, valid for an hour."""
    return {"url": url, "expiresAt": iso(datetime.now(timezone.utc) + timedelta(hours=1))}


# --- secrets -----------------------------------------------------------------------------


class SecretGuard:
    """Records every `GigaError` a test builds and checks none of them shows a secret."""

    def __init__(self) -> None:
        self.errors: list[BaseException] = []
        self.secrets: set[str] = {KEY, KEY[2:], OTHER_KEY[2:], TOKEN}
        vectors = load_vectors()
        self.secrets.update(v["signature"][2:] for v in vectors["siwx"] + vectors["eip3009"])
        self.secrets.update(v["header"] for v in vectors["siwx"])

    def add(self, *values: str) -> None:
        """Treat more values as secrets (bad keys, headers seen by a hand-made transport)."""
        self.secrets.update(v for v in values if v)

    def add_request(self, request: httpx.Request) -> None:
        """Treat the proofs and payments a request carried, and its URL token, as secrets."""
        for name in (SIWX_HEADER, PAYMENT_SIGNATURE):
            header = request.headers.get(name)
            if not header:
                continue
            self.add(header)
            decoded = unb64json(header)
            signature = decoded.get("signature") or decoded.get("payload", {}).get("signature")
            if isinstance(signature, str):
                self.add(signature.removeprefix("0x"))
        self.add(request.url.params.get("token", ""))

    def leaks(self, error: BaseException) -> list[str]:
        """The secrets that ``str(error)`` or ``repr(error)`` shows."""
        shown = (str(error) + " " + repr(error)).lower()
        return sorted(s for s in self.secrets if s.lower() in shown)

    def check(self) -> None:
        """Fail when any recorded error shows a secret."""
        for error in self.errors:
            leaked = self.leaks(error)
            assert not leaked, f"{type(error).__name__} shows a secret: {leaked}"


def mock_list(router: Any, *runs: dict[str, Any], base_url: str = BASE_URL) -> SiwxEndpoint:
    """``/api/list`` answering ``runs`` (after the SIWX challenge), for reconciliation tests."""
    endpoint = SiwxEndpoint(lambda _: httpx.Response(200, json={"runs": list(runs)}))
    router.post(f"{base_url}/api/list").mock(side_effect=endpoint)
    return endpoint
