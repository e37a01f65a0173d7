"""Checks made before any export work: the combination can work, and the output folder takes files."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import ExportError
from core.export.job import ExportOptions
from core.export.registry import FORMATS, ExportFormat
from core.export.source import ExportSource
from core.precision import Fp16, Int8Dynamic, Int8Qat, Int8Static, Precision

if TYPE_CHECKING:
    from core.data.datasets import ImageDataset

MIN_OPSET = 7  # torch.onnx's oldest; ONNX's opsets 1-6 predate most of a MobileNet's operators


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
    options = options or ExportOptions()
    if options.opset is not None and FORMATS["onnx"] in formats:
        _check_opset(options.opset)
    precision = source.precision
    for fmt in formats:
        requantizes = options.requantizes(fmt)
        if not fmt.takes(precision) or (isinstance(precision, Int8Qat) and requantizes):
            takes = [f.name for f in _formats_taking(precision)]
            raise ExportError(
                f"{fmt.title} cannot export {source.name} ({precision}): {_why_not(fmt, precision)}; use --format "
                f"{','.join(takes) or 'torchscript'}, or export the float parent"
                + (" with --fp16" if isinstance(precision, Fp16) else "")
            )
        if isinstance(precision, Int8Static) and requantizes:
            if source.parent_problem:
                raise ExportError(source.parent_problem)
            if source.float_parent is None:
                source.load_float_parent()  # raises with the explanation
            if calib is None:
                raise ExportError(
                    f"{fmt.title} re-quantizes the float parent of {source.name} and needs calibration images "
                    "(--calib DIR); or use --format torchscript, which exports the int8 model as it is"
                )


def _why_not(fmt: ExportFormat, precision: Precision) -> str:
    if isinstance(precision, Fp16):
        return "fp16 variants keep fp16 weights only where the format stores them"
    if isinstance(precision, Int8Dynamic):
        return "dynamic int8 quantizes only the Linear layer at run time"
    if isinstance(precision, Int8Qat):
        return (f"{fmt.title} re-quantizes the float parent, which would lose what quantization-aware training "
                "learned; the variant's own int8 graph goes to ONNX (with its own scales) or TorchScript")
    return f"{fmt.title} cannot hold a {precision} model"


def _check_opset(opset: int) -> None:
    """Refuse an opset no exporter can write (the exporter would write another and still say it was asked)."""
    import onnx

    from core.export.onnx_format import dynamo_opsets

    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= newest:
        floats = dynamo_opsets()
        raise ExportError(
            f"ONNX opset {opset} cannot be exported: opsets run from {MIN_OPSET} to {newest} here, and float models "
            f"export at {floats[0]}-{floats[-1]}; choose one of those, or leave --opset out"
        )


def _formats_taking(precision: Precision) -> list[ExportFormat]:
    qat = isinstance(precision, Int8Qat)  # re-quantizing its float parent would lose what QAT learned
    return [f for f in FORMATS.values() if f.takes(precision) and not (qat and f.requantizes)]


def check_writable(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".write-test-"):
            pass
    except OSError as exc:
        why = folder_problem(out_dir) or exc.strerror or exc
        raise ExportError(f"cannot write exports to {out_dir}: {why}; choose another --out") from exc


def folder_problem(out_dir: Path) -> str | None:
    """Why exports cannot go to `out_dir`, in plain words; None when they can. Nothing is created: the studio asks
    as the folder is typed. (Permissions are as the OS reports them, so root passes wherever `check_writable` may
    still find a read-only disk.)"""
    if out_dir.exists():
        if not out_dir.is_dir():
            return f"{out_dir} is a file, not a folder"
        return None if os.access(out_dir, os.W_OK | os.X_OK) else f"{out_dir} is not writable"
    existing = next(parent for parent in out_dir.absolute().parents if parent.exists())
    if not existing.is_dir():
        return f"{out_dir} cannot be created here: {existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{out_dir} cannot be created here: {existing} is not writable"
    return None
