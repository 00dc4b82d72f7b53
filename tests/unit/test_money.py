"""USD amounts: Decimal in, atomic USDC units inside, never a float."""

from __future__ import annotations

from decimal import Decimal

import pytest

from prefect_giga.core.money import format_usd, parse_usd, tier_price, to_atomic, to_usd


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("$0.50", Decimal("0.50")),
        ("0.50", Decimal("0.50")),
        (" $1,000.25 ", Decimal("1000.25")),
        (Decimal("2"), Decimal("2")),
        (3, Decimal("3")),
        ("0.000001", Decimal("0.000001")),
        ("0", Decimal("0")),
    ],
)
def test_parse_usd_accepts_decimal_int_and_dollar_strings(value, expected: Decimal) -> None:
    assert parse_usd(value) == expected


@pytest.mark.parametrize("value", [0.5, 1.0, True, False], ids=repr)
def test_parse_usd_refuses_floats_and_bools(value) -> None:
    with pytest.raises(ValueError, match="float"):
        parse_usd(value)


@pytest.mark.parametrize("value", ["-1", "$-0.01", -1, Decimal("-0.000001")], ids=repr)
def test_parse_usd_refuses_negative_amounts(value) -> None:
    with pytest.raises(ValueError, match="non-negative"):
        parse_usd(value)


@pytest.mark.parametrize("value", ["0.0000001", "$1.0000005", Decimal("1E-7")], ids=repr)
def test_parse_usd_refuses_sub_micro_precision(value) -> None:
    with pytest.raises(ValueError, match="6 decimals"):
        parse_usd(value)


@pytest.mark.parametrize("value", ["abc", "", "$", "NaN", "Infinity", "1.2.3"])
def test_parse_usd_refuses_non_numbers(value: str) -> None:
    with pytest.raises(ValueError):
        parse_usd(value)


@pytest.mark.parametrize(
    ("usd", "atomic"),
    [("0.50", 500_000), ("1.00", 1_000_000), ("2", 2_000_000), ("0.000001", 1), ("0", 0)],
)
def test_to_atomic_and_to_usd_round_trip(usd: str, atomic: int) -> None:
    assert to_atomic(usd) == atomic
    assert to_usd(atomic) == Decimal(usd)
    assert to_usd(str(atomic)) == Decimal(usd)
    assert to_atomic(to_usd(atomic)) == atomic


@pytest.mark.parametrize("atomic", ["-5", "1.5", "", "0x10", -1])
def test_to_usd_refuses_non_integer_atomic_amounts(atomic) -> None:
    with pytest.raises(ValueError):
        to_usd(atomic)


def test_to_atomic_refuses_floats() -> None:
    with pytest.raises(ValueError):
        to_atomic(0.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("tier", "price"),
    [("$0.50", Decimal("0.50")), ("$1.00", Decimal("1")), ("$2", Decimal("2")), ("$5", 5)],
)
def test_tier_price_reads_price_keys(tier: str, price) -> None:
    assert tier_price(tier) == price


@pytest.mark.parametrize("tier", ["premium", "0.50", "$", "$abc", "$-1", "$0.0000001", ""])
def test_tier_price_is_none_for_keys_that_are_not_prices(tier: str) -> None:
    assert tier_price(tier) is None


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal("0.5"), "$0.50"),
        (Decimal("2"), "$2.00"),
        (Decimal("0.000001"), "$0.000001"),
        (Decimal("1E+1"), "$10.00"),
    ],
)
def test_format_usd_shows_at_least_cents(amount: Decimal, text: str) -> None:
    assert format_usd(amount) == text
