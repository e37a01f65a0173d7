"""Artifacts are written under a temporary name beside their final path and renamed into place."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from core.jobs import Progress


@contextlib.contextmanager
def staged(target: Path, progress: Progress) -> Iterator[Path]:
    """A temporary path beside `target` (file or folder) that becomes `target` only on success."""
    temp = target.parent / f".partial-{uuid.uuid4().hex[:8]}-{target.name}"
    try:
        yield temp
        progress.check()  # a cancel during the conversion stops here, before anything is in place
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(temp, target)
    finally:
        if temp.is_dir():
            shutil.rmtree(temp, ignore_errors=True)
        else:
            temp.unlink(missing_ok=True)


def artifact_size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size
