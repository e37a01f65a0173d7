"""ONNX: float through torch.onnx (dynamo); int8 as a QDQ model from ONNX Runtime's quantize_static.

The int8 model realizes the variant's quantization on the float parent's ONNX graph with its
calibration settings. CPUs without VNNI (AVX2 only) lose accuracy in ONNX Runtime's fused
u8s8 kernels once graph optimizations run; 7-bit activations (`reduce_range`) avoid that,
and are on by default exactly there.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.export.registry import FLOAT, INT8, ExportFormat
from core.export.run import Artifact
from core.jobs import Progress
from core.runtime import Predictor, export_onnx, onnx_predictor

if TYPE_CHECKING:
    from core.export.run import ExportJob

CALIBRATION_BATCH = 16
# ONNX Runtime keeps every calibration batch's activations until it computes ranges; flushing
# every few batches bounds memory (MobileNetV2 at 224: ~25 MB of activations per image).
MAX_BATCHES_IN_MEMORY = 4


def cpu_has_vnni() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return True  # unknown CPU: keep full-range activations
    return any(flag in flags for flag in ("avx512_vnni", "avx_vnni", "amx_int8"))


def predictor(path: Path) -> Predictor:
    return onnx_predictor(path, threads=1)


def convert(job: ExportJob, fmt: ExportFormat, target: Path, progress: Progress) -> Artifact:
    options = job.options
    if job.source.precision == FLOAT:
        progress(0.1, "exporting ONNX")
        export_onnx(job.float_module(), target, job.input_size, options.dynamic_batch, options.opset)
        return Artifact(FLOAT, predictor, details={"opset": _opset(target), "dynamic_batch": options.dynamic_batch})
    return _int8(job, target, progress)


def _opset(path: Path) -> int:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def _int8(job: ExportJob, target: Path, progress: Progress) -> Artifact:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from core.data.datasets import Preprocessing
    from core.export.pt2e import requantization_notes

    step = job.source.quantize_step
    assert step is not None
    parent = job.float_parent()
    assert parent.module is not None
    progress(0.05, "exporting the float parent to ONNX")
    float_path = export_onnx(parent.module, job.scratch / "float_parent.onnx", job.input_size, True, job.options.opset)
    images = job.calibration_images()
    batches = images.batches(Preprocessing.for_card(parent.card), CALIBRATION_BATCH, progress.span(0.1, 0.9))

    class Reader(CalibrationDataReader):
        def get_next(self) -> dict[str, Any] | None:
            batch = next(batches, None)
            return None if batch is None else {"input": batch[0].numpy()}

    method, extra = _calibration(step.observer)
    reduce_range = job.options.reduce_range if job.options.reduce_range is not None else not cpu_has_vnni()
    progress(0.1, f"calibrating on {len(images)} images ({method.name})")
    quantize_static(
        str(float_path), str(target), Reader(), quant_format=QuantFormat.QDQ, per_channel=step.per_channel,
        reduce_range=reduce_range, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
        calibrate_method=method, extra_options={**extra, "CalibMaxIntermediateOutputs": MAX_BATCHES_IN_MEMORY},
    )  # fmt: skip
    notes = requantization_notes(job)
    notes.append(f"ONNX Runtime calibration: {method.name}" + (", 7-bit activations (reduce_range)" if reduce_range
                 else ""))  # fmt: skip
    details = {"opset": _opset(target), "calibrate_method": method.name, "reduce_range": reduce_range,
               "quant_format": "QDQ", "dynamic_batch": True}  # fmt: skip
    return Artifact(INT8, predictor, notes, details)


def _calibration(observer: str) -> tuple[Any, dict[str, Any]]:
    """The ONNX Runtime calibration closest to the variant's torch observer."""
    from onnxruntime.quantization import CalibrationMethod

    methods: dict[str, tuple[Any, dict[str, Any]]] = {
        "minmax": (CalibrationMethod.MinMax, {}),
        "moving_average": (CalibrationMethod.MinMax, {"CalibMovingAverage": True}),
        # Both search a histogram for the range that loses least; ORT's search is KL (entropy) based.
        "histogram": (CalibrationMethod.Entropy, {}),
        "percentile": (CalibrationMethod.Percentile, {"CalibPercentile": 99.99}),
    }
    return methods[observer]
