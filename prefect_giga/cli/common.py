"""What the commands share: the common options, and the wallet and client they work with.

Credentials come from a saved block (``--block NAME``), else the environment
(``GIGA_PRIVATE_KEY``, ``GIGA_BASE_URL``), else a hidden prompt; never from an argument.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from ..client.async_client import DEFAULT_BASE_URL, GigaClient
from ..core.exceptions import GigaConfigError

if TYPE_CHECKING:
    from ..credentials import GigaCredentials

__all__ = [
    "ENV_BASE_URL",
    "ENV_PRIVATE_KEY",
    "BaseUrlOption",
    "BlockOption",
    "JsonOption",
    "make_client",
    "open_client",
    "prompt_for_key",
]

# The same variables `GigaCredentials.from_env` reads; named here so that commands without a
# block never import Prefect (which takes seconds).
ENV_PRIVATE_KEY = "GIGA_PRIVATE_KEY"
ENV_BASE_URL = "GIGA_BASE_URL"

BlockOption = Annotated[
    str | None,
    typer.Option(
        "--block",
        metavar="NAME",
        help="A saved GigaCredentials block to pay and sign in with (default: "
        "$GIGA_PRIVATE_KEY, else a hidden prompt).",
    ),
]
BaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        metavar="URL",
        help="The Giga server (default: the block's, else $GIGA_BASE_URL, else "
        f"{DEFAULT_BASE_URL}).",
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the result as JSON (for scripts) instead of tables.")
]


async def _load_block(block: str) -> GigaCredentials:
    from ..credentials import GigaCredentials  # Prefect loads only for commands that use a block

    try:
        loaded = await GigaCredentials.aload(block)
    except ValueError as exc:
        raise GigaConfigError(
            f"No GigaCredentials block named {block!r} could be loaded ({exc}); create one "
            "with `prefect-giga block create NAME`"
        ) from None
    if not isinstance(loaded, GigaCredentials):
        raise GigaConfigError(f"Block {block!r} is not a GigaCredentials block")
    return loaded


def prompt_for_key() -> str:
    """The private key from ``$GIGA_PRIVATE_KEY``, else a hidden prompt (never echoed).

    Example:
        ```python
        key = prompt_for_key()
        ```
    """
    key = os.environ.get(ENV_PRIVATE_KEY)
    if key:
        return key
    typed = typer.prompt(
        f"Private key of the paying wallet (input hidden; or set {ENV_PRIVATE_KEY})",
        hide_input=True,
        err=True,
    )
    return str(typed).strip()


def make_client(block_credentials: GigaCredentials | None, base_url: str | None) -> GigaClient:
    """A client from a loaded block, else from the environment or a prompt.

    Args:
        block_credentials: A loaded `GigaCredentials` block, or ``None``.
        base_url: A server that replaces the block's (or ``$GIGA_BASE_URL``).

    Example:
        ```python
        giga = make_client(None, "http://127.0.0.1:8402")
        ```
    """
    if block_credentials is not None:
        overrides = {"base_url": base_url} if base_url else {}
        return block_credentials.get_client(**overrides)
    url = base_url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL
    return GigaClient(private_key=prompt_for_key(), base_url=url)


@asynccontextmanager
async def open_client(block: str | None, base_url: str | None) -> AsyncIterator[GigaClient]:
    """A `GigaClient` for the chosen credentials, closed when the block ends.

    Example:
        ```python
        async with open_client(None, None) as giga:
            print(await giga.list_runs())
        ```
    """
    credentials = await _load_block(block) if block else None
    async with make_client(credentials, base_url) as giga:
        yield giga
