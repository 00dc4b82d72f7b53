"""`SyncGigaClient`: the blocking facade mirrors `GigaClient` method for method and works."""

from __future__ import annotations

import inspect

import httpx
import pytest
import respx

from prefect_giga import GigaClient, RunStatus, SyncGigaClient
from prefect_giga.core.exceptions import RunNotFoundError

from ._giga_fakes import BASE_URL, KEY, NO_WAIT, SiwxEndpoint, body_of, run_json, summary_json


def public_async_methods(cls: type) -> dict[str, object]:
    """Every public coroutine method, its own or inherited (`GigaClient.resume` is)."""
    members = {}
    for klass in reversed(cls.__mro__):
        members.update(vars(klass))
    return {
        name: member
        for name, member in members.items()
        if not name.startswith("_")
        and (inspect.iscoroutinefunction(member) or inspect.isasyncgenfunction(member))
    }


def test_sync_client_mirrors_every_async_method() -> None:
    async_methods = public_async_methods(GigaClient)
    async_methods.pop("aclose")

    assert {"start", "quote", "read", "list_runs", "iter_runs", "file_url"} <= set(async_methods)
    assert {"tiers", "resume"} <= set(async_methods)
    for name in async_methods:
        assert callable(getattr(SyncGigaClient, name, None)), f"SyncGigaClient lacks {name}"
    assert callable(SyncGigaClient.close)


@pytest.mark.parametrize("name", sorted(set(public_async_methods(GigaClient)) - {"aclose"}))
def test_sync_method_takes_the_same_arguments(name: str) -> None:
    async_params = inspect.signature(getattr(GigaClient, name)).parameters
    sync_params = inspect.signature(getattr(SyncGigaClient, name)).parameters

    assert [(p.name, p.kind, p.default) for p in sync_params.values()] == [
        (p.name, p.kind, p.default) for p in async_params.values()
    ]


def test_sync_methods_are_plain_blocking_functions() -> None:
    for name in set(public_async_methods(GigaClient)) - {"aclose"}:
        method = getattr(SyncGigaClient, name)
        assert not inspect.iscoroutinefunction(method)
        assert not inspect.isasyncgenfunction(method)


def test_sync_client_reads_a_run(router: respx.MockRouter) -> None:
    endpoint = SiwxEndpoint(run_json(status="completed"))
    router.post(f"{BASE_URL}/api/read").mock(side_effect=endpoint)

    with SyncGigaClient(private_key=KEY, base_url=BASE_URL, retry=NO_WAIT) as giga:
        assert isinstance(giga, SyncGigaClient)
        first = giga.read("run_1")
        second = giga.read("run_1")

    assert first.status is RunStatus.COMPLETED
    assert second.id == "run_1"
    assert len(endpoint.headers) == 2


def test_sync_client_raises_the_async_errors(router: respx.MockRouter) -> None:
    router.post(f"{BASE_URL}/api/read").mock(
        side_effect=SiwxEndpoint(lambda _: httpx.Response(404, json={"error": "not found"}))
    )

    with (
        SyncGigaClient(private_key=KEY, base_url=BASE_URL, retry=NO_WAIT) as giga,
        pytest.raises(RunNotFoundError),
    ):
        giga.read("run_404")


def test_sync_iter_runs_paginates(router: respx.MockRouter) -> None:
    pages = {0: ["a", "b"], 2: ["c"]}

    def listing(request: httpx.Request) -> httpx.Response:
        ids = pages[body_of(request)["offset"]]
        return httpx.Response(200, json={"runs": [summary_json(i) for i in ids]})

    router.post(f"{BASE_URL}/api/list").mock(side_effect=SiwxEndpoint(listing))

    with SyncGigaClient(private_key=KEY, base_url=BASE_URL, retry=NO_WAIT) as giga:
        ids = [run.id for run in giga.iter_runs(page_size=2)]

    assert ids == ["a", "b", "c"]


def test_sync_client_close_is_idempotent() -> None:
    giga = SyncGigaClient(private_key=KEY, base_url=BASE_URL)

    giga.close()
    giga.close()

    assert giga.client.address == giga.address
