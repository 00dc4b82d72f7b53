"""Download defaults: a cap on by default, Content-Length lies refused, link rules checked
before any request, and the redaction filter on every HTTP logger (child loggers included)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import respx

from prefect_giga.client.files import DEFAULT_MAX_DOWNLOAD_BYTES, ByteBudget
from prefect_giga.client.links import LinkPolicy, address_kind
from prefect_giga.core.exceptions import FileTooLargeError, GigaProtocolError, UnsafeLinkError
from prefect_giga.core.http import REDACTED_LOGGERS, install_log_redaction

from ._giga_fakes import BASE_URL, TOKEN, SiwxEndpoint, file_url_json, make_client

BODY = b"0123456789" * 10


def serve(router: respx.MockRouter, reply: httpx.Response, url: str | None = None) -> respx.Route:
    link = url or f"{BASE_URL}/api/file?token={TOKEN}"
    endpoint = SiwxEndpoint(lambda _: httpx.Response(200, json=file_url_json(link)))
    router.post(f"{BASE_URL}/api/file-url").mock(side_effect=endpoint)
    return router.get(link).mock(return_value=reply)


def lying(declared: int, body: bytes) -> httpx.Response:
    async def stream() -> AsyncIterator[bytes]:
        yield body

    return httpx.Response(200, headers={"content-length": str(declared)}, content=stream())


def test_a_client_caps_downloads_by_default() -> None:
    assert make_client().max_download_bytes == DEFAULT_MAX_DOWNLOAD_BYTES
    assert make_client(max_download_bytes=None).max_download_bytes is None


@pytest.mark.parametrize("declared", [len(BODY) - 1, len(BODY) + 1, 0])
async def test_a_body_that_does_not_match_its_content_length_is_not_kept(
    router: respx.MockRouter, tmp_path: Path, declared: int
) -> None:
    serve(router, lying(declared, BODY))
    async with make_client() as giga:
        with pytest.raises(GigaProtocolError, match="declared"):
            await giga.download("run_1", "output.md", tmp_path)
    assert list(tmp_path.iterdir()) == []


async def test_a_body_matching_its_content_length_is_kept(
    router: respx.MockRouter, tmp_path: Path
) -> None:
    serve(router, lying(len(BODY), BODY))
    async with make_client() as giga:
        local = await giga.download("run_1", "output.md", tmp_path)
    assert local.read_bytes() == BODY


async def test_a_content_length_that_is_not_one_number_is_refused(
    router: respx.MockRouter, tmp_path: Path
) -> None:
    reply = httpx.Response(200, headers=[("content-length", "5"), ("content-length", "7")])
    serve(router, reply)
    async with make_client() as giga:
        with pytest.raises(GigaProtocolError, match="Content-Length"):
            await giga.download("run_1", "output.md", tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "link",
    [
        "http://files.example/f?token=t",
        "https://user:pw@files.example/f",
        "https://10.0.0.1/f",
        "https://127.0.0.1/f",
        "ftp://files.example/f",
    ],
)
async def test_an_unsafe_link_is_refused_before_it_is_requested(
    router: respx.MockRouter, tmp_path: Path, link: str
) -> None:
    route = serve(router, httpx.Response(200, content=BODY), url=link)
    async with make_client() as giga:
        with pytest.raises((UnsafeLinkError, GigaProtocolError)):
            await giga.download("run_1", "output.md", tmp_path)
    assert route.call_count == 0 and list(tmp_path.iterdir()) == []


async def test_a_redirect_from_https_to_http_is_not_followed(
    router: respx.MockRouter, tmp_path: Path
) -> None:
    hop = router.get("http://mirror.example/f").mock(return_value=httpx.Response(200))
    serve(router, httpx.Response(302, headers={"location": "http://mirror.example/f"}))
    async with make_client() as giga:
        with pytest.raises(UnsafeLinkError, match="https to http"):
            await giga.download("run_1", "output.md", tmp_path)
    assert hop.call_count == 0


def test_the_api_origin_may_use_plain_http_and_its_kind_of_address() -> None:
    local = LinkPolicy.for_api("http://127.0.0.1:8402")
    local.check_url("http://127.0.0.1:8402/api/file?token=t")
    local.check_address("files.local", "127.0.0.1")
    with pytest.raises(UnsafeLinkError):
        local.check_address("files.local", "10.0.0.1")
    with pytest.raises(UnsafeLinkError):
        local.check_url("http://127.0.0.1:9999/api/file")  # another origin
    public = LinkPolicy.for_api("https://giga.example")
    with pytest.raises(UnsafeLinkError):
        public.check_address("files.example", "::ffff:127.0.0.1")
    assert [address_kind(a) for a in ("fe80::1", "0.0.0.0", "100.64.0.1")] == [
        "link-local",
        "never",
        "private",
    ]


def test_a_run_budget_refuses_the_byte_past_its_limit() -> None:
    budget = ByteBudget(10)
    budget.take(10, "a")
    with pytest.raises(FileTooLargeError, match="max_run_bytes"):
        budget.take(1, "b")


@pytest.mark.parametrize(
    "logger", ["httpx", "httpcore.http11", "httpcore.connection", "httpcore.http2", "hpack.hpack"]
)
def test_every_http_logger_masks_tokens_and_proofs(
    caplog: pytest.LogCaptureFixture, logger: str
) -> None:
    install_log_redaction()
    proof = "eyJ" + "A" * 200
    caplog.set_level(logging.DEBUG)
    logging.getLogger(logger).debug(
        "send_request_headers.started request=%s headers=%s",
        f"GET /api/file?token={TOKEN}",
        [(b"sign-in-with-x", proof.encode())],
    )
    [record] = [r for r in caplog.records if r.name == logger]
    assert TOKEN not in caplog.text and proof not in caplog.text
    assert "[redacted]" in record.getMessage()
    assert logger in REDACTED_LOGGERS


def test_a_logger_created_before_installation_is_covered_too(
    caplog: pytest.LogCaptureFixture,
) -> None:
    child = logging.getLogger("httpcore.made_up_child")
    install_log_redaction()
    caplog.set_level(logging.DEBUG)
    child.debug("GET /f?token=%s", TOKEN)
    assert TOKEN not in caplog.text
