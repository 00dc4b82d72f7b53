"""HTTP plumbing: retries of free calls (5xx, 429 with Retry-After, connection errors), redirects
never followed on API calls, every httpx failure mapped to a `GigaError`, redaction helpers."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from prefect_giga import RetryPolicy
from prefect_giga.core.exceptions import (
    AuthenticationError,
    GigaError,
    GigaProtocolError,
    GigaServerError,
    GigaTransportError,
    OutcomeUnknownError,
    RateLimitedError,
)
from prefect_giga.core.http import excerpt, parse_json, redact, retry_after_seconds

from ._giga_fakes import (
    BASE_URL,
    EVIL_URL,
    NO_WAIT_RECONCILE,
    PAYMENT_SIGNATURE,
    SIWX_HEADER,
    TOKEN,
    Script,
    SiwxEndpoint,
    StartEndpoint,
    file_url_json,
    make_client,
    mock_list,
    run_json,
)

READ_URL = f"{BASE_URL}/api/read"


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """Record the waits the retry policy asks for, without waiting.

    Only this test's thread is affected: an emulator serving in a background thread (a
    session fixture of another test module) keeps its real ``asyncio.sleep``.
    """
    waited: list[float] = []
    real_sleep = asyncio.sleep
    test_thread = threading.get_ident()

    async def fake_sleep(delay: float, result: Any = None) -> Any:
        if threading.get_ident() != test_thread:
            return await real_sleep(delay, result)
        waited.append(delay)
        return result

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    yield waited


def flaky_read(router: respx.MockRouter, *failures: Any) -> tuple[respx.Route, SiwxEndpoint]:
    endpoint = SiwxEndpoint(run_json())
    route = router.post(READ_URL).mock(side_effect=Script(*failures, endpoint))
    return route, endpoint


# --- the retry policy itself -------------------------------------------------------------


async def test_retry_policy_awaits_a_lambda_returning_a_coroutine() -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 2:
            raise GigaServerError("busy", status_code=503)
        return "ok"

    # start() and quote() pass a lambda like this one; tenacity only awaits what it sees as a
    # coroutine function (this was a bug: start() failed with "cannot unpack coroutine").
    result = await RetryPolicy(attempts=3, initial_backoff=0, max_backoff=0).call(lambda: flaky())

    assert result == "ok"
    assert calls == 2


async def test_retry_policy_retries_a_coroutine_function() -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise GigaTransportError("reset")
        return "ok"

    result = await RetryPolicy(attempts=3, initial_backoff=0, max_backoff=0).call(flaky)

    assert result == "ok"
    assert calls == 3


def test_retry_wait_honours_retry_after_over_backoff() -> None:
    policy = RetryPolicy(initial_backoff=10, max_backoff=10)
    limited = RateLimitedError("slow down", retry_after=7.5)

    assert policy._wait(1, limited) == 7.5
    assert 5 <= policy._wait(1, GigaServerError("busy", status_code=503)) <= 10


def test_retry_policy_retries_only_transient_errors() -> None:
    policy = RetryPolicy(max_retry_after=60)

    assert policy._retryable(GigaTransportError("reset"))
    assert policy._retryable(GigaServerError("busy", status_code=503))
    assert policy._retryable(RateLimitedError("slow", retry_after=None))
    assert policy._retryable(RateLimitedError("slow", retry_after=60))
    assert not policy._retryable(RateLimitedError("slow", retry_after=61))
    assert not policy._retryable(GigaServerError("bad", status_code=400))
    assert not policy._retryable(GigaProtocolError("garbled"))
    assert not policy._retryable(AuthenticationError("refused"))


# --- free calls retry --------------------------------------------------------------------


async def test_read_retries_a_server_error_then_succeeds(router: respx.MockRouter) -> None:
    route, endpoint = flaky_read(router, httpx.Response(503, text="busy"))

    async with make_client() as giga:
        run = await giga.read("run_1")

    assert run.id == "run_1"
    assert route.call_count == 3
    assert len(endpoint.headers) == 1


async def test_read_honours_retry_after_zero_then_succeeds(router: respx.MockRouter) -> None:
    route, _ = flaky_read(router, httpx.Response(429, headers={"Retry-After": "0"}))

    async with make_client() as giga:
        run = await giga.read("run_1")

    assert run.id == "run_1"
    assert route.call_count == 3


async def test_read_waits_as_long_as_retry_after_asks(
    router: respx.MockRouter, sleeps: list[float]
) -> None:
    later = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    flaky_read(
        router,
        httpx.Response(429, headers={"Retry-After": "7"}),
        httpx.Response(429, headers={"Retry-After": later}),
    )

    async with make_client(retry=RetryPolicy(attempts=3, initial_backoff=0, max_backoff=0)) as giga:
        await giga.read("run_1")

    assert sleeps[0] == 7.0
    assert 25 <= sleeps[1] <= 30


async def test_read_gives_up_at_once_when_retry_after_is_too_long(
    router: respx.MockRouter, sleeps: list[float]
) -> None:
    route, _ = flaky_read(router, httpx.Response(429, headers={"Retry-After": "3600"}))

    async with make_client(retry=RetryPolicy(attempts=3, max_retry_after=60)) as giga:
        with pytest.raises(RateLimitedError) as info:
            await giga.read("run_1")

    assert info.value.retry_after == 3600
    assert route.call_count == 1
    assert sleeps == []


async def test_read_backs_off_exponentially_within_bounds(
    router: respx.MockRouter, sleeps: list[float]
) -> None:
    router.post(READ_URL).mock(return_value=httpx.Response(503))

    async with make_client(retry=RetryPolicy(attempts=4, initial_backoff=1, max_backoff=3)) as giga:
        with pytest.raises(GigaServerError):
            await giga.read("run_1")

    assert len(sleeps) == 3
    assert 0.5 <= sleeps[0] <= 1
    assert 1 <= sleeps[1] <= 2
    assert 1.5 <= sleeps[2] <= 3


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("connection refused"), httpx.ReadTimeout("timed out")],
    ids=["connect-error", "read-timeout"],
)
async def test_read_retries_a_transport_error_then_succeeds(
    router: respx.MockRouter, failure: Exception
) -> None:
    route, _ = flaky_read(router, failure)

    async with make_client() as giga:
        run = await giga.read("run_1")

    assert run.id == "run_1"
    assert route.call_count == 3


@pytest.mark.parametrize(
    ("failure", "error", "status"),
    [
        (httpx.Response(503, text="busy"), GigaServerError, 503),
        (httpx.Response(429, headers={"Retry-After": "0"}), RateLimitedError, 429),
        (httpx.ConnectError("connection refused"), GigaTransportError, None),
    ],
    ids=["503", "429", "connect-error"],
)
async def test_read_gives_up_after_bounded_attempts_with_a_typed_error(
    router: respx.MockRouter, failure: Any, error: type[GigaError], status: int | None
) -> None:
    route = router.post(READ_URL).mock(side_effect=Script(failure))

    async with make_client() as giga:
        with pytest.raises(error) as info:
            await giga.read("run_1")

    assert route.call_count == 3
    assert getattr(info.value, "status_code", None) == status


@pytest.mark.parametrize("status", [400, 409, 422])
async def test_read_does_not_retry_a_client_error(router: respx.MockRouter, status: int) -> None:
    route = router.post(READ_URL).mock(return_value=httpx.Response(status, json={"e": "bad"}))

    async with make_client() as giga:
        with pytest.raises(GigaServerError) as info:
            await giga.read("run_1")

    assert info.value.status_code == status
    assert route.call_count == 1


async def test_server_error_message_is_redacted_and_short(router: respx.MockRouter) -> None:
    router.post(READ_URL).mock(
        return_value=httpx.Response(500, text=f"failed GET /api/file?token={TOKEN} " + "x" * 900)
    )

    async with make_client(retry=RetryPolicy(attempts=1)) as giga:
        with pytest.raises(GigaServerError) as info:
            await giga.read("run_1")

    assert TOKEN not in str(info.value)
    assert TOKEN not in info.value.body_excerpt
    assert len(info.value.body_excerpt) <= 303


async def test_download_tries_a_failing_file_url_at_most_attempts_times(
    router: respx.MockRouter, tmp_path: Path
) -> None:
    route = router.post(f"{BASE_URL}/api/file-url").mock(return_value=httpx.Response(503))

    async with make_client() as giga:
        with pytest.raises(GigaServerError):
            await giga.download("run_1", "output.md", tmp_path)

    assert route.call_count == 3


# --- redirects on API calls --------------------------------------------------------------


@pytest.fixture
def evil(router: respx.MockRouter) -> respx.Route:
    return router.route(host="evil.example").mock(return_value=httpx.Response(200, json=run_json()))


async def test_api_redirect_is_not_followed_before_signing(
    router: respx.MockRouter, evil: respx.Route
) -> None:
    router.post(READ_URL).mock(
        return_value=httpx.Response(302, headers={"Location": f"{EVIL_URL}/api/read"})
    )

    async with make_client() as giga:
        with pytest.raises(GigaProtocolError, match="redirect"):
            await giga.read("run_1")

    assert evil.call_count == 0


async def test_api_redirect_of_a_signed_read_does_not_forward_the_proof(
    router: respx.MockRouter, evil: respx.Route
) -> None:
    endpoint = SiwxEndpoint(
        lambda _: httpx.Response(307, headers={"Location": f"{EVIL_URL}/api/read"})
    )
    router.post(READ_URL).mock(side_effect=endpoint)

    async with make_client() as giga:
        with pytest.raises(GigaProtocolError, match="redirect"):
            await giga.read("run_1")

    assert len(endpoint.headers) == 1
    assert evil.call_count == 0


async def test_api_redirect_of_a_paid_start_does_not_forward_the_payment(
    router: respx.MockRouter, evil: respx.Route
) -> None:
    endpoint = StartEndpoint(
        paid=lambda _: httpx.Response(307, headers={"Location": f"{EVIL_URL}/api/start"})
    )
    router.post(f"{BASE_URL}/api/start").mock(side_effect=endpoint)

    async with make_client() as giga:
        with pytest.raises(GigaProtocolError, match="redirect"):
            await giga.start("Write a haiku")

    assert len(endpoint.payments) == 1
    assert evil.call_count == 0


async def test_api_redirect_is_not_followed_even_with_a_redirecting_http_client(
    router: respx.MockRouter, evil: respx.Route
) -> None:
    endpoint = SiwxEndpoint(
        lambda _: httpx.Response(307, headers={"Location": f"{EVIL_URL}/api/read"})
    )
    router.post(READ_URL).mock(side_effect=endpoint)

    async with make_client(http_client=httpx.AsyncClient(follow_redirects=True)) as giga:
        with pytest.raises(GigaProtocolError):
            await giga.read("run_1")

    assert evil.call_count == 0
    assert all(SIWX_HEADER not in call.request.headers for call in evil.calls)


# --- httpx failures beyond transport errors ----------------------------------------------


def garbled_gzip(_: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200,
        stream=httpx.ByteStream(b"this is not gzip"),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )


async def test_read_maps_an_undecodable_body_to_a_giga_error(router: respx.MockRouter) -> None:
    router.post(READ_URL).mock(side_effect=garbled_gzip)

    async with make_client() as giga:
        with pytest.raises(GigaError):
            await giga.read("run_1")


async def test_paid_reply_that_cannot_be_decoded_is_outcome_unknown(
    router: respx.MockRouter,
) -> None:
    endpoint = StartEndpoint(paid=garbled_gzip)
    router.post(f"{BASE_URL}/api/start").mock(side_effect=endpoint)

    mock_list(router)

    async with make_client() as giga:
        with pytest.raises(OutcomeUnknownError):
            await giga.start("Write a haiku", idempotency_key="job-1")

    assert len(endpoint.payments) == 1 + NO_WAIT_RECONCILE.resends
    assert len({r.headers[PAYMENT_SIGNATURE] for r in endpoint.payments}) == 1


async def test_download_redirect_loop_is_a_giga_error(
    router: respx.MockRouter, tmp_path: Path
) -> None:
    router.post(f"{BASE_URL}/api/file-url").mock(
        return_value=httpx.Response(200, json=file_url_json())
    )
    router.get(f"{BASE_URL}/api/file").mock(
        return_value=httpx.Response(
            302, headers={"Location": f"{BASE_URL}/api/file?token=loop-token-0123456789"}
        )
    )

    async with make_client() as giga:
        with pytest.raises(GigaError):
            await giga.download("run_1", "output.md", tmp_path)


# --- helpers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "hidden", "kept"),
    [
        (f"GET /api/file?token={TOKEN} 200", TOKEN, "token=[redacted]"),
        (f"url=https://h/api/file?token={TOKEN}&x=1", TOKEN, "&x=1"),
        ("Authorization: Bearer abc.DEF-123_xyz=", "abc.DEF-123_xyz", "Bearer [redacted]"),
        ("proof " + "QUJD" * 40, "QUJD" * 40, "proof [redacted]"),
        ("sig 0x" + "ab" * 65, "ab" * 65, "sig [redacted]"),
    ],
    ids=["token", "token-mid-query", "bearer", "long-base64", "signature-hex"],
)
def test_redact_masks_credentials(text: str, hidden: str, kept: str) -> None:
    masked = redact(text)

    assert hidden not in masked
    assert kept in masked


def test_redact_keeps_ordinary_text_and_public_hex() -> None:
    text = "run run_1 failed; nonce 0x" + "cd" * 32 + " on eip155:8453"

    assert redact(text) == text


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", 0.0), ("12", 12.0), ("1.5", 1.5), ("-3", 0.0), ("soon", None), (None, None)],
)
def test_retry_after_seconds_reads_delays(value: str | None, expected: float | None) -> None:
    headers = {} if value is None else {"Retry-After": value}

    assert retry_after_seconds(httpx.Response(429, headers=headers)) == expected


def test_retry_after_seconds_reads_http_dates() -> None:
    future = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=60), usegmt=True)
    past = format_datetime(datetime.now(timezone.utc) - timedelta(seconds=60), usegmt=True)

    ahead = retry_after_seconds(httpx.Response(429, headers={"Retry-After": future}))
    behind = retry_after_seconds(httpx.Response(429, headers={"Retry-After": past}))

    assert ahead is not None
    assert 55 <= ahead <= 60
    assert behind == 0.0


def test_excerpt_is_short_single_line_and_redacted() -> None:
    response = httpx.Response(500, text=f"line one\n  token={TOKEN}\n" + "word " * 200)

    text = excerpt(response, limit=50)

    assert "\n" not in text
    assert TOKEN not in text
    assert text.endswith("...")
    assert len(text) == 53


@pytest.mark.parametrize(
    "response",
    [httpx.Response(200, text="nope"), httpx.Response(200, json=[1, 2])],
    ids=["not-json", "not-object"],
)
def test_parse_json_names_the_call_that_broke(response: httpx.Response) -> None:
    with pytest.raises(GigaProtocolError, match="list runs"):
        parse_json(response, "list runs")
