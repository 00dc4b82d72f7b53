"""USD amounts: `Decimal` in the public API, integer atomic units (6 decimals) inside."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

__all__ = ["USDC_DECIMALS", "format_usd", "parse_usd", "tier_price", "to_atomic", "to_usd"]

USDC_DECIMALS = 6
_SCALE = Decimal(10) ** USDC_DECIMALS
_TIER_PRICE = re.compile(r"^\$(\d+(?:\.\d+)?)$")


def parse_usd(value: Decimal | str | int) -> Decimal:
    """Parse a USD amount given as ``Decimal``, ``int`` or a string like ``"$1.50"``.

    Floats are refused: money is never a float here.

    Args:
        value: The amount.

    Returns:
        The amount as a non-negative `Decimal`.

    Raises:
        ValueError: The value is a float, negative, not a number, or finer than a micro-dollar.

    Example:
        >>> parse_usd("$0.50")
        Decimal('0.50')
    """
    if isinstance(value, (bool, float)):
        raise ValueError("money must be a Decimal, int or string, never a float")
    if isinstance(value, str):
        text = value.strip().removeprefix("$").replace(",", "")
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"not a USD amount: {value!r}") from None
    else:
        amount = Decimal(value)
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"not a non-negative USD amount: {value!r}")
    if (amount * _SCALE) != (amount * _SCALE).to_integral_value():
        raise ValueError(f"USD amount {value!r} is finer than USDC's 6 decimals")
    return amount


def to_atomic(amount: Decimal | str | int) -> int:
    """Convert USD to USDC atomic units (6 decimals).

    Example:
        >>> to_atomic("$0.50")
        500000
    """
    return int(parse_usd(amount) * _SCALE)


def to_usd(atomic: int | str) -> Decimal:
    """Convert USDC atomic units to USD.

    Raises:
        ValueError: The value is not a non-negative integer.

    Example:
        >>> to_usd(1500000)
        Decimal('1.5')
    """
    text = str(atomic)
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"not an atomic USDC amount: {atomic!r}")
    amount = (Decimal(int(text)) / _SCALE).normalize()
    return amount.quantize(Decimal(1)) if amount == amount.to_integral_value() else amount


def format_usd(amount: Decimal) -> str:
    """Format USD for people, with at least two decimals: ``$0.50``, ``$0.000001``.

    Example:
        >>> format_usd(Decimal("2"))
        '$2.00'
    """
    quantized = (
        amount.quantize(Decimal("0.01")) if amount == amount.quantize(Decimal("0.01")) else amount
    )
    return f"${quantized:f}"


def tier_price(tier: str) -> Decimal | None:
    """The price a Giga tier key names, or ``None`` when the key is not a price.

    Giga's tier keys are prices (``"$1.00"``), so the key itself says what the quote must be.

    Example:
        >>> tier_price("$1.00")
        Decimal('1.00')
        >>> tier_price("premium") is None
        True
    """
    match = _TIER_PRICE.match(tier.strip())
    if match is None:
        return None
    try:
        return parse_usd(match.group(1))
    except ValueError:
        return None
