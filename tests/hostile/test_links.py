"""A server whose presigned links point elsewhere: another origin over http, a redirect from
https to http, private and link-local addresses (by literal or through a name).

Listeners on loopback count what reaches them; names resolve through a stubbed resolver and
the network guard refuses (and counts) any connection beyond 127.0.0.0/8.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from prefect_giga import GigaClient
from prefect_giga.core.exceptions import UnsafeLinkError
from prefect_giga.harvest import harvest
from prefect_giga.testing import GigaEmulator
from tests.faults.items import prompt_for
from tests.faults.support import read_until_terminal

from .support import TALLY, Listener, NetworkGuard, Route, make_tls_files, stub_resolver

FILES_HOST = "files.example"
BODY = b"the real file\n"


@pytest.fixture
def trap() -> Iterator[Listener]:
    """A plain-http listener on another loopback port: nothing may reach it."""
    with Listener({"/trap": Route(b"internal data\n")}) as listener:
        yield listener
    TALLY.foreign_requests += len(listener.requests)


@pytest.fixture
def tls_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trap: Listener
) -> Iterator[Listener]:
    """An https listener for ``files.example`` (resolved to loopback by the stub resolver):
    ``/file`` serves a file, ``/to-http`` redirects to the trap over plain http."""
    ca, server = make_tls_files(tmp_path, [FILES_HOST])
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    routes = {"/file": Route(BODY), "/to-http": Route(location=trap.url("/trap"))}
    with Listener(routes, tls=server) as listener:
        yield listener


async def _finished(giga: GigaClient, key: str) -> str:
    started = await giga.start(prompt_for(key), idempotency_key=key)
    await read_until_terminal(giga, started.run_id)
    return started.run_id


async def test_https_link_to_another_host_is_fetched_with_its_name_kept(
    emulator: GigaEmulator,
    make_client: Callable[..., GigaClient],
    monkeypatch: pytest.MonkeyPatch,
    tls_files: Listener,
    dest: Path,
) -> None:
    # The control case: a proper https link on a name that resolves to an allowed address
    # is fetched, TLS verifying the name (so the resolved address did not replace it).
    asked = stub_resolver(monkeypatch, {FILES_HOST: ["127.0.0.1"]})
    async with make_client() as giga:
        run_id = await _finished(giga, "tls-ok")
        emulator.hostile.file_link = tls_files.url("/file?token=t", host=FILES_HOST)
        local = await giga.download(run_id, "output.md", dest)
    assert local.read_bytes() == BODY
    assert asked == [FILES_HOST] and tls_files.requests == [("GET", "/file?token=t")]


async def test_link_to_another_origin_over_http_is_refused_and_never_fetched(
    emulator: GigaEmulator,
    make_client: Callable[..., GigaClient],
    trap: Listener,
    network: NetworkGuard,
    dest: Path,
) -> None:
    async with make_client() as giga:
        run_id = await _finished(giga, "http-link")
        emulator.hostile.file_link = trap.url("/trap")
        with pytest.raises(UnsafeLinkError, match="plain http") as caught:
            await giga.download(run_id, "output.md", dest)
        run = await giga.read(run_id, include_files=True)
        with pytest.raises(UnsafeLinkError):
            await harvest(giga, run, dest)
    TALLY.case("link", caught.value)
    assert trap.requests == [] and network.to_port(trap.port) == 0
    assert not (dest / "output.md").exists()


async def test_redirect_from_https_to_http_is_refused_and_never_followed(
    emulator: GigaEmulator,
    make_client: Callable[..., GigaClient],
    monkeypatch: pytest.MonkeyPatch,
    tls_files: Listener,
    trap: Listener,
    network: NetworkGuard,
    dest: Path,
) -> None:
    stub_resolver(monkeypatch, {FILES_HOST: ["127.0.0.1"]})
    async with make_client() as giga:
        run_id = await _finished(giga, "to-http")
        emulator.hostile.file_link = tls_files.url("/to-http?token=t", host=FILES_HOST)
        with pytest.raises(UnsafeLinkError, match="https to http") as caught:
            await giga.download(run_id, "output.md", dest)
    TALLY.case("link", caught.value)
    assert tls_files.requests == [("GET", "/to-http?token=t")]  # the redirect came from there
    assert trap.requests == [] and network.to_port(trap.port) == 0
    assert not (dest / "output.md").exists()


async def test_same_origin_link_redirecting_to_another_http_origin_is_refused(
    emulator: GigaEmulator,
    make_client: Callable[..., GigaClient],
    trap: Listener,
    network: NetworkGuard,
    dest: Path,
) -> None:
    async with make_client() as giga:
        run_id = await _finished(giga, "redirect-away")
        emulator.faults.redirects["file"] = trap.url("/trap")
        with pytest.raises(UnsafeLinkError) as caught:
            await giga.download(run_id, "output.md", dest)
    TALLY.case("link", caught.value)
    assert trap.requests == [] and network.to_port(trap.port) == 0


INTERNAL_LINKS = [
    ("private literal", "https://10.0.0.5/f?token=t", {}),
    ("link-local literal (cloud metadata)", "https://169.254.169.254/latest/meta-data", {}),
    ("IPv6 link-local literal", "https://[fe80::1]/f", {}),
    (
        "name resolving to a private address",
        "https://internal.example/f",
        {
            "internal.example": ["10.1.2.3"],
        },
    ),
    (
        "name resolving to link-local",
        "https://metadata.example/f",
        {
            "metadata.example": ["169.254.169.254"],
        },
    ),
    (
        "name resolving to public and private addresses",
        "https://mixed.example/f",
        {
            "mixed.example": ["93.184.216.34", "192.168.1.10"],
        },
    ),
]


@pytest.mark.parametrize(
    ("name", "link", "names"), INTERNAL_LINKS, ids=[n for n, _, _ in INTERNAL_LINKS]
)
async def test_link_to_an_internal_address_is_refused_before_connecting(
    emulator: GigaEmulator,
    make_client: Callable[..., GigaClient],
    monkeypatch: pytest.MonkeyPatch,
    network: NetworkGuard,
    dest: Path,
    name: str,
    link: str,
    names: dict[str, list[str]],
) -> None:
    asked = stub_resolver(monkeypatch, names)
    async with make_client() as giga:
        run_id = await _finished(giga, "internal")
        emulator.hostile.file_link = link
        connections_before = len(network.connections)
        with pytest.raises(UnsafeLinkError) as caught:
            await giga.download(run_id, "output.md", dest)
        connections_after = len(network.connections)
    TALLY.case("link", caught.value)
    assert network.refused == []  # the client never even tried to connect beyond loopback
    assert connections_after == connections_before  # no connection at all for the link
    assert asked == list(names)  # names were resolved (and judged) by the client itself
    assert not (dest / "output.md").exists()


async def test_redirect_to_a_name_resolving_to_loopback_is_refused_for_a_public_api(
    monkeypatch: pytest.MonkeyPatch, network: NetworkGuard, tls_files: Listener
) -> None:
    # With a public API, loopback is as internal as any private address: the guard that
    # runs when connecting refuses it, even though the URL names a public-looking host.
    from prefect_giga.client.links import SafeLinks

    stub_resolver(monkeypatch, {FILES_HOST: ["127.0.0.1"]})
    links = SafeLinks("https://giga.example", timeout=5, max_connections=2)
    try:
        with pytest.raises(UnsafeLinkError, match="loopback") as caught:
            async with links.open(tls_files.url("/file", host=FILES_HOST), "test"):
                pass
    finally:
        await links.aclose()
    TALLY.case("link", caught.value)
    assert tls_files.requests == [] and network.to_port(tls_files.port) == 0
