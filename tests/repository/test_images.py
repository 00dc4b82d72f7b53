"""Every picture in ``docs/images/`` is the one ``scripts/screenshots.sh`` recorded."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "docs" / "images"
PICTURE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg"}


def _manifest() -> dict[str, object]:
    manifest: dict[str, object] = json.loads((IMAGES / "manifest.json").read_text())
    return manifest


def _pictures() -> dict[str, dict[str, str]]:
    pictures = _manifest()["pictures"]
    assert isinstance(pictures, dict)
    return pictures


def test_manifest_says_where_the_pictures_come_from() -> None:
    manifest = _manifest()
    assert re.fullmatch(r"[0-9a-f]{40}", str(manifest["commit"]))
    assert re.fullmatch(r"3\.\d+\.\d+.*", str(manifest["prefect_version"]))
    assert len(_pictures()) >= 5


def test_every_picture_is_in_the_manifest_with_its_sha256() -> None:
    pictures = _pictures()
    on_disk = sorted(p for p in IMAGES.iterdir() if p.suffix.lower() in PICTURE_SUFFIXES)
    unlisted = [p.name for p in on_disk if p.name not in pictures]
    changed = [
        p.name
        for p in on_disk
        if p.name in pictures
        and hashlib.sha256(p.read_bytes()).hexdigest() != pictures[p.name]["sha256"]
    ]
    missing = [name for name in pictures if not (IMAGES / name).is_file()]
    assert not unlisted, f"pictures not in docs/images/manifest.json: {unlisted}"
    assert not changed, f"pictures whose sha256 differs from the manifest: {changed}"
    assert not missing, f"manifest entries without a picture: {missing}"


def test_every_picture_a_page_shows_exists() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    shown = {
        (page.parent / target).resolve()
        for page in pages
        for target in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", page.read_text(encoding="utf-8"))
        if not target.startswith(("http://", "https://"))
    }
    assert shown, "no page shows a picture"
    assert not [str(p.relative_to(ROOT)) for p in shown if not p.is_file()]
    assert not [name for name in _pictures() if (IMAGES / name).resolve() not in shown]
