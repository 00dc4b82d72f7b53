"""Batch items passed by reference: a JSON Lines file that `run_prompts` reads itself.

A flow run's parameters are stored by the Prefect API, which refuses parameters over
``PREFECT_SERVER_API_MAX_PARAMETER_SIZE`` (512 KiB by default): about 8,000 short prompts.
Bigger batches go through a file instead: `save_items` writes it, and
``run_prompts(items_from=...)`` reads it in the flow run, so the parameters hold only its
location. The location is a local path or any URL `fsspec` opens (``s3://...``,
``gs://...``, with the matching package installed), so workers on other machines can read it
too.

Each line is one item: a JSON string (the prompt) or an object with ``prompt`` and optionally
``files``, ``tier`` and ``idempotency_key`` (`PromptItem`). Blank lines are skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import fsspec  # type: ignore[import-untyped]
from pydantic import ValidationError

from .results import PromptItem

__all__ = [
    "ItemsFileError",
    "as_item",
    "batch_items",
    "load_items",
    "save_items",
    "shown_location",
]


class ItemsFileError(ValueError):
    """An items file that cannot be read as batch items; nothing was paid.

    Example:
        >>> str(ItemsFileError("prompts.jsonl", 3, "not JSON"))
        'prompts.jsonl, line 3: not JSON'
    """

    def __init__(self, location: str, line: int | None, problem: str) -> None:
        shown = shown_location(location)
        where = shown if line is None else f"{shown}, line {line}"
        super().__init__(f"{where}: {problem}")
        self.location = shown
        self.line = line


def shown_location(location: str) -> str:
    """``location`` as errors show it: a URL without its user, password and query (where a
    presigned URL keeps its signature); a path as it is.

    Example:
        >>> shown_location("https://u:p@files.example/b/items.jsonl?X-Amz-Signature=abc")
        'https://files.example/b/items.jsonl'
    """
    if "://" not in location:
        return location
    try:
        parts = urlsplit(location)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(an items URL that could not be parsed; not shown)"
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


def as_item(item: str | PromptItem | dict[str, Any]) -> PromptItem:
    """One batch item as a `PromptItem`: a prompt, a `PromptItem` or its fields as a dict.

    Example:
        >>> as_item("Summarise Q3").prompt
        'Summarise Q3'
    """
    if isinstance(item, PromptItem):
        return item
    if isinstance(item, str):
        return PromptItem(prompt=item)
    return PromptItem.model_validate(item)


def save_items(items: Iterable[str | PromptItem | dict[str, Any]], location: str | Path) -> str:
    """Write batch items as JSON Lines to ``location`` (a path or an fsspec URL).

    Returns:
        The location as a string, to pass as ``run_prompts(items_from=...)``.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "prompts.jsonl"
        >>> where = save_items(["Summarise A", {"prompt": "Summarise B", "tier": "$1.00"}], path)
        >>> [item.tier for item in load_items(where)]
        [None, '$1.00']
    """
    where = str(location)
    lines = [as_item(item).model_dump_json(exclude_defaults=True) + "\n" for item in items]
    with fsspec.open(where, "w", encoding="utf-8") as out:
        out.writelines(lines)
    return where


def load_items(location: str | Path) -> list[PromptItem]:
    """Read the batch items of a JSON Lines file (a path or an fsspec URL).

    Raises:
        ItemsFileError: A line is not JSON, or not a prompt or an item (its number is
            given); or the file cannot be opened.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "prompts.jsonl"
        >>> _ = path.write_text('"Summarise A"\\n\\n{"prompt": "Summarise B"}\\n')
        >>> [item.prompt for item in load_items(path)]
        ['Summarise A', 'Summarise B']
    """
    where = str(location)
    try:
        with fsspec.open(where, "r", encoding="utf-8") as source:
            text = source.read()
    except (OSError, ValueError, ImportError) as exc:
        if "://" in where:  # the library's message may repeat the whole URL
            raise ItemsFileError(where, None, f"cannot be read ({type(exc).__name__})") from None
        raise ItemsFileError(where, None, f"cannot be read ({type(exc).__name__}: {exc})") from exc
    items: list[PromptItem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ItemsFileError(where, number, f"not JSON ({exc.msg})") from None
        if not isinstance(value, (str, dict)):
            raise ItemsFileError(where, number, "expected a prompt string or an item object")
        try:
            items.append(as_item(value))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'item'}: {e['msg']}" for e in exc.errors()
            )
            raise ItemsFileError(where, number, f"not an item ({problems})") from None
    return items


def batch_items(
    items: Sequence[str | PromptItem | dict[str, Any]] | None,
    items_from: str | None,
    *,
    dedupe: bool = False,
) -> list[PromptItem]:
    """A batch's items as `run_prompts` drives them: ``items``, or those of the file
    ``items_from`` (exactly one of the two); with ``dedupe``, identical items once, first
    occurrence kept, in order.

    Raises:
        ValueError: Both or neither were given.
        ItemsFileError: The file cannot be read as items.

    Example:
        >>> [i.prompt for i in batch_items(["A", "B", "A"], None, dedupe=True)]
        ['A', 'B']
    """
    if (items is None) == (items_from is None):
        raise ValueError(
            "run_prompts needs either items or items_from (a JSON Lines file written by "
            "prefect_giga.save_items), not both and not neither"
        )
    batch = load_items(items_from) if items_from is not None else [as_item(i) for i in items or []]
    if not dedupe:
        return batch
    unique: dict[str, PromptItem] = {}
    for item in batch:
        unique.setdefault(item.model_dump_json(), item)
    return list(unique.values())
