"""The batch example reads the prompt files shipped in flows/ (CSV and JSONL) as documented."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

FLOWS = Path(__file__).resolve().parents[2] / "flows"


def _batch_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("batch_from_file", FLOWS / "batch_from_file.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["prompts.csv", "prompts.jsonl"])
def test_shipped_prompt_files_parse_with_their_attachments(name: str) -> None:
    path = FLOWS / name
    items = _batch_module().read_prompts(path.read_text(encoding="utf-8"), path.suffix)
    assert items and all(item.prompt for item in items)
    attached = [f for item in items for f in item.files]
    assert attached == ["flows/daily-inputs/orders.csv"]
    assert all((FLOWS.parent / f).is_file() for f in attached)


def test_other_file_types_are_refused_with_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"\.csv or \.jsonl"):
        _batch_module().read_prompts("prompt\nhello\n", ".txt")
