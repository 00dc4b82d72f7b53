"""Reading and writing batch items as JSON Lines (`prefect_giga.item_files`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefect_giga import ItemsFileError, PromptItem, load_items, save_items


def test_items_round_trip_through_a_file(tmp_path: Path) -> None:
    items = [
        "Plain prompt",
        PromptItem(prompt="With files", files=["a.csv"], tier="$1.00", idempotency_key="k-1"),
        {"prompt": "From a dict"},
    ]
    where = save_items(items, tmp_path / "items.jsonl")

    assert load_items(where) == [
        PromptItem(prompt="Plain prompt"),
        PromptItem(prompt="With files", files=["a.csv"], tier="$1.00", idempotency_key="k-1"),
        PromptItem(prompt="From a dict"),
    ]
    # One line per item, defaults left out: a file people can also write by hand.
    lines = (tmp_path / "items.jsonl").read_text(encoding="utf-8").splitlines()
    assert lines[0] == '{"prompt":"Plain prompt"}'


def test_a_file_url_is_read_through_fsspec(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    path.write_text('"One"\n\n   \n"Two"\n', encoding="utf-8")

    assert [i.prompt for i in load_items(f"file://{path}")] == ["One", "Two"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('"ok"\n{not json}\n', "line 2: not JSON"),
        ('"ok"\n"ok"\n42\n', "line 3: expected a prompt string or an item object"),
        ('{"prompt": "ok", "files": "a.csv"}\n', "line 1: not an item (files: "),
        ('{"files": []}\n', "line 1: not an item (prompt: Field required)"),
    ],
)
def test_a_bad_line_is_named(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "items.jsonl"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ItemsFileError) as caught:
        load_items(path)

    assert f"items.jsonl, {problem}" in str(caught.value)


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ItemsFileError, match=r"missing\.jsonl: cannot be read \(FileNotFoundError"):
        load_items(tmp_path / "missing.jsonl")


def test_an_unreadable_url_is_named_without_its_credentials_or_query() -> None:
    url = "memory://user:s3cret@bucket/missing.jsonl?X-Amz-Signature=deadbeef"

    with pytest.raises(ItemsFileError) as caught:
        load_items(url)

    shown = str(caught.value)
    assert shown.startswith("memory://bucket/missing.jsonl: cannot be read (")
    assert "s3cret" not in shown and "deadbeef" not in shown and "user" not in shown
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # not shown
