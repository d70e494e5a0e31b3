"""The repository itself: no large files in it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 1_000_000
# Pretrained model files ship inside the package, up to 10 MB each.
PRETRAINED_LIMIT = 10_000_000


def _tracked() -> list[Path]:
    try:
        listing = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: no list of tracked files")
    return [ROOT / name for name in listing.decode().split("\0") if name]


def test_no_tracked_file_is_large():
    large = []
    for path in _tracked():
        if not path.is_file():
            continue
        pretrained = path.parent == ROOT / "dos_estimators" / "pretrained"
        limit = PRETRAINED_LIMIT if pretrained else LIMIT
        if path.stat().st_size > limit:
            large.append(f"{path.relative_to(ROOT)} ({path.stat().st_size / 1e6:.1f} MB)")
    assert not large, f"files over the size limit: {large}"
