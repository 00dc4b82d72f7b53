"""Asset keys derived from where files were harvested, and the documented automations."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from prefect.events.schemas.automations import AutomationCore
from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger
from prefect.filesystems import LocalFileSystem, RemoteFileSystem
from prefect.types.names import validate_valid_asset_key

from prefect_giga.assets import asset_key_for_folder, run_folder_uri

DOCS = Path(__file__).resolve().parents[2] / "docs" / "recipes"
REPO = Path(__file__).resolve().parents[2]


def test_local_folder_key_is_its_file_uri(tmp_path: Path) -> None:
    uri = run_folder_uri(str(tmp_path / "out"), "r1")
    assert uri == (tmp_path / "out" / "r1").as_uri()
    assert asset_key_for_folder(uri) == uri


def test_folder_needing_percent_encoding_gets_a_valid_distinct_key(tmp_path: Path) -> None:
    spaced = run_folder_uri(str(tmp_path / "giga out"), "r1")
    assert "%20" in spaced  # the exact URI is percent-encoded
    key = asset_key_for_folder(spaced)
    assert validate_valid_asset_key(key) == key
    assert key != asset_key_for_folder(run_folder_uri(str(tmp_path / "giga#out"), "r1"))


def test_local_filesystem_block_key_is_under_its_basepath(tmp_path: Path) -> None:
    block = LocalFileSystem(basepath=str(tmp_path / "store"))
    uri = run_folder_uri("reports/2026-12-03", "r1", block)
    assert uri == (tmp_path / "store" / "reports" / "2026-12-03" / "r1").as_uri()


def test_remote_filesystem_block_key_is_its_url() -> None:
    block = RemoteFileSystem(basepath="s3://bucket/giga/")
    assert run_folder_uri("nightly", "r1", block) == "s3://bucket/giga/nightly/r1"


def test_bucket_block_key_names_bucket_and_folder() -> None:
    class S3Bucket:  # the attributes prefect-aws's S3Bucket has
        bucket_name = "reports"
        bucket_folder = "giga"

    assert run_folder_uri("nightly", "r1", S3Bucket()) == "s3://reports/giga/nightly/r1"


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
