"""The automations documented in docs/recipes/automations.md and deployments/prefect.yaml."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from prefect.events.schemas.automations import AutomationCore
from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "recipes"


def _blocks(page: str, language: str) -> list[str]:
    text = (DOCS / page).read_text(encoding="utf-8")
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def test_documented_alert_automation_is_valid() -> None:
    [alert, _trigger] = _blocks("automations.md", "yaml")
    automation = AutomationCore.model_validate(yaml.safe_load(alert))
    assert automation.trigger.expect == {"giga.run.failed"}  # type: ignore[union-attr]


@pytest.mark.parametrize("source", ["docs", "deployments"])
def test_documented_downstream_trigger_is_valid(source: str) -> None:
    if source == "docs":
        text = _blocks("automations.md", "yaml")[1]
    else:
        text = (REPO / "deployments" / "prefect.yaml").read_text(encoding="utf-8")
    deployments = yaml.safe_load(text)["deployments"]
    [reader] = [d for d in deployments if d["name"] == "read-giga-outputs"]
    [trigger] = [DeploymentEventTrigger.model_validate(t) for t in reader["triggers"]]
    assert trigger.expect == {"giga.batch.completed"}
    assert set(trigger.parameters or {}) == {"dest", "run_ids", "batch"}
