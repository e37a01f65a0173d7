"""Checks made before any export work: the combination can work, and the output folder takes files."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import ExportError
from core.export.job import ExportOptions
from core.export.registry import FORMATS, FP16, INT8, INT8_DYNAMIC, ExportFormat
from core.export.source import ExportSource

if TYPE_CHECKING:
    from core.data.datasets import ImageDataset


def check_supported(
    source: ExportSource,
    formats: list[ExportFormat],
    calib: ImageDataset | None,
    options: ExportOptions | None = None,
) -> None:
    """Refuse combinations that cannot work before any work starts; the message names the alternative."""
    if source.model.module is None:
        raise ExportError(
            f"{source.name} is an ONNX file: exporters start from a PyTorch model; export the model or "
            "project variant it was made from"
        )
    precision = source.precision
    for fmt in formats:
        if precision not in fmt.precisions:
            takes = [f.name for f in _formats_taking(precision)]
            why = {
                FP16: "fp16 variants keep fp16 weights only where the format stores them",
                INT8_DYNAMIC: "dynamic int8 quantizes only the Linear layer at run time",
            }.get(precision, f"{fmt.title} cannot hold a {precision} model")
            raise ExportError(
                f"{fmt.title} cannot export {source.name} ({precision}): {why}; use --format "
                f"{','.join(takes) or 'torchscript'}, or export the float parent"
                + (" with --fp16" if precision == FP16 else "")
            )
        if precision == INT8 and (options or ExportOptions()).requantizes(fmt):
            if source.parent_problem:
                raise ExportError(source.parent_problem)
            if source.float_parent is None:
                source.load_float_parent()  # raises with the explanation
            if calib is None:
                raise ExportError(
                    f"{fmt.title} re-quantizes the float parent of {source.name} and needs calibration images "
                    "(--calib DIR); or use --format torchscript, which exports the int8 model as it is"
                )


def _formats_taking(precision: str) -> list[ExportFormat]:
    return [f for f in FORMATS.values() if precision in f.precisions]


def check_writable(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise ExportError(f"cannot write exports to {out_dir}: {exc.strerror or exc}; choose another --out") from exc
