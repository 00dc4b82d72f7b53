"""`read`, `list_runs`, `iter_runs` and `file_url`: parsing the replies, request bodies, and
the errors for missing runs and replies that do not follow the API."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

from prefect_giga import PresignedURL, RunStatus
from prefect_giga.core.exceptions import (
    GigaConfigError,
    GigaProtocolError,
    RunFileNotFoundError,
    RunNotFoundError,
)

from ._giga_fakes import (
    ADDRESS,
    BASE_URL,
    FILE_URL,
    TOKEN,
    SiwxEndpoint,
    body_of,
    file_url_json,
    make_client,
    run_json,
    summary_json,
)

COMPLETED = run_json(
    status="completed",
    updatedAt="2026-03-02T12:01:30.000Z",
    logs={
        "metadata": {
            "sessionId": "sess_1",
            "startedAt": "2026-03-02T12:00:05.000Z",
            "completedAt": "2026-03-02T12:01:28.000Z",
            "model": "claude-sonnet-4-6",
        },
        "records": [{"type": "text", "text": "Done"}, {"type": "tool_use", "name": "bash"}],
    },
    files=[
        {"path": "output.md", "type": "file", "size": 9422},
        {"path": "data/", "type": "directory", "size": 0},
    ],
)


def mock_endpoint(router: respx.MockRouter, path: str, reply: Any) -> SiwxEndpoint:
    endpoint = SiwxEndpoint(reply)
    router.post(BASE_URL + path).mock(side_effect=endpoint)
    return endpoint


def signed_bodies(endpoint: SiwxEndpoint) -> list[Any]:
    return [body_of(r) for r in endpoint.requests if "sign-in-with-x" in r.headers]


# --- read --------------------------------------------------------------------------------


async def test_read_accepts_null_logs_while_running(router: respx.MockRouter) -> None:
    endpoint = mock_endpoint(router, "/api/read", run_json())

    async with make_client() as giga:
        run = await giga.read("run_1")

    assert run.id == "run_1"
    assert run.status is RunStatus.RUNNING
    assert not run.status.is_terminal
    assert run.logs is None
    assert run.files is None
    assert run.error_code is None
    assert run.created_at == datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
    assert run.updated_at == datetime(2026, 3, 2, 12, 0, 10, tzinfo=timezone.utc)
    assert signed_bodies(endpoint) == [{"runId": "run_1", "includeFiles": False}]


async def test_read_parses_logs_metadata_records_and_files(router: respx.MockRouter) -> None:
    endpoint = mock_endpoint(router, "/api/read", COMPLETED)

    async with make_client() as giga:
        run = await giga.read("run_1", include_files=True)

    assert signed_bodies(endpoint) == [{"runId": "run_1", "includeFiles": True}]
    assert run.status is RunStatus.COMPLETED
    assert run.status.is_terminal
    assert run.logs is not None
    assert run.logs.metadata is not None
    assert run.logs.metadata.session_id == "sess_1"
    assert run.logs.metadata.model == "claude-sonnet-4-6"
    assert run.logs.metadata.started_at == datetime(2026, 3, 2, 12, 0, 5, tzinfo=timezone.utc)
    assert isinstance(run.logs.metadata.completed_at, datetime)
    assert run.logs.records == COMPLETED["logs"]["records"]
    assert run.files is not None
    assert [(f.path, f.type, f.size, f.is_file) for f in run.files] == [
        ("output.md", "file", 9422, True),
        ("data/", "directory", 0, False),
    ]


async def test_read_keeps_error_code_of_a_failed_run(router: respx.MockRouter) -> None:
    mock_endpoint(router, "/api/read", run_json(status="failed", errorCode="agent_crashed"))

    async with make_client() as giga:
        run = await giga.read("run_1")

    assert run.status is RunStatus.FAILED
    assert run.status.is_terminal
    assert run.error_code == "agent_crashed"


async def test_read_ignores_unknown_fields(router: respx.MockRouter) -> None:
    mock_endpoint(router, "/api/read", run_json(costUsd="0.12", logs={"records": []}))

    async with make_client() as giga:
        run = await giga.read("run_1")

    assert run.logs is not None
    assert run.logs.metadata is None
    assert run.logs.records == []


async def test_read_maps_404_to_run_not_found(router: respx.MockRouter) -> None:
    mock_endpoint(
        router, "/api/read", lambda _: httpx.Response(404, json={"error": "Run not found"})
    )

    async with make_client() as giga:
        with pytest.raises(RunNotFoundError) as info:
            await giga.read("run_404")

    assert "run_404" in str(info.value)
    assert ADDRESS in str(info.value)


@pytest.mark.parametrize(
    "reply",
    [
        lambda _: httpx.Response(200, text="<html>oops</html>"),
        lambda _: httpx.Response(200, text='{"id": "run_1", '),
        lambda _: httpx.Response(200, json=["run_1"]),
        lambda _: httpx.Response(200),
    ],
    ids=["html", "truncated-json", "json-list", "empty"],
)
async def test_read_treats_malformed_json_as_protocol_error(
    router: respx.MockRouter, reply: Any
) -> None:
    mock_endpoint(router, "/api/read", reply)

    async with make_client() as giga:
        with pytest.raises(GigaProtocolError, match="read run run_1"):
            await giga.read("run_1")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("status", None),
        ("id", None),
        ("createdAt", None),
        ("status", "exploded"),
        ("updatedAt", "yesterday"),
        ("files", "output.md"),
        ("logs", "not logs"),
    ],
    ids=[
        "no-status",
        "no-id",
        "no-created-at",
        "unknown-status",
        "bad-timestamp",
        "files-not-list",
        "logs-not-object",
    ],
)
async def test_read_treats_reply_not_matching_the_api_as_protocol_error(
    router: respx.MockRouter, field: str, value: Any
) -> None:
    data = run_json()
    if value is None:
        del data[field]
    else:
        data[field] = value
    mock_endpoint(router, "/api/read", data)

    async with make_client() as giga:
        with pytest.raises(GigaProtocolError, match="does not match the API"):
            await giga.read("run_1")


# --- list and iterate --------------------------------------------------------------------


class RunStore:
    """Serves ``/api/list`` pages out of a list of runs, honouring limit and offset."""

    def __init__(self, count: int) -> None:
        self.ids = [f"run_{i}" for i in range(count)]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = body_of(request)
        page = self.ids[body["offset"] : body["offset"] + body["limit"]]
        return httpx.Response(200, json={"runs": [summary_json(i) for i in page]})


async def test_list_runs_caps_limit_at_100_and_passes_offset(router: respx.MockRouter) -> None:
    endpoint = mock_endpoint(router, "/api/list", RunStore(250))

    async with make_client() as giga:
        runs = await giga.list_runs(limit=500, offset=20)

    assert signed_bodies(endpoint) == [{"limit": 100, "offset": 20}]
    assert [r.id for r in runs] == [f"run_{i}" for i in range(20, 120)]
    assert all(r.status is RunStatus.COMPLETED for r in runs)


async def test_list_runs_sends_the_defaults(router: respx.MockRouter) -> None:
    endpoint = mock_endpoint(router, "/api/list", RunStore(3))

    async with make_client() as giga:
        runs = await giga.list_runs()

    assert signed_bodies(endpoint) == [{"limit": 10, "offset": 0}]
    assert len(runs) == 3


@pytest.mark.parametrize(("limit", "offset"), [(0, 0), (-1, 0), (10, -1)])
async def test_list_runs_refuses_bad_paging_before_any_request(
    router: respx.MockRouter, limit: int, offset: int
) -> None:
    mock_endpoint(router, "/api/list", RunStore(3))

    async with make_client() as giga:
        with pytest.raises(GigaConfigError):
            await giga.list_runs(limit=limit, offset=offset)

    assert len(router.calls) == 0


async def test_list_runs_treats_reply_without_runs_as_protocol_error(
    router: respx.MockRouter,
) -> None:
    mock_endpoint(router, "/api/list", {"items": []})

    async with make_client() as giga:
        with pytest.raises(GigaProtocolError, match="runs"):
            await giga.list_runs()


async def test_iter_runs_paginates_and_stops_on_a_short_page(router: respx.MockRouter) -> None:
    endpoint = mock_endpoint(router, "/api/list", RunStore(5))

    async with make_client() as giga:
        ids = [run.id async for run in giga.iter_runs(page_size=2)]

    assert ids == [f"run_{i}" for i in range(5)]
    assert signed_bodies(endpoint) == [
        {"limit": 2, "offset": 0},
        {"limit": 2, "offset": 2},
        {"limit": 2, "offset": 4},
    ]


async def test_iter_runs_stops_on_an_empty_page_after_full_pages(
    router: respx.MockRouter,
) -> None:
    endpoint = mock_endpoint(router, "/api/list", RunStore(4))

    async with make_client() as giga:
        ids = [run.id async for run in giga.iter_runs(page_size=2)]

    assert ids == ["run_0", "run_1", "run_2", "run_3"]
    assert [b["offset"] for b in signed_bodies(endpoint)] == [0, 2, 4]


async def test_iter_runs_uses_pages_of_at_most_100(router: respx.MockRouter) -> None:
    endpoint = mock_endpoint(router, "/api/list", RunStore(150))

    async with make_client() as giga:
        ids = [run.id async for run in giga.iter_runs(page_size=1_000)]

    assert len(ids) == 150
    assert signed_bodies(endpoint) == [{"limit": 100, "offset": 0}, {"limit": 100, "offset": 100}]


async def test_iter_runs_yields_each_run_once_when_pages_shift(router: respx.MockRouter) -> None:
    pages = {
        0: ["run_a", "run_b", "run_c"],
        3: ["run_c", "run_d", "run_e"],  # run_c moved down: a run was updated meanwhile
        6: ["run_e", "run_f"],
    }

    def shifting(request: httpx.Request) -> httpx.Response:
        ids = pages[body_of(request)["offset"]]
        return httpx.Response(200, json={"runs": [summary_json(i) for i in ids]})

    mock_endpoint(router, "/api/list", shifting)

    async with make_client() as giga:
        ids = [run.id async for run in giga.iter_runs(page_size=3)]

    assert ids == ["run_a", "run_b", "run_c", "run_d", "run_e", "run_f"]


async def test_iter_runs_stops_when_a_full_page_brings_nothing_new(
    router: respx.MockRouter,
) -> None:
    served = 0

    def ignores_offset(request: httpx.Request) -> httpx.Response:
        nonlocal served
        served += 1
        if served > 10:
            raise AssertionError("iter_runs keeps asking for the same page")
        return httpx.Response(200, json={"runs": [summary_json("run_a"), summary_json("run_b")]})

    mock_endpoint(router, "/api/list", ignores_offset)

    async with make_client() as giga:
        ids = [run.id async for run in giga.iter_runs(page_size=2)]

    assert ids == ["run_a", "run_b"]
    assert served <= 3


# --- file-url ----------------------------------------------------------------------------


async def test_file_url_returns_a_masked_presigned_url(router: respx.MockRouter) -> None:
    endpoint = mock_endpoint(router, "/api/file-url", file_url_json())

    async with make_client() as giga:
        link = await giga.file_url("run_1", "reports/output.md")

    assert isinstance(link, PresignedURL)
    assert link.url.get_secret_value() == FILE_URL
    assert isinstance(link.expires_at, datetime)
    for shown in (repr(link), str(link), link.model_dump_json()):
        assert TOKEN not in shown
        assert "api/file" not in shown
    assert signed_bodies(endpoint) == [{"runId": "run_1", "path": "reports/output.md"}]


async def test_file_url_maps_404_to_run_file_not_found(router: respx.MockRouter) -> None:
    mock_endpoint(router, "/api/file-url", lambda _: httpx.Response(404, json={"error": "nope"}))

    async with make_client() as giga:
        with pytest.raises(RunFileNotFoundError, match=r"output\.md"):
            await giga.file_url("run_1", "output.md")


@pytest.mark.parametrize(
    "reply",
    [
        {"expiresAt": "2030-01-01T00:00:00Z"},
        {"url": "javascript:alert(1)", "expiresAt": "2030-01-01T00:00:00Z"},
        {"url": "file:///etc/passwd", "expiresAt": "2030-01-01T00:00:00Z"},
        {"url": 42, "expiresAt": "2030-01-01T00:00:00Z"},
        {"url": FILE_URL},
        {"url": FILE_URL, "expiresAt": "in an hour"},
    ],
    ids=["no-url", "javascript-url", "file-url", "url-not-string", "no-expiry", "bad-expiry"],
)
async def test_file_url_treats_a_bad_reply_as_protocol_error(
    router: respx.MockRouter, reply: dict[str, Any]
) -> None:
    mock_endpoint(router, "/api/file-url", reply)

    async with make_client() as giga:
        with pytest.raises(GigaProtocolError):
            await giga.file_url("run_1", "output.md")


def test_presigned_url_hides_the_token_however_it_is_printed() -> None:
    link = PresignedURL(url=SecretStr(FILE_URL), expires_at=datetime(2030, 1, 1))

    assert TOKEN not in repr(link)
    assert TOKEN not in str(link)
    assert TOKEN not in f"{link}"
    assert TOKEN not in str(link.model_dump())
    assert link.url.get_secret_value() == FILE_URL
