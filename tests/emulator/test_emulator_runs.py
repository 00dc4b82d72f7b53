"""Run lifecycle on the manual clock, the default agent's directives, files and listing."""

from __future__ import annotations

import base64
import hashlib
from decimal import Decimal

import httpx

from prefect_giga.testing import (
    AgentContext,
    AgentResult,
    EmulatorConfig,
    GigaEmulator,
)
from prefect_giga.testing.pytest_plugin import EmulatorFactory

from .emulator_support import SDK_OPT_INS, authed, read, start_run


async def _start(http: httpx.AsyncClient, prompt: str, **extra: object) -> str:
    response = await start_run(http, {"prompt": prompt, **extra})
    assert response.status_code == 200, response.text
    return str(response.json()["runId"])


async def _file_url(http: httpx.AsyncClient, run_id: str, path: str) -> httpx.Response:
    return await authed(http, "/api/file-url", {"runId": run_id, "path": path})


async def test_lifecycle_follows_the_manual_clock(giga_emulator_factory: EmulatorFactory) -> None:
    emulator = giga_emulator_factory(
        EmulatorConfig(manual_clock=True, pending_seconds=5, logs_delay_seconds=3, **SDK_OPT_INS)
    )
    async with httpx.AsyncClient(base_url=emulator.url) as http:
        response = await start_run(http, {"prompt": "work [duration=60]"})
        assert response.json()["status"] == "pending"
        run_id = response.json()["runId"]

        body = (await read(http, run_id)).json()
        assert (body["status"], body["logs"], body["errorCode"]) == ("pending", None, None)
        assert body["createdAt"] == body["updatedAt"]
        assert body["createdAt"].endswith("Z") and len(body["createdAt"]) == 24

        emulator.clock.advance(5)
        body = (await read(http, run_id)).json()
        assert body["status"] == "running" and body["logs"] is None
        assert body["updatedAt"] > body["createdAt"]

        emulator.clock.advance(3)  # logs ingestion caught up with the start
        logs = (await read(http, run_id)).json()["logs"]
        assert logs["metadata"]["model"] == "claude-sonnet-4-6"
        assert logs["metadata"]["completedAt"] is None
        assert [r["seq"] for r in logs["records"]] == [0]

        emulator.clock.advance(15)  # records written at 0, 10, 20 and 60 s arrive 3 s later
        partial = (await read(http, run_id)).json()["logs"]["records"]
        assert [r["seq"] for r in partial] == [0, 1]

        emulator.clock.advance(42)  # 65 s after creation: 60 s after the start
        body = (await read(http, run_id, include_files=True)).json()
        assert body["status"] == "completed"
        assert body["logs"]["metadata"]["completedAt"] == body["updatedAt"]
        assert len(body["logs"]["records"]) == 3  # the last record still lags
        emulator.clock.advance(3)
        records = (await read(http, run_id)).json()["logs"]["records"]
        assert [r["seq"] for r in records] == [0, 1, 2, 3]
        assert records[-1]["message"] == "Done"
        assert body["files"] == [
            {"path": "output.md", "type": "file", "size": body["files"][0]["size"]}
        ]


async def test_fail_directive_ends_failed_with_error_code(
    emulator: GigaEmulator, http: httpx.AsyncClient
) -> None:
    plain = await _start(http, "oops [fail] [duration=10]")
    coded = await _start(http, "oops [fail=quota_exceeded] [duration=10]")
    emulator.clock.advance(9)
    assert (await read(http, plain)).json()["status"] == "running"
    emulator.clock.advance(1)
    assert (await read(http, plain)).json()["errorCode"] == "agent_failed"
    body = (await read(http, coded)).json()
    assert (body["status"], body["errorCode"]) == ("failed", "quota_exceeded")


async def test_files_directive_lists_files_and_a_subdirectory(
    emulator: GigaEmulator, http: httpx.AsyncClient
) -> None:
    run_id = await _start(http, "make files [files=3] [duration=1]")
    assert (await read(http, run_id, include_files=True)).json()["files"] == []
    emulator.clock.advance(1)
    files = (await read(http, run_id, include_files=True)).json()["files"]
    assert [(f["path"], f["type"]) for f in files] == [
        ("data/", "directory"),
        ("data/extra_3.txt", "file"),
        ("extra_1.txt", "file"),
        ("extra_2.txt", "file"),
        ("output.md", "file"),
    ]
    assert files[0]["size"] == 0 and all(f["size"] > 0 for f in files[1:])


async def test_large_file_downloads_byte_identical(
    emulator: GigaEmulator, http: httpx.AsyncClient
) -> None:
    run_id = await _start(http, "big [size=5MB] [duration=2]")
    emulator.clock.advance(2)
    files = {f["path"]: f for f in (await read(http, run_id, include_files=True)).json()["files"]}
    assert files["large.bin"]["size"] == 5 * 1024 * 1024

    response = await _file_url(http, run_id, "/large.bin")  # leading slash is stripped
    assert response.status_code == 200, response.text
    url = response.json()["url"]
    assert url.startswith(emulator.url + "/api/file?token=")
    async with httpx.AsyncClient() as anonymous, anonymous.stream("GET", url) as download:
        assert download.status_code == 200
        assert download.headers["content-disposition"] == 'attachment; filename="large.bin"'
        digest = hashlib.sha256()
        async for chunk in download.aiter_bytes():
            digest.update(chunk)
    run = emulator.run_by_id(run_id)
    assert run is not None
    on_disk = run.workspace / "large.bin"
    assert digest.hexdigest() == hashlib.sha256(on_disk.read_bytes()).hexdigest()


async def test_attachments_are_sanitized_and_summarised(
    emulator: GigaEmulator, http: httpx.AsyncClient
) -> None:
    data = b"date,value\n2026-01-01,1\n"
    files = [
        {
            "filename": "../../etc/pa\x00sswd.csv",
            "contentType": "text/csv",
            "data": base64.b64encode(data).decode(),
        },
        {"filename": "x" * 300 + ".txt", "data": ""},
    ]
    run_id = await _start(http, "read these [duration=1]", files=files)
    emulator.clock.advance(1)
    url = (await _file_url(http, run_id, "output.md")).json()["url"]
    output = (await http.get(url)).text
    assert f"| passwd.csv | text/csv | {len(data)} | {hashlib.sha256(data).hexdigest()} |" in output
    assert "| " + "x" * 255 + " |" in output
    assert "../" not in output


async def test_file_url_errors(emulator: GigaEmulator, http: httpx.AsyncClient) -> None:
    run_id = await _start(http, "x [duration=10]")
    assert (await _file_url(http, run_id, "output.md")).status_code == 404  # still running
    emulator.clock.advance(10)
    for path in ("missing.md", "../output.md", "data/"):
        response = await _file_url(http, run_id, path)
        assert response.status_code == 404, path
        assert response.json()["error"] == "not_found"
    assert (await _file_url(http, "no-such-run", "output.md")).status_code == 404


async def test_presigned_url_expires_on_the_emulator_clock(
    emulator: GigaEmulator, http: httpx.AsyncClient
) -> None:
    run_id = await _start(http, "x [duration=1]")
    emulator.clock.advance(1)
    body = (await _file_url(http, run_id, "output.md")).json()
    assert body["expiresAt"].endswith("Z")
    url = body["url"]
    assert (await http.get(url)).status_code == 200
    emulator.clock.advance(3599)
    assert (await http.get(url)).status_code == 200
    emulator.clock.advance(1)
    expired = await http.get(url)
    assert (expired.status_code, expired.json()["error"]) == (410, "token_expired")


async def test_forged_and_tampered_tokens_are_refused(
    emulator: GigaEmulator, http: httpx.AsyncClient
) -> None:
    run_id = await _start(http, "x [duration=1]")
    emulator.clock.advance(1)
    token = (await _file_url(http, run_id, "output.md")).json()["url"].split("token=")[1]
    body, mac = token.split(".")
    forged_body = (
        base64.urlsafe_b64encode(
            base64.urlsafe_b64decode(body + "==").replace(b"output.md", b"secret.md")
        )
        .rstrip(b"=")
        .decode()
    )
    for bad in (f"{forged_body}.{mac}", f"{body}.{mac[:-2]}AA", "garbage", f"{body}."):
        response = await http.get("/api/file", params={"token": bad})
        assert (response.status_code, response.json()["error"]) == (403, "invalid_token"), bad
    assert (await http.get("/api/file")).status_code == 400


async def test_list_orders_by_updated_at_and_paginates(
    emulator: GigaEmulator, http: httpx.AsyncClient
) -> None:
    slow = await _start(http, "slow [duration=30]")
    emulator.clock.advance(1)
    fast = await _start(http, "fast [duration=5]")
    emulator.clock.advance(1)
    middle = await _start(http, "middle [duration=20]")
    # now = 2; slow ends at 30, fast at 6, middle at 22
    runs = (await authed(http, "/api/list", {})).json()["runs"]
    assert [r["id"] for r in runs] == [middle, fast, slow]  # by createdAt while running
    emulator.clock.advance(25)  # now = 27: fast and middle completed, slow still running
    runs = (await authed(http, "/api/list", {})).json()["runs"]
    assert [r["id"] for r in runs] == [middle, fast, slow]
    emulator.clock.advance(10)  # slow completed last
    runs = (await authed(http, "/api/list", {})).json()["runs"]
    assert [r["id"] for r in runs] == [slow, middle, fast]
    assert {r["status"] for r in runs} == {"completed"}
    assert set(runs[0]) == {"id", "status", "errorCode", "createdAt", "updatedAt"}
    page = (await authed(http, "/api/list", {"limit": 2, "offset": 1})).json()["runs"]
    assert [r["id"] for r in page] == [middle, fast]
    assert (await authed(http, "/api/list", {"limit": 0})).status_code == 400


async def test_out_of_order_log_fault(emulator: GigaEmulator, http: httpx.AsyncClient) -> None:
    emulator.faults.shuffle_logs = True
    run_id = await _start(http, "logs [duration=12]")
    emulator.clock.advance(60)
    records = (await read(http, run_id)).json()["logs"]["records"]
    seqs = [r["seq"] for r in records]
    assert sorted(seqs) == list(range(len(seqs))) and seqs != sorted(seqs)


async def test_custom_agent(giga_emulator_factory: EmulatorFactory) -> None:
    async def agent(ctx: AgentContext) -> AgentResult:
        (ctx.workspace / "answer.txt").write_text(f"{ctx.tier} {ctx.price} {ctx.prompt}")
        ctx.log("thinking", at=1)
        return AgentResult(duration=7, success=False, error_code="custom_error")

    emulator = giga_emulator_factory(
        **SDK_OPT_INS, manual_clock=True, agent=agent, logs_delay_seconds=0
    )
    async with httpx.AsyncClient(base_url=emulator.url) as http:
        run_id = await _start(http, "hello", tier="$1.00")
        emulator.clock.advance(7)
        body = (await read(http, run_id, include_files=True)).json()
    assert (body["status"], body["errorCode"]) == ("failed", "custom_error")
    assert body["files"][0]["path"] == "answer.txt"
    assert body["logs"]["records"][0]["message"] == "thinking"
    assert emulator.runs[0].price == Decimal("1.00")


async def test_crashing_agent_fails_the_run(giga_emulator_factory: EmulatorFactory) -> None:
    async def agent(ctx: AgentContext) -> AgentResult:
        raise RuntimeError("boom")

    emulator = giga_emulator_factory(**SDK_OPT_INS, manual_clock=True, agent=agent)
    async with httpx.AsyncClient(base_url=emulator.url) as http:
        run_id = await _start(http, "hello")
        body = (await read(http, run_id)).json()
    assert (body["status"], body["errorCode"]) == ("failed", "agent_crashed")
    assert len(emulator.ledger) == 1  # the run was created, so it was charged


async def test_scaled_clock_runs_without_advancing(giga_emulator: GigaEmulator) -> None:
    async with httpx.AsyncClient(base_url=giga_emulator.url) as http:
        run_id = await _start(http, "quick [duration=0.001]")
        assert (await read(http, run_id)).json()["status"] == "completed"
