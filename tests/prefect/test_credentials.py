"""The `GigaCredentials` block: fields, secrecy, clients, the environment, and registration."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from prefect.client.orchestration import get_client
from prefect.testing.cli import invoke_and_assert
from pydantic import ValidationError

from prefect_giga import GigaClient, GigaConfigError, GigaCredentials
from prefect_giga.testing import GigaEmulator

from ..vectors import TEST_KEY
from .conftest import payments_by

TEST_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
PAYEE = "0x179eC767Cd66Dd21064F85fd630385f26A98FD4e"

MALFORMED_KEYS = [
    pytest.param("0x" + "ab" * 31 + "c", id="63-hex-digits"),
    pytest.param("0x" + "ab" * 32 + "cd", id="66-hex-digits"),
    pytest.param("0x" + "zz" + "ab" * 31, id="not-hex"),
    pytest.param("ab" * 16 + " " + "ab" * 16, id="space-inside"),
    pytest.param("0x" + "f" * 64, id="above-curve-order"),
    pytest.param("0x" + "0" * 64, id="zero"),
]


def _key_forms(key: str) -> list[str]:
    bare = key.removeprefix("0x")
    return [bare.lower(), bare.upper(), bare[:32].lower()]


def test_every_field_has_a_title_and_a_description() -> None:
    fields = GigaCredentials.model_fields
    assert {"private_key", "base_url", "network", "default_tier", "max_price_per_run"} <= set(
        fields
    )
    for name, field in fields.items():
        assert field.title, f"{name} has no title"
        assert field.description, f"{name} has no description"
    schema = GigaCredentials.model_json_schema()
    for name, prop in schema["properties"].items():
        if name == "block_type_slug":
            continue
        assert prop.get("title") and prop.get("description"), name


def test_docstring_shows_loading_the_block_by_name() -> None:
    assert 'GigaCredentials.load("BLOCK_NAME")' in (GigaCredentials.__doc__ or "")
    assert GigaCredentials.get_description()


@pytest.mark.parametrize("bad_key", MALFORMED_KEYS)
def test_malformed_private_key_is_refused_without_echoing_it(bad_key: str) -> None:
    with pytest.raises((ValidationError, GigaConfigError)) as caught:
        GigaCredentials(private_key=bad_key)
    shown = f"{caught.value}\n{caught.value!r}"
    if isinstance(caught.value, ValidationError):  # what Prefect shows for a bad parameter
        shown += repr([(e["loc"], e["msg"]) for e in caught.value.errors()])
    assert "private key" in shown.lower()
    assert "malformed" in shown.lower() or "out of range" in shown.lower()
    for form in _key_forms(bad_key.strip()):
        if set(form) - {"0"}:  # all-zero fragments appear in any text full of digits
            assert form not in shown.lower()


def test_repr_str_and_dumps_never_show_the_private_key() -> None:
    block = GigaCredentials(private_key=TEST_KEY, base_url="http://127.0.0.1:1")
    views = [
        repr(block),
        str(block),
        repr(block.model_dump()),
        block.model_dump_json(),
        repr(block.model_dump(mode="json")),
        repr(dict(block)),
    ]
    for view in views:
        for form in _key_forms(TEST_KEY):
            assert form not in view.lower(), view
    assert block.model_dump(mode="json")["private_key"] == "**********"
    assert block.address == TEST_ADDRESS


async def test_get_client_returns_a_client_configured_from_the_block(
    emulator: GigaEmulator, private_key: str
) -> None:
    block = GigaCredentials(
        private_key=private_key,
        base_url=emulator.url + "/",
        default_tier="$1.00",
        max_price_per_run=Decimal("1.00"),
        allowed_payees=[PAYEE],
    )
    async with block.get_client(timeout=5.0) as giga:
        assert isinstance(giga, GigaClient)
        assert giga.address == block.address
        assert giga.base_url == emulator.url
        assert giga.network.caip2 == "eip155:8453"
        assert giga.default_tier == "$1.00"
        assert giga.policy.max_price_per_run == Decimal("1.00")
        assert giga.policy.allowed_payees == frozenset({PAYEE.lower()})
        quote = await giga.quote("What would this cost?")
        assert quote.amount == Decimal("1.00")
        assert await giga.list_runs() == []
    assert payments_by(emulator, block.address) == []  # quoting and listing are free


def test_from_env_reads_the_key_and_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIGA_PRIVATE_KEY", TEST_KEY)
    monkeypatch.setenv("GIGA_BASE_URL", "http://127.0.0.1:8402")
    block = GigaCredentials.from_env(max_price_per_run="1.00")
    assert block.private_key.get_secret_value() == TEST_KEY
    assert block.base_url == "http://127.0.0.1:8402"
    assert block.max_price_per_run == Decimal("1.00")
    assert block.address == TEST_ADDRESS


def test_from_env_without_a_key_says_which_variable_to_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GIGA_PRIVATE_KEY", raising=False)
    with pytest.raises(GigaConfigError, match="GIGA_PRIVATE_KEY"):
        GigaCredentials.from_env()


def test_prefect_block_register_cli_registers_the_block_type_and_schema() -> None:
    result = invoke_and_assert(
        ["block", "register", "-m", "prefect_giga"],
        expected_output_contains="Giga Credentials",
        echo=False,
    )
    assert "Successfully registered" in result.stdout

    with get_client(sync_client=True) as client:
        block_type = client.read_block_type_by_slug("giga-credentials")
        schema = client.get_most_recent_block_schema_for_block_type(block_type.id)
    assert block_type.name == "Giga Credentials"
    assert "USDC" in (block_type.description or "")
    assert 'GigaCredentials.load("BLOCK_NAME")' in (block_type.code_example or "")
    assert schema is not None
    properties = schema.fields["properties"]
    assert properties["private_key"]["format"] == "password"
    assert properties["private_key"]["title"] == "Private key"
    assert "private_key" in schema.fields["required"]
    for name, prop in properties.items():
        assert prop.get("title") and prop.get("description"), name


async def test_saved_block_loads_by_name_and_the_api_masks_its_key(
    emulator: GigaEmulator, private_key: str
) -> None:
    name = f"wallet-{uuid.uuid4()}"
    block = GigaCredentials(private_key=private_key, base_url=emulator.url)
    await block.save(name)

    loaded = await GigaCredentials.load(name)
    assert loaded.private_key.get_secret_value() == private_key
    assert loaded.address == block.address
    async with get_client() as client:
        document = await client.read_block_document_by_name(
            name, "giga-credentials", include_secrets=False
        )
    assert private_key.removeprefix("0x") not in repr(document.data)
    assert set(document.data["private_key"]) == {"*"}
