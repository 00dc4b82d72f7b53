"""Asset keys are URIs of the folders runs were harvested into."""

from __future__ import annotations

from pathlib import Path

from prefect.filesystems import LocalFileSystem, RemoteFileSystem
from prefect.types.names import validate_valid_asset_key

from prefect_giga.assets import asset_key_for_folder, run_folder_uri


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
