"""The settlement delay knob: paid starts answer after settling, as on a real chain."""

from __future__ import annotations

import pytest

from prefect_giga.testing import EmulatorConfig
from prefect_giga.testing.__main__ import _parser


def test_settlement_delay_defaults_to_zero_and_refuses_negative_values() -> None:
    assert EmulatorConfig().settlement_seconds == 0.0
    assert EmulatorConfig(settlement_seconds=2.0).settlement_seconds == 2.0
    with pytest.raises(ValueError, match="settlement_seconds"):
        EmulatorConfig(settlement_seconds=-1.0)


def test_the_command_line_sets_the_settlement_delay() -> None:
    args = _parser().parse_args(["serve", "--settlement-seconds", "2"])
    assert args.settlement_seconds == 2.0
