"""Downloads: streamed byte for byte through a temp file, refusing paths that escape the folder,
capped in size, refreshing an expired link once, following redirects without credentials."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from prefect_giga import RetryPolicy
from prefect_giga.client.files import safe_destination, write_stream_atomically
from prefect_giga.core.exceptions import (
    FileTooLargeError,
    GigaTransportError,
    LinkExpiredError,
    RunFileNotFoundError,
    UnsafePathError,
)

from ._giga_fakes import (
    BASE_URL,
    FILE_URL,
    PAYMENT_SIGNATURE,
    SIWX_HEADER,
    TOKEN,
    Script,
    SiwxEndpoint,
    file_url_json,
    make_client,
)

CONTENT = bytes(range(256)) * 1_200  # 300 KiB, every byte value


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() or p.is_symlink())


def mock_file_url(router: respx.MockRouter) -> SiwxEndpoint:
    endpoint = SiwxEndpoint(lambda _: httpx.Response(200, json=file_url_json()))
    router.post(f"{BASE_URL}/api/file-url").mock(side_effect=endpoint)
    return endpoint


def mock_file(router: respx.MockRouter, reply: Any) -> respx.Route:
    return router.get(f"{BASE_URL}/api/file", params={"token": TOKEN}).mock(side_effect=reply)


def chunked(*chunks: bytes, then: BaseException | None = None) -> Any:
    """A reply streamed in chunks, without Content-Length, optionally failing midway."""

    def reply(_: httpx.Request) -> httpx.Response:
        async def body() -> AsyncIterator[bytes]:
            for chunk in chunks:
                yield chunk
            if then is not None:
                raise then

        return httpx.Response(200, content=body())

    return reply


def attachment(content: bytes = CONTENT) -> Any:
    return lambda _: httpx.Response(
        200,
        content=content,
        headers={"Content-Disposition": 'attachment; filename="output.md"'},
    )


async def test_download_streams_the_file_byte_for_byte(
    router: respx.MockRouter, tmp_path: Path
) -> None:
    mock_file_url(router)
    route = mock_file(router, attachment())

    async with make_client() as giga:
        downloaded = await giga.download_file("run_1", "output.md", tmp_path)

    assert downloaded.local_path == tmp_path / "output.md"
    assert downloaded.local_path.read_bytes() == CONTENT
    assert downloaded.size == len(CONTENT)
    assert downloaded.sha256 == hashlib.sha256(CONTENT).hexdigest()
    assert downloaded.remote_path == "output.md"
    assert files_under(tmp_path) == [tmp_path / "output.md"]
    assert route.call_count == 1


async def test_download_returns_the_local_path_and_writes_chunked_bodies(
    router: respx.MockRouter, tmp_path: Path
) -> None:
    mock_file_url(router)
    mock_file(router, chunked(CONTENT[:1000], CONTENT[1000:5000], CONTENT[5000:]))

    async with make_client() as giga:
        local = await giga.download("run_1", "output.md", str(tmp_path))

    assert local == tmp_path / "output.md"
    assert local.read_bytes() == CONTENT


async def test_download_creates_nested_folders(router: respx.MockRouter, tmp_path: Path) -> None:
    mock_file_url(router)
    mock_file(router, attachment(b"# Summary\n"))
    dest = tmp_path / "outputs"

    async with make_client() as giga:
        local = await giga.download("run_1", "reports/2026/summary.md", dest)

    assert local == dest / "reports" / "2026" / "summary.md"
    assert local.read_bytes() == b"# Summary\n"


async def test_download_replaces_an_existing_file(router: respx.MockRouter, tmp_path: Path) -> None:
    (tmp_path / "output.md").write_bytes(b"old")
    mock_file_url(router)
    mock_file(router, attachment(b"new"))

    async with make_client() as giga:
        await giga.download("run_1", "output.md", tmp_path)

    assert (tmp_path / "output.md").read_bytes() == b"new"
    assert files_under(tmp_path) == [tmp_path / "output.md"]


@pytest.mark.parametrize(
    "path",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "reports/../../escape.md",
        "..\\..\\evil.txt",
        "reports\\..\\..\\evil.txt",
        "C:\\Windows\\evil.txt",
        "C:evil.txt",
        "\\\\server\\share\\evil.txt",
        "",
        "   ",
        "out\x00.md",
    ],
    ids=[
        "dotdot",
        "absolute",
        "nested-dotdot",
        "backslash-dotdot",
        "mixed-backslash",
        "drive-letter",
        "drive-relative",
        "unc",
        "empty",
        "blank",
        "nul-byte",
    ],
)
async def test_download_refuses_unsafe_paths_before_any_request(
    router: respx.MockRouter, tmp_path: Path, path: str
) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()

    async with make_client() as giga:
        with pytest.raises(UnsafePathError):
            await giga.download("run_1", path, dest)

    assert len(router.calls) == 0
    assert files_under(tmp_path) == []


async def test_download_refuses_a_symlink_escaping_dest(
    router: respx.MockRouter, tmp_path: Path
) -> None:
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    dest.mkdir()
    outside.mkdir()
    (dest / "link").symlink_to(outside, target_is_directory=True)

    async with make_client() as giga:
        with pytest.raises(UnsafePathError, match="resolves outside"):
            await giga.download("run_1", "link/stolen.txt", dest)

    assert len(router.calls) == 0
    assert list(outside.iterdir()) == []


async def test_download_refuses_a_symlinked_target_file(
    router: respx.MockRouter, tmp_path: Path
) -> None:
    dest, victim = tmp_path / "dest", tmp_path / "victim.txt"
    dest.mkdir()
    victim.write_text("keep me")
    (dest / "output.md").symlink_to(victim)

    async with make_client() as giga:
        with pytest.raises(UnsafePathError):
            await giga.download("run_1", "output.md", dest)

    assert victim.read_text() == "keep me"
    assert len(router.calls) == 0


def test_safe_destination_allows_a_symlink_that_stays_inside(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real", target_is_directory=True)

    target = safe_destination(tmp_path, "alias/a.md")

    assert target == tmp_path.resolve() / "alias" / "a.md"


@pytest.mark.parametrize("path", [".", "./", "./."])
def test_safe_destination_refuses_a_path_naming_dest_itself(tmp_path: Path, path: str) -> None:
    with pytest.raises(UnsafePathError):
        safe_destination(tmp_path, path)


async def test_download_refuses_a_path_naming_dest_itself_before_any_request(
    router: respx.MockRouter, tmp_path: Path
) -> None:
    mock_file_url(router)
    mock_file(router, attachment())

    async with make_client() as giga:
        with pytest.raises(UnsafePathError):
            await giga.download("run_1", ".", tmp_path)

    assert len(router.calls) == 0


@pytest.mark.parametrize("cap_on", ["call", "client"])
async def test_download_refuses_a_declared_size_above_the_cap(
    router: respx.MockRouter, tmp_path: Path, cap_on: str
) -> None:
    mock_file_url(router)
    mock_file(router, attachment())
    client_cap = 1_000 if cap_on == "client" else None
    call_cap = 1_000 if cap_on == "call" else None

    async with make_client(max_download_bytes=client_cap) as giga:
        with pytest.raises(FileTooLargeError, match="1000-byte cap"):
            await giga.download("run_1", "output.md", tmp_path, max_bytes=call_cap)

    assert files_under(tmp_path) == []


async def test_download_stops_a_stream_that_grows_past_the_cap(
    router: respx.MockRouter, tmp_path: Path
) -> None:
    mock_file_url(router)
    mock_file(router, chunked(b"a" * 600, b"b" * 600, b"c" * 600))

    async with make_client() as giga:
        with pytest.raises(FileTooLargeError):
            await giga.download("run_1", "reports/output.md", tmp_path, max_bytes=1_000)

    assert files_under(tmp_path) == []


async def test_download_keeps_a_file_exactly_at_the_cap(
    router: respx.MockRouter, tmp_path: Path
) -> None:
    mock_file_url(router)
    mock_file(router, chunked(b"a" * 500, b"b" * 500))

    async with make_client() as giga:
        local = await giga.download("run_1", "output.md", tmp_path, max_bytes=1_000)

    assert local.stat().st_size == 1_000


async def test_download_failing_midway_leaves_no_file_and_keeps_the_old_one(
    router: respx.MockRouter, tmp_path: Path
) -> None:
    (tmp_path / "keep.md").write_bytes(b"previous version")
    mock_file_url(router)
    mock_file(router, chunked(b"partial", then=httpx.ReadError("connection reset")))

    async with make_client(retry=RetryPolicy(attempts=1)) as giga:
        with pytest.raises(GigaTransportError):
            await giga.download("run_1", "new.md", tmp_path)
        with pytest.raises(GigaTransportError):
            await giga.download("run_1", "keep.md", tmp_path)

    assert files_under(tmp_path) == [tmp_path / "keep.md"]
    assert (tmp_path / "keep.md").read_bytes() == b"previous version"


async def test_download_retries_a_broken_stream_with_the_same_link(
    router: respx.MockRouter, tmp_path: Path
) -> None:
    links = mock_file_url(router)
    mock_file(
        router,
        Script(chunked(b"partial", then=httpx.ReadError("connection reset")), attachment()),
    )

    async with make_client() as giga:
        local = await giga.download("run_1", "output.md", tmp_path)

    assert local.read_bytes() == CONTENT
    assert len(links.headers) == 1  # the link is valid for an hour: no second file-url call
    assert files_under(tmp_path) == [local]


@pytest.mark.parametrize("status", [401, 403, 410])
async def test_download_fetches_a_fresh_link_once_then_reports_expiry(
    router: respx.MockRouter, tmp_path: Path, status: int
) -> None:
    links = mock_file_url(router)
    route = mock_file(router, lambda _: httpx.Response(status, text="link expired"))

    async with make_client() as giga:
        with pytest.raises(LinkExpiredError, match=str(status)):
            await giga.download("run_1", "output.md", tmp_path)

    assert len(links.headers) == 2
    assert route.call_count == 2
    assert files_under(tmp_path) == []


async def test_download_succeeds_with_the_fresh_link(
    router: respx.MockRouter, tmp_path: Path
) -> None:
    links = mock_file_url(router)
    route = mock_file(router, Script(httpx.Response(410), attachment()))

    async with make_client() as giga:
        local = await giga.download("run_1", "output.md", tmp_path)

    assert local.read_bytes() == CONTENT
    assert len(links.headers) == 2
    assert route.call_count == 2


async def test_download_maps_404_to_run_file_not_found(
    router: respx.MockRouter, tmp_path: Path
) -> None:
    mock_file_url(router)
    route = mock_file(router, lambda _: httpx.Response(404))

    async with make_client() as giga:
        with pytest.raises(RunFileNotFoundError):
            await giga.download("run_1", "output.md", tmp_path)

    assert route.call_count == 1
    assert files_under(tmp_path) == []


async def test_download_follows_redirects_without_credentials(
    router: respx.MockRouter, tmp_path: Path
) -> None:
    mock_file_url(router)
    mock_file(
        router, lambda _: httpx.Response(302, headers={"Location": "https://cdn.example/blob/1"})
    )
    cdn = router.get("https://cdn.example/blob/1").mock(side_effect=attachment())

    async with make_client() as giga:
        local = await giga.download("run_1", "output.md", tmp_path)

    assert local.read_bytes() == CONTENT
    assert cdn.call_count == 1
    headers = cdn.calls[0].request.headers
    assert SIWX_HEADER not in headers
    assert PAYMENT_SIGNATURE not in headers
    assert "authorization" not in headers


async def test_download_sends_no_proof_to_the_presigned_url(
    router: respx.MockRouter, tmp_path: Path
) -> None:
    mock_file_url(router)
    route = mock_file(router, attachment())

    async with make_client() as giga:
        await giga.download("run_1", "output.md", tmp_path)

    request = route.calls[0].request
    assert str(request.url) == FILE_URL
    assert SIWX_HEADER not in request.headers


async def test_download_refuses_unsafe_path_before_asking_for_a_link(
    router: respx.MockRouter, tmp_path: Path
) -> None:
    links = mock_file_url(router)

    async with make_client() as giga:
        with pytest.raises(UnsafePathError):
            await giga.download("run_1", "../escape.md", tmp_path)

    assert links.requests == []


async def test_write_stream_atomically_leaves_no_part_file_on_error(tmp_path: Path) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"partial"
        raise RuntimeError("stream broke")

    with pytest.raises(RuntimeError):
        await write_stream_atomically(chunks(), tmp_path / "out.bin")

    assert os.listdir(tmp_path) == []
