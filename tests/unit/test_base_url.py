"""Base URLs: one canonical form per origin, plain http only to this machine, no user info."""

from __future__ import annotations

import httpx
import pytest

from prefect_giga import GigaClient, GigaConfigError, GigaCredentials, GigaError
from prefect_giga.core.exchange import canonical_origin, normalize_base_url

KEY = "0x" + "11" * 32
PASSWORD = "hunter2-do-not-show"


class CountingTransport(httpx.AsyncBaseTransport):
    """Counts every request a client tries to send; answers 402 with nothing to pay."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(503, json={"error": "unavailable"})


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("HTTPS://Giga.DEV:443/", "https://giga.dev"),
        ("https://giga.dev", "https://giga.dev"),
        ("https://giga.dev:8443/", "https://giga.dev:8443"),
        ("http://LOCALHOST:80/", "http://localhost"),
        ("http://127.0.0.1:8402/", "http://127.0.0.1:8402"),
        ("http://[::1]:8402/api/", "http://[::1]:8402/api"),
        ("http://api.localhost:9000", "http://api.localhost:9000"),
    ],
)
def test_base_url_has_one_canonical_form(given: str, canonical: str) -> None:
    assert normalize_base_url(given) == canonical == canonical_origin(given)


@pytest.mark.parametrize(
    "url", ["http://giga.dev", "http://10.0.0.5:8402", "http://[2001:db8::1]/", "http://0.0.0.0"]
)
def test_plain_http_to_a_host_that_is_not_loopback_is_refused(url: str) -> None:
    with pytest.raises(GigaConfigError, match="allow_insecure_http"):
        normalize_base_url(url)
    assert normalize_base_url(url, allow_insecure_http=True).startswith("http://")


@pytest.mark.parametrize(
    "url",
    [
        f"https://bob:{PASSWORD}@giga.dev",
        f"http://bob:{PASSWORD}@127.0.0.1:8402",
        f"https://{PASSWORD}@giga.dev",
    ],
)
def test_user_info_is_refused_without_showing_the_password(url: str) -> None:
    with pytest.raises(GigaConfigError) as refused:
        normalize_base_url(url)
    assert "user info" in str(refused.value) and PASSWORD not in str(refused.value)
    with pytest.raises(GigaConfigError) as from_client:
        GigaClient(private_key=KEY, base_url=url)
    assert PASSWORD not in f"{from_client.value}{from_client.value!r}"
    with pytest.raises(ValueError) as from_block:
        GigaCredentials(private_key=KEY, base_url=url)
    assert PASSWORD not in f"{from_block.value}{from_block.value!r}"


@pytest.mark.parametrize("url", ["ftp://giga.dev", "giga.dev", "https://", "https://giga.dev/?a=1"])
def test_other_malformed_base_urls_are_refused(url: str) -> None:
    with pytest.raises(GigaConfigError):
        normalize_base_url(url)


async def test_http_to_a_public_host_is_refused_before_any_request() -> None:
    transport = CountingTransport()
    async with httpx.AsyncClient(transport=transport) as http:
        with pytest.raises(GigaConfigError, match="plain http"):
            GigaClient(private_key=KEY, base_url="http://giga.example", http_client=http)
        with pytest.raises(ValueError, match="plain http"):
            GigaCredentials(private_key=KEY, base_url="http://giga.example")
        assert transport.requests == []
        # The same host with the user's explicit consent: the transport sees the request.
        giga = GigaClient(
            private_key=KEY,
            base_url="http://giga.example",
            http_client=http,
            allow_insecure_http=True,
        )
        with pytest.raises(GigaError):  # the server is down
            await giga.quote("hello")
        assert transport.requests
        assert {(r.url.scheme, r.url.host) for r in transport.requests} == {
            ("http", "giga.example")
        }


def test_credentials_pass_allow_insecure_http_to_the_client() -> None:
    block = GigaCredentials(
        private_key=KEY, base_url="http://giga.example:80/", allow_insecure_http=True
    )
    assert block.base_url == "http://giga.example"
    client = block.get_client()
    assert client.base_url == "http://giga.example"
    assert repr(client).startswith("GigaClient(base_url='http://giga.example'")
