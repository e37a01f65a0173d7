"""A full disk: a clear message naming the disk, no partial file, no crash (a small tmpfs stands in)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TINY = ["mobilenet_v3_small:res=64", "--weights", "none"]  # a 10 MB float state_dict: more than the disk holds
DISK_MB = 6


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _mnstudio(*argv: str) -> subprocess.CompletedProcess[str]:
    """In a subprocess: a writer that aborts (as torch's did on a full disk) must not take the test run down."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "core.cli", *argv], capture_output=True, text=True, env=env,
                          timeout=300)


def _everything(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("formats", ["torchscript", "onnx", "pt2"])
def test_export_to_a_full_disk_fails_cleanly_and_leaves_nothing(small_disk: Path, formats: str) -> None:
    out = small_disk / "exports"
    done = _mnstudio("export", *TINY, "--format", formats, "--out", str(out), "--latency-runs", "0")
    assert done.returncode == 2, done.stderr
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith("mnstudio: error:") and str(small_disk) in message and "free" in message
    assert _everything(out) == [], "no partial artifact, temporary folder or report"


def test_compress_into_a_full_disk_fails_cleanly_and_keeps_the_project_readable(small_disk: Path) -> None:
    from core.project import Project

    out = small_disk / "project"
    done = _mnstudio("compress", *TINY, "--recipe", str(_dynamic_recipe(small_disk)), "--out", str(out),
                     "--threads", "1")
    assert done.returncode == 2, done.stderr
    message = done.stderr.strip().splitlines()[-1]
    assert str(small_disk) in message and "free" in message
    assert Project.open(out).variants == []
    assert _everything(out / "variants") == [], "no staging folder"


def test_a_write_that_the_disk_refuses_midway_leaves_no_partial_file(small_disk: Path) -> None:
    from core.errors import DiskFullError
    from core.storage import atomic_write

    target = small_disk / "big.bin"

    def write(tmp: Path) -> None:  # bypasses the free-space check, as a library's own writer does
        with open(tmp, "wb") as fh:
            fh.write(b"\0" * (DISK_MB + 1) * 1_000_000)

    with pytest.raises(DiskFullError, match="is full"):
        atomic_write(target, write)
    assert _everything(small_disk) == []


def _dynamic_recipe(folder: Path) -> Path:
    path = folder.parent / "dynamic.json"
    path.write_text('{"format": "mnstudio-recipe", "version": 1, "name": "d", "steps": [{"type": "quantize", '
                    '"mode": "dynamic"}]}')
    return path
