"""SIWX reads end to end against a fake router: the challenge flow, origin checks (bare hostname
on a port), client-made proofs with fallback, refused proofs and fresh nonces."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import respx
from x402.extensions.sign_in_with_x import (
    parse_siwx_header,
    validate_siwx_message,
    verify_siwx_signature,
)

from prefect_giga import GigaClient
from prefect_giga.core.exceptions import AuthenticationError, GigaProtocolError, SiwxChallengeError

from ._giga_fakes import (
    ADDRESS,
    BASE_URL,
    LOCAL_URL,
    SIWX_HEADER,
    SiwxEndpoint,
    b64json,
    file_url_json,
    make_client,
    run_json,
    siwx_info,
    siwx_required,
    siwx_signer,
    summary_json,
)

Call = Callable[[GigaClient], Awaitable[Any]]

ENDPOINTS: list[tuple[str, dict[str, Any], Call]] = [
    ("/api/read", run_json(), lambda giga: giga.read("run_1")),
    ("/api/list", {"runs": [summary_json("run_1")]}, lambda giga: giga.list_runs()),
    ("/api/file-url", file_url_json(), lambda giga: giga.file_url("run_1", "output.md")),
]
ENDPOINT_IDS = ["read", "list_runs", "file_url"]


def mock_read(router: respx.MockRouter, base_url: str = BASE_URL, **options: Any) -> SiwxEndpoint:
    endpoint = SiwxEndpoint(run_json(), base_url=base_url, **options)
    router.post(f"{base_url}/api/read").mock(side_effect=endpoint)
    return endpoint


@pytest.mark.parametrize(("path", "reply", "call"), ENDPOINTS, ids=ENDPOINT_IDS)
async def test_read_answers_challenge_with_a_proof_the_sdk_verifies(
    router: respx.MockRouter, path: str, reply: dict[str, Any], call: Call
) -> None:
    endpoint = SiwxEndpoint(reply)
    router.post(BASE_URL + path).mock(side_effect=endpoint)

    async with make_client() as giga:
        await call(giga)

    assert len(endpoint.requests) == 2
    assert SIWX_HEADER not in endpoint.requests[0].headers
    assert endpoint.requests[0].content == endpoint.requests[1].content
    payload = parse_siwx_header(endpoint.headers[0])
    assert payload.nonce == endpoint.issued[0]
    assert payload.domain == "giga.example"
    assert payload.uri == BASE_URL + path
    assert payload.address == ADDRESS
    assert payload.chain_id == "eip155:8453"
    validation = await validate_siwx_message(payload, BASE_URL)
    verification = await verify_siwx_signature(payload)
    assert validation.is_valid, validation.invalid_message
    assert verification.is_valid, verification.invalid_message
    assert verification.payer == ADDRESS


@pytest.mark.parametrize(
    ("domain", "uri"),
    [
        ("evil.example", f"{BASE_URL}/api/read"),
        ("giga.example.evil.example", f"{BASE_URL}/api/read"),
        ("giga.example", "https://evil.example/api/read"),
        ("giga.example", "http://giga.example/api/read"),
    ],
    ids=["other-domain", "lookalike-domain", "uri-other-host", "uri-downgraded-scheme"],
)
async def test_read_refuses_challenge_for_another_origin_and_signs_nothing(
    router: respx.MockRouter, domain: str, uri: str
) -> None:
    endpoint = mock_read(router, domain=domain, uri=uri)

    async with make_client() as giga:
        with pytest.raises(SiwxChallengeError, match="Refusing to sign in"):
            await giga.read("run_1")

    assert len(endpoint.requests) == 1
    assert endpoint.headers == []


@pytest.mark.parametrize("domain", ["127.0.0.1", "127.0.0.1:8787"], ids=["bare", "host-port"])
async def test_read_accepts_the_request_host_on_a_non_default_port(
    router: respx.MockRouter, domain: str
) -> None:
    endpoint = mock_read(router, base_url=LOCAL_URL, domain=domain)

    async with make_client(base_url=LOCAL_URL) as giga:
        run = await giga.read("run_1")

    assert run.id == "run_1"
    proof = endpoint.proofs[0]
    assert proof["domain"] == domain
    assert proof["uri"] == f"{LOCAL_URL}/api/read"
    assert siwx_signer(endpoint.headers[0]) == ADDRESS


async def test_read_refuses_a_domain_with_another_port(router: respx.MockRouter) -> None:
    endpoint = mock_read(router, base_url=LOCAL_URL, domain="127.0.0.1:9999")

    async with make_client(base_url=LOCAL_URL) as giga:
        with pytest.raises(SiwxChallengeError):
            await giga.read("run_1")

    assert endpoint.headers == []


@pytest.mark.parametrize(
    ("domain", "client_domain"),
    [("127.0.0.1", "127.0.0.1"), ("127.0.0.1:8787", "127.0.0.1:8787")],
    ids=["bare", "host-port"],
)
async def test_later_reads_send_client_made_proof_in_one_round_trip(
    router: respx.MockRouter, domain: str, client_domain: str
) -> None:
    endpoint = mock_read(router, base_url=LOCAL_URL, domain=domain)

    async with make_client(base_url=LOCAL_URL) as giga:
        await giga.read("run_1")
        await giga.read("run_1")
        await giga.read("run_1")

    assert len(endpoint.requests) == 4
    assert all(SIWX_HEADER in request.headers for request in endpoint.requests[1:])
    client_made = endpoint.proofs[1:]
    assert all(proof["nonce"] not in endpoint.issued for proof in client_made)
    assert all(proof["domain"] == client_domain for proof in client_made)
    assert all(proof["uri"] == f"{LOCAL_URL}/api/read" for proof in client_made)
    assert all(siwx_signer(header) == ADDRESS for header in endpoint.headers)


async def test_refused_client_made_proof_falls_back_to_the_challenge_for_good(
    router: respx.MockRouter,
) -> None:
    endpoint = mock_read(router, accept_client_nonces=False)

    async with make_client() as giga:
        await giga.read("run_1")  # challenge, signed
        await giga.read("run_1")  # client-made (refused), challenge, signed
        await giga.read("run_1")  # challenge, signed: no more client-made proofs

    with_proof = [SIWX_HEADER in request.headers for request in endpoint.requests]
    assert with_proof == [False, True, True, False, True, False, True]
    assert [proof["nonce"] in endpoint.issued for proof in endpoint.proofs] == [
        True,
        False,
        True,
        True,
    ]


async def test_client_made_proofs_are_remembered_per_client(router: respx.MockRouter) -> None:
    endpoint = mock_read(router)

    async with make_client() as first:
        await first.read("run_1")
    async with make_client() as second:
        await second.read("run_1")

    assert [SIWX_HEADER in r.headers for r in endpoint.requests] == [False, True, False, True]


@pytest.mark.parametrize(
    "code", ["siwx_expired", "siwx_nonce_used", "siwx_invalid_signature", "siwx_malformed"]
)
async def test_refused_proof_raises_authentication_error_with_code(
    router: respx.MockRouter, code: str
) -> None:
    endpoint = mock_read(router, refuse_with=code)

    async with make_client() as giga:
        with pytest.raises(AuthenticationError) as info:
            await giga.read("run_1")

    assert type(info.value) is AuthenticationError
    assert info.value.code == code
    assert code in str(info.value)
    assert len(endpoint.requests) == 2


async def test_every_read_signs_a_fresh_nonce(router: respx.MockRouter) -> None:
    endpoint = mock_read(router)
    other = mock_read(router, base_url=LOCAL_URL, accept_client_nonces=False)

    async with make_client() as giga, make_client(base_url=LOCAL_URL) as local:
        for _ in range(4):
            await giga.read("run_1")
            await local.read("run_1")

    nonces = [proof["nonce"] for proof in endpoint.proofs + other.proofs]
    assert len(nonces) == 9  # 4 + 4 signed reads, and one refused client-made proof
    assert len(set(nonces)) == len(nonces)


async def test_read_accepts_challenge_carried_only_in_payment_required_header(
    router: respx.MockRouter,
) -> None:
    endpoint = mock_read(router)

    def header_only(request: httpx.Request) -> httpx.Response:
        if SIWX_HEADER in request.headers:
            return endpoint(request)
        info = siwx_info(BASE_URL, "/api/read")
        endpoint.issued.append(info["nonce"])
        return httpx.Response(402, headers={"PAYMENT-REQUIRED": b64json(siwx_required(info))})

    router.post(f"{BASE_URL}/api/read").mock(side_effect=header_only)

    async with make_client() as giga:
        run = await giga.read("run_1")

    assert run.id == "run_1"
    assert endpoint.proofs[0]["nonce"] == endpoint.issued[0]


async def test_read_reports_402_without_any_challenge(router: respx.MockRouter) -> None:
    route = router.post(f"{BASE_URL}/api/read").mock(return_value=httpx.Response(402))

    async with make_client() as giga:
        with pytest.raises(GigaProtocolError, match="challenge"):
            await giga.read("run_1")

    assert route.call_count == 1


async def test_read_refuses_402_whose_challenge_is_not_siwx(router: respx.MockRouter) -> None:
    route = router.post(f"{BASE_URL}/api/read").mock(
        return_value=httpx.Response(402, json={"x402Version": 2, "accepts": []})
    )

    async with make_client() as giga:
        with pytest.raises(SiwxChallengeError):
            await giga.read("run_1")

    assert route.call_count == 1


async def test_read_refuses_challenge_for_another_chain(router: respx.MockRouter) -> None:
    endpoint = mock_read(router, chains=[{"chainId": "eip155:1", "type": "eip191"}])

    async with make_client() as giga:
        with pytest.raises(SiwxChallengeError, match="eip155:8453"):
            await giga.read("run_1")

    assert endpoint.headers == []


async def test_read_without_auth_needed_sends_no_proof(router: respx.MockRouter) -> None:
    route = router.post(f"{BASE_URL}/api/read").mock(
        return_value=httpx.Response(200, json=run_json())
    )

    async with make_client() as giga:
        run = await giga.read("run_1")

    assert run.id == "run_1"
    assert route.call_count == 1
    assert SIWX_HEADER not in route.calls[0].request.headers


@pytest.mark.parametrize("base_url", ["https://Giga.Example", "https://giga.example:443"])
async def test_read_accepts_challenge_for_an_equivalent_spelling_of_the_origin(
    router: respx.MockRouter, base_url: str
) -> None:
    endpoint = mock_read(router)

    async with make_client(base_url=base_url) as giga:
        run = await giga.read("run_1")

    assert run.id == "run_1"
    assert len(endpoint.headers) == 1
