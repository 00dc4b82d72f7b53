"""Reading tier tables out of discovery documents: OpenAPI, llms.txt and /.well-known/x402."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from prefect_giga.client.discovery import (
    parse_document,
    parse_guide,
    parse_openapi,
    parse_well_known,
)

# The seed text's tier paragraph, as its flattened page reads (table rows run together).
SEED_TEXT = (
    "`tier` and `files` are optional. `tier` defaults to `$0.50`. File `data` must be "
    "base64-encoded. **Payment tiers** (set via the x402 `tier` field): | Tier key | Price |\n"
    "|----------|--------|\n| `$0.50` | $0.50 |\n| `$1.00` | $1.00 |\n| `$2.00` | $2.00 | "
    "Default tier is `$0.50`."
)
TODAY_TEXT = "Tiers:\n\n| Tier | Price |\n|---|---|\n| `$1.00` (default) | x |\n" + (
    "| `$1.00` | 1.00 |\n| `$2.00` | 2.00 |\n| `$5.00` | 5.00 |\n"
)


def router_openapi(enum: list[Any], info: dict[str, Any] | None = None, **tier: Any) -> dict:
    """An OpenAPI document shaped like the router's: the body schema behind a ``$ref``."""
    operation: dict[str, Any] = {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Start"}}},
        },
        "x-payment-info": info
        if info is not None
        else {"pricingMode": "range", "minPrice": "1", "maxPrice": "5", "protocols": ["x402"]},
    }
    start = {
        "type": "object",
        "properties": {"prompt": {"type": "string"}, "tier": {"enum": enum, **tier}},
    }
    return {
        "openapi": "3.1.0",
        "components": {"schemas": {"Start": start}},
        "paths": {"/api/start": {"post": operation}},
    }


def test_guide_reads_the_seed_texts_flattened_table_and_default() -> None:
    found = parse_guide(SEED_TEXT)
    assert found is not None
    assert found.tiers == {"$0.50": Decimal("0.50"), "$1.00": Decimal(1), "$2.00": Decimal(2)}
    assert list(found.tiers) == ["$0.50", "$1.00", "$2.00"]
    assert found.default == "$0.50"


def test_guide_reads_a_default_marked_in_the_text() -> None:
    found = parse_guide(TODAY_TEXT.replace("| `$1.00` (default) | x |\n", "") + "`$1.00` (default)")
    assert found is not None and found.default == "$1.00"
    assert list(found.tiers) == ["$1.00", "$2.00", "$5.00"]


@pytest.mark.parametrize(
    "text",
    [
        "| `$1.00` | $2.00 |",  # the key names one price, the table another
        "| `$1.00` | $1.00 |\n| `$1.00` | $1.50 |",  # one key, two prices
        "no table at all",
    ],
    ids=["key-price-mismatch", "two-prices", "nothing"],
)
def test_guide_that_contradicts_itself_says_nothing(text: str) -> None:
    assert parse_guide(text) is None


def test_guide_default_must_be_a_listed_tier() -> None:
    found = parse_guide("| `$1.00` | $1.00 |\nDefault tier is `$0.50`.")
    assert found is not None and found.default is None


def test_guide_keeps_named_tiers_with_their_listed_prices() -> None:
    found = parse_guide("| `basic` | $1.00 |\n| `pro` | $3.00 |\nDefault tier is `basic`.")
    assert found is not None
    assert found.tiers == {"basic": Decimal(1), "pro": Decimal(3)} and found.default == "basic"


def test_openapi_follows_the_ref_and_reads_enum_and_default() -> None:
    found = parse_openapi(router_openapi(["$1.00", "$2.00", "$5.00"], default="$1.00"))
    assert found is not None
    assert list(found.tiers) == ["$1.00", "$2.00", "$5.00"]
    assert found.tiers["$5.00"] == Decimal(5) and found.default == "$1.00"


def test_openapi_default_may_come_from_the_description() -> None:
    document = router_openapi(["$1.00", "$2.00", "$5.00"], description="`tier` defaults to `$1.00`")
    found = parse_openapi(document)
    assert found is not None and found.default == "$1.00"


def test_openapi_without_a_default_leaves_it_unknown() -> None:
    found = parse_openapi(router_openapi(["$1.00", "$2.00", "$5.00"]))
    assert found is not None and found.default is None


@pytest.mark.parametrize(
    ("enum", "info"),
    [
        (["$1.00", "$2.00"], None),  # the route's range says up to $5
        (["$1.00", "$2.00", "$5.00"], {"pricingMode": "fixed", "price": "1"}),
        (["basic", "pro"], {}),  # keys that are not prices: OpenAPI cannot price them
        ([], {}),
    ],
    ids=["range-mismatch", "fixed-but-several", "unpriced-keys", "empty"],
)
def test_openapi_that_does_not_fit_its_payment_info_says_nothing(
    enum: list[str], info: dict[str, Any] | None
) -> None:
    assert parse_openapi(router_openapi(enum, info)) is None


def test_openapi_reads_an_anyof_enum() -> None:
    document = router_openapi([], {})
    schema = document["components"]["schemas"]["Start"]["properties"]
    schema["tier"] = {"anyOf": [{"enum": ["$1.00", "$2.00"]}, {"type": "null"}]}
    found = parse_openapi(document)
    assert found is not None and list(found.tiers) == ["$1.00", "$2.00"]


def test_well_known_reads_its_instructions_as_a_guide() -> None:
    found = parse_well_known({"version": 1, "resources": [], "instructions": SEED_TEXT})
    assert found is not None and found.default == "$0.50"


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("/openapi.json", "not json"),
        ("/api/openapi.json", "[1, 2]"),
        ("/.well-known/x402", json.dumps({"instructions": 42})),
        ("/openapi.json", json.dumps({"paths": {"/api/start": "nonsense"}})),
        ("/openapi.json", json.dumps({"paths": []})),
    ],
)
def test_malformed_documents_say_nothing(path: str, text: str) -> None:
    assert parse_document(path, text) is None


def test_document_is_parsed_by_its_path() -> None:
    assert parse_document("/llms.txt", SEED_TEXT) == parse_guide(SEED_TEXT)
    openapi = router_openapi(["$1.00", "$2.00", "$5.00"], default="$1.00")
    assert parse_document("/api/openapi.json", json.dumps(openapi)) == parse_openapi(openapi)
