"""`export_isolated`: `export_model` in a child process (core.child_job), as the studio runs it. A converter's
native passes can neither stall the window nor outlast a Cancel, and a stopped run leaves none of its staging
folders or partial files behind in the output folder."""

from __future__ import annotations

import pickle
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.child_job import run_in_child
from core.export.job import ExportOptions
from core.export.registry import FORMATS
from core.export.report import ExportReport
from core.export.run import export_model
from core.export.source import ExportSource
from core.jobs import Progress

if TYPE_CHECKING:
    from core.data.datasets import ImageDataset

STAGING_PREFIXES = (".export-", ".partial-")  # export_model's scratch folder and staged artifacts


def export_isolated(source: Callable[[], ExportSource], formats: list[str], out_dir: Path, *,
                    options: ExportOptions, calib: ImageDataset | None, evaluation: ImageDataset | None,
                    progress: Progress) -> ExportReport:
    """`source`: a callable that loads the source in the child (`functools.partial(from_project, …)`); `formats`:
    format names. A source that cannot be sent to another process (a TorchScript module) is exported here, in the
    calling thread, as before: Cancel then lands at the converter's next checkpoint."""
    arguments: dict[str, Any] = {"source": source, "formats": formats, "out_dir": out_dir, "options": options,
                                 "calib": calib, "evaluation": evaluation}
    try:
        pickle.dumps(source)
    except (pickle.PicklingError, TypeError, AttributeError, RuntimeError):  # what torch and pickle raise for it
        return _export(**arguments, progress=progress)
    before = _staging(out_dir)

    def leftovers() -> None:
        for path in _staging(out_dir) - before:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)

    return run_in_child(_export, arguments, progress, leftovers)


def _staging(out_dir: Path) -> set[Path]:
    if not out_dir.is_dir():
        return set()
    return {path for path in out_dir.iterdir() if path.name.startswith(STAGING_PREFIXES)}


def _export(source: Callable[[], ExportSource], formats: list[str], out_dir: Path, options: ExportOptions,
            calib: ImageDataset | None, evaluation: ImageDataset | None,
            progress: Progress) -> ExportReport:
    return export_model(source(), [FORMATS[name] for name in formats], out_dir, options=options, calib=calib,
                        evaluation=evaluation, progress=progress)
