"""Checks made before any export work: the combination can work, and the output folder takes files."""

from __future__ import annotations

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
                "learned; the variant's own int8 graph goes to ONNX (with its own scales) or TorchScript")  # fmt: skip
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
        raise ExportError(f"cannot write exports to {out_dir}: {exc.strerror or exc}; choose another --out") from exc
