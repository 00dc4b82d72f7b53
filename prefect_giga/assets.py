"""Harvested outputs declared to Prefect as assets, one per run folder, via `materialize`.

An asset's key is a URI derived from where the run's files were stored: a local folder (or a
`LocalFileSystem` block's folder) as a ``file://`` URI, a remote storage block's folder as
its own URL (``s3://bucket/prefix/<run_id>``...). Prefect emits one
``prefect.asset.materialization.succeeded`` event per asset, which a downstream deployment can
trigger on.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote

from prefect.assets import Asset, AssetProperties, add_asset_metadata, materialize
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.types.names import RESTRICTED_ASSET_CHARACTERS, validate_valid_asset_key

from .results import RunOutput

__all__ = ["MATERIALIZED_BY", "asset_key_for_folder", "declare_assets", "run_folder_uri"]

MATERIALIZED_BY = "prefect-giga"
"""The ``by`` of every materialization (shown as the asset's materializer in Prefect)."""

_BUCKET_SCHEMES = {"S3Bucket": "s3", "GcsBucket": "gs", "AzureBlobStorageContainer": "az"}
_UNSAFE = re.compile("|".join(re.escape(c) for c in [*RESTRICTED_ASSET_CHARACTERS, "%"]))


def _join(*parts: str) -> str:
    text = "/".join(p.strip("/") for p in parts if p and p.strip("/") not in ("", "."))
    return str(PurePosixPath(text)) if text else ""


def run_folder_uri(dest: str, run_id: str, filesystem: Any | None = None) -> str:
    """The URI of the folder a run's files were harvested into (percent-encoded).

    Mirrors where `harvest` writes: ``dest/<run_id>`` locally, inside a `LocalFileSystem`
    block's base path, inside an fsspec block's base URL, or in a bucket block's folder.

    Example:
        >>> run_folder_uri("/data/giga out", "r1")
        'file:///data/giga%20out/r1'
    """
    if filesystem is None:
        return (Path(dest).expanduser().absolute() / run_id).as_uri()
    kind = type(filesystem).__name__
    if kind == "LocalFileSystem":
        base = Path(filesystem.basepath or ".").expanduser().absolute()
        return (base / _join(str(dest)) / run_id).as_uri()
    basepath = getattr(filesystem, "basepath", None)
    if isinstance(basepath, str) and "://" in basepath:
        scheme, _, rest = basepath.partition("://")
        return f"{scheme.lower()}://{_join(rest, str(dest), run_id)}"
    bucket = getattr(filesystem, "bucket_name", None) or getattr(filesystem, "container_name", None)
    if isinstance(bucket, str) and kind in _BUCKET_SCHEMES:
        folder = str(getattr(filesystem, "bucket_folder", "") or "")
        return f"{_BUCKET_SCHEMES[kind]}://{_join(bucket, folder, str(dest), run_id)}"
    name = getattr(filesystem, "_block_document_name", None) or kind.lower()
    return f"block://{_join(re.sub(r'[^a-z0-9-]+', '-', str(name).lower()), str(dest), run_id)}"


def asset_key_for_folder(uri: str) -> str:
    """A valid Prefect asset key for the folder at ``uri``.

    Prefect refuses ``%`` (and spaces, ``#``, ``?``...) in asset keys, so a URI that needed
    percent-encoding gets those characters replaced by ``-`` and a short digest of the exact
    URI appended, which keeps keys of different folders apart. The exact URI is recorded in
    the materialization's metadata as ``uri``.

    Example:
        >>> asset_key_for_folder("file:///data/out/r1")
        'file:///data/out/r1'
        >>> asset_key_for_folder("file:///data/giga%20out/r1").startswith("file:///data/giga-20out/r1-")
        True
    """
    try:
        return validate_valid_asset_key(uri)
    except ValueError:
        digest = hashlib.sha256(uri.encode()).hexdigest()[:10]
        key = f"{_UNSAFE.sub('-', uri)[:490]}-{digest}"
        return validate_valid_asset_key(key)


def _metadata(output: RunOutput, uri: str) -> dict[str, Any]:
    return {
        "uri": uri,
        "location": unquote(uri),
        "run_id": output.run_id,
        "status": output.status.value,
        "file_count": len(output.files),
        "bytes": sum(f.size for f in output.files),
        "files": [f.path for f in output.files[:100]],
    }


async def declare_assets(
    outputs: Sequence[RunOutput],
    dest: str,
    filesystem: Any | None = None,
) -> list[str]:
    """Declare each harvested run folder as a Prefect asset materialized by prefect-giga.

    Runs one materializing task (inside a flow run) whose completion makes Prefect emit a
    ``prefect.asset.materialization.succeeded`` event per folder, with the run id, file
    count, bytes and paths as metadata. Runs that produced no file declare nothing.

    Returns:
        The asset keys, in the order of ``outputs``.

    Example:
        ```python
        output = await aharvest_run(credentials, run.id, dest="reports")
        keys = await declare_assets([output], dest="reports")
        ```
    """
    uris = {o.run_id: run_folder_uri(dest, o.run_id, filesystem) for o in outputs if o.files}
    if not uris:
        return []
    keys = {run_id: asset_key_for_folder(uri) for run_id, uri in uris.items()}
    if FlowRunContext.get() is None:
        return list(keys.values())
    assets = [
        Asset(
            key=keys[o.run_id],
            properties=AssetProperties(
                name=f"Giga run {o.run_id}",
                description=f"Files harvested from Giga run {o.run_id}",
            ),
        )
        for o in outputs
        if o.run_id in keys
    ]

    @materialize(
        *assets,
        by=MATERIALIZED_BY,
        name="declare-giga-assets",
        cache_policy=NO_CACHE,
        persist_result=False,
    )
    async def record_materializations() -> int:
        for output in outputs:
            if output.run_id in keys:
                add_asset_metadata(keys[output.run_id], _metadata(output, uris[output.run_id]))
        return len(keys)

    await record_materializations()
    return list(keys.values())
