"""Artifacts are written under a temporary name beside their final path and renamed into place."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from core.errors import ExportError
from core.jobs import Progress


@contextlib.contextmanager
def staged(target: Path, progress: Progress) -> Iterator[Path]:
    """A temporary path beside `target` (file or folder) that becomes `target` only on success."""
    _check_replaceable(target)
    temp = target.parent / f".partial-{uuid.uuid4().hex[:8]}-{target.name}"
    try:
        yield temp
        progress.check()  # a cancel during the conversion stops here, before anything is in place
        if target.is_dir():
            shutil.rmtree(target)  # an earlier package of this artifact (checked above)
        os.replace(temp, target)
    finally:
        if temp.is_dir():
            shutil.rmtree(temp, ignore_errors=True)
        else:
            temp.unlink(missing_ok=True)


def _check_replaceable(target: Path) -> None:
    """What is at `target` may be replaced only if it is an earlier artifact: a regular file, or a Core ML package
    folder. A link, or a user's own folder that happens to carry the artifact's name, is refused, never removed."""
    if target.is_symlink():
        raise ExportError(f"{target} is a link; the export does not replace it: remove it or choose another folder")
    if target.is_dir() and not (target / "Manifest.json").is_file():
        raise ExportError(f"{target} is a folder that is not an earlier export; the export does not remove it: "
                          "rename it or choose another output folder")
    if target.exists() and not target.is_dir() and not target.is_file():
        raise ExportError(f"{target} is not a regular file (a pipe, device or socket); choose another folder")


def artifact_size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size
