"""Moved to `prefect_giga.payments.budget` (old imports and saved results use this path)."""

from .payments.budget import SpendBudget

__all__ = ["SpendBudget"]
