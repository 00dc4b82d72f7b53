"""Spend limit shares of a batch spread over workers: never more than the limit, by construction."""

from __future__ import annotations

from decimal import Decimal

import pytest

from prefect_giga.shares import PlannedChunk, allocate_shares


def chunk(index: int, size: int = 10, **fields: object) -> PlannedChunk:
    values: dict[str, object] = {"unpaid": size, **fields}
    return PlannedChunk(index, index * size, index * size + size, f"b-chunk-{index}", **values)  # type: ignore[arg-type]


def test_fresh_chunks_share_the_limit_pro_rata_to_their_items() -> None:
    chunks = [chunk(0), chunk(1), chunk(2, size=5)]
    shares = allocate_shares(Decimal("10"), chunks)
    assert shares == [Decimal("4.000000"), Decimal("4.000000"), Decimal("2.000000")]


def test_shares_are_rounded_down_to_the_micro_dollar_and_never_add_up_past_the_limit() -> None:
    shares = allocate_shares(Decimal("1"), [chunk(i) for i in range(3)])
    assert shares == [Decimal("0.333333")] * 3
    assert sum(s for s in shares if s is not None) <= Decimal("1")


def test_what_earlier_attempts_paid_stays_with_the_chunk_that_paid_it() -> None:
    paid = chunk(0, paid=Decimal("6"), unpaid=4)  # six of its items paid $1 each before
    shares = allocate_shares(Decimal("20"), [paid, chunk(1)])
    # $14 left for 14 unpaid items: the first chunk keeps its $6 and gets $4 more.
    assert shares == [Decimal("10.000000"), Decimal("10.000000")]


def test_a_limit_already_spent_leaves_new_chunks_only_what_they_paid() -> None:
    shares = allocate_shares(
        Decimal("5"), [chunk(0, paid=Decimal("7"), unpaid=3), chunk(1, paid=Decimal("1"))]
    )
    assert shares == [Decimal("7"), Decimal("1")]  # nothing new anywhere


def test_existing_chunk_runs_keep_their_shares_and_outstanding_runs_count() -> None:
    existing = chunk(0, existing=True, share=Decimal("10"), paid=Decimal("3"))
    shares = allocate_shares(Decimal("30"), [existing, chunk(1)], outstanding=Decimal("12"))
    assert shares == [Decimal("10"), Decimal("8.000000")]


def test_an_existing_run_that_paid_past_its_share_counts_at_what_it_paid() -> None:
    existing = chunk(0, existing=True, share=Decimal("2"), paid=Decimal("9"))
    assert allocate_shares(Decimal("10"), [existing, chunk(1)]) == [Decimal("2"), Decimal("1")]


def test_no_limit_no_shares_and_an_unlimited_existing_run_is_refused() -> None:
    assert allocate_shares(None, [chunk(0), chunk(1)]) == [None, None]
    with pytest.raises(ValueError, match="no spend limit"):
        allocate_shares(Decimal("10"), [chunk(0, existing=True, share=None)])
