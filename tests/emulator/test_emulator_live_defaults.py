"""The emulator's defaults follow the live service: today's tiers, discovery documents like
the router's, a bare-hostname SIWX domain, list limits over 100 refused, and one payment
sent twice at once runs the handler twice and fails the second settlement (500)."""

from __future__ import annotations

import asyncio
import base64
import json

import httpx

from prefect_giga.client.discovery import parse_guide, parse_openapi, parse_well_known
from prefect_giga.testing import TODAY_TIERS, EmulatorConfig, tier_table
from prefect_giga.testing.pytest_plugin import EmulatorFactory

from .emulator_support import SDK_OPT_INS, authed, payment_header, quote, sign_payment


def test_defaults_are_todays_tiers_and_the_live_services_habits() -> None:
    config = EmulatorConfig()
    assert config.tiers == TODAY_TIERS and config.default_tier == "$1.00"
    assert config.siwx_domain == "hostname" and config.list_limit == "refuse"
    seed = EmulatorConfig(**tier_table("seed"))
    assert list(seed.tiers) == ["$0.50", "$1.00", "$2.00"] and seed.default_tier == "$0.50"


async def test_unpaid_start_without_a_tier_is_quoted_at_todays_default(
    giga_emulator_factory: EmulatorFactory,
) -> None:
    emulator = giga_emulator_factory(manual_clock=True)
    async with httpx.AsyncClient(base_url=emulator.url) as http:
        _, required = await quote(http, {"prompt": "hi"})
        _, highest = await quote(http, {"no prompt": True})
    assert required.accepts[0].amount == "1000000"
    assert highest.accepts[0].amount == "5000000"  # a body that fails the schema


async def test_discovery_documents_publish_the_table_the_emulator_charges(
    giga_emulator_factory: EmulatorFactory,
) -> None:
    emulator = giga_emulator_factory(
        manual_clock=True, discovery=("/openapi.json", "/llms.txt", "/.well-known/x402")
    )
    async with httpx.AsyncClient(base_url=emulator.url) as http:
        openapi = (await http.get("/openapi.json")).json()
        guide = (await http.get("/llms.txt")).text
        well_known = (await http.get("/.well-known/x402")).json()
        missing = await http.get("/api/openapi.json")
    assert missing.status_code == 404
    for found in (parse_openapi(openapi), parse_guide(guide), parse_well_known(well_known)):
        assert found is not None
        assert found.tiers == TODAY_TIERS and found.default == "$1.00"
    assert f"{emulator.url}/api/resume" in well_known["resources"]
    info = openapi["paths"]["/api/start"]["post"]["x-payment-info"]
    assert (info["minPrice"], info["maxPrice"]) == ("1", "5")


async def test_siwx_challenge_names_the_bare_hostname_by_default(
    giga_emulator_factory: EmulatorFactory,
) -> None:
    emulator = giga_emulator_factory(manual_clock=True)
    async with httpx.AsyncClient(base_url=emulator.url) as http:
        response = await http.post("/api/read", json={"runId": "r1"})
    info = response.json()["extensions"]["sign-in-with-x"]["info"]
    assert response.status_code == 402
    assert info["domain"] == "127.0.0.1" and ":" in emulator.url.removeprefix("http://")


async def test_list_limit_over_100_is_refused_unless_clamping_is_chosen(
    giga_emulator_factory: EmulatorFactory,
) -> None:
    refusing = giga_emulator_factory(manual_clock=True, **SDK_OPT_INS)
    clamping = giga_emulator_factory(manual_clock=True, list_limit="clamp", **SDK_OPT_INS)
    async with httpx.AsyncClient(base_url=refusing.url) as http:
        refused = await authed(http, "/api/list", {"limit": 101})
        accepted = await authed(http, "/api/list", {"limit": 100})
    async with httpx.AsyncClient(base_url=clamping.url) as http:
        clamped = await authed(http, "/api/list", {"limit": 500})
    assert refused.status_code == 400 and "at most 100" in refused.text
    assert accepted.status_code == 200 and clamped.status_code == 200


async def test_one_payment_sent_twice_at_once_runs_twice_and_settles_once(
    giga_emulator_factory: EmulatorFactory,
) -> None:
    emulator = giga_emulator_factory(manual_clock=True, **SDK_OPT_INS)
    body = {"prompt": "Sent twice at once", "tier": "$1.00"}
    emulator.resend_race.arm(1)
    async with httpx.AsyncClient(base_url=emulator.url, timeout=30) as http:
        _, required = await quote(http, body)
        header = payment_header(await sign_payment(required))
        replies = await asyncio.gather(
            *(
                http.post("/api/start", json=body, headers={"PAYMENT-SIGNATURE": header})
                for _ in "ab"
            )
        )
    statuses = sorted(reply.status_code for reply in replies)
    assert statuses == [200, 500]
    failed = next(reply for reply in replies if reply.status_code == 500)
    assert failed.json() == {"success": False, "error": "Settlement failed"}
    assert "PAYMENT-RESPONSE" not in failed.headers
    race = emulator.resend_race
    assert race.waited == 1 and race.raced == 1 and race.lost_settlements == 1  # ran twice
    assert len(emulator.ledger) == 1
    won = next(reply for reply in replies if reply.status_code == 200)
    assert [run.id for run in emulator.runs] == [won.json()["runId"]]  # the other discarded
    receipt = json.loads(base64.b64decode(won.headers["PAYMENT-RESPONSE"]))
    assert receipt["transaction"] == emulator.ledger[0].transaction
