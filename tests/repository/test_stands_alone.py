"""The repository stands alone: no tracked file names a path outside it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Built from pieces so that this file does not match itself.
OUTSIDE_MARKERS = ["../" + "shared", "/" + "work" + "/"]


def _markers() -> list[str]:
    """The fixed markers plus this machine's absolute paths: the checkout, its parent, home."""
    machine = {str(ROOT), str(ROOT.parent), str(Path.home())} - {"/"}
    return OUTSIDE_MARKERS + sorted(path + "/" for path in machine)


def _tracked_files() -> list[Path]:
    listing = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    return [ROOT / name for name in listing.decode().split("\0") if name]


def find_outside_paths(files: Iterable[Path], markers: list[str], base: Path) -> list[str]:
    """``file:line: marker`` for every marker found in the files (bytes, so binaries too)."""
    offenders = []
    for path in files:
        if not path.is_file():  # deleted in the work tree, not yet committed
            continue
        data = path.read_bytes()
        for marker in markers:
            at = data.find(marker.encode())
            if at >= 0:
                line = data[:at].count(b"\n") + 1
                offenders.append(f"{path.relative_to(base)}:{line}: {marker}")
    return offenders


def test_no_tracked_file_names_a_path_outside_the_repository() -> None:
    tracked = _tracked_files()
    assert tracked, "git ls-files listed nothing"
    offenders = find_outside_paths(tracked, _markers(), ROOT)
    assert not offenders, "paths outside the repository:\n" + "\n".join(offenders)


def test_an_outside_path_is_found(tmp_path: Path) -> None:
    sample = tmp_path / "sample.md"
    sample.write_text("ok\nSee " + OUTSIDE_MARKERS[0] + "/spec/giga-api.md\n")
    clean = tmp_path / "clean.md"
    clean.write_text("See docs/api.md\n")
    assert find_outside_paths([sample, clean], OUTSIDE_MARKERS, tmp_path) == [
        f"sample.md:2: {OUTSIDE_MARKERS[0]}"
    ]
