"""ONNX: float through torch.onnx (dynamo); int8 as a QDQ model.

By default the int8 model is the variant's own graph with its scales. CPUs without VNNI (AVX2
only) lose accuracy in ONNX Runtime's fused u8s8 kernels once graph optimizations run (their
16-bit intermediate sums saturate); for them (`reduce_range`, on by default exactly there) the
float parent is re-quantized by ONNX Runtime's quantize_static with 7-bit weights and the
variant's calibration settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import ExportError
from core.export.job import Artifact
from core.export.registry import ExportFormat
from core.jobs import Progress
from core.precision import FLOAT, INT8, Float
from core.runtime import Predictor, export_onnx, onnx_predictor

if TYPE_CHECKING:
    from core.export.job import ExportJob

CALIBRATION_BATCH = 16
# ONNX Runtime keeps every calibration batch's activations until it computes ranges (MobileNetV2 at
# 224: tens of MB per image; 512 images exhausted 23 GB). Its strided calibration folds them into
# ranges or histograms every few batches instead.
BATCHES_PER_CHUNK = 2
# The opsets each exporter writes as asked (measured with torch 2.14 and onnx 1.23 on the zoo MobileNets). The dynamo
# exporter implements 18 and up; asked for less, its down-conversion of these graphs fails and it writes 18 without
# an error. The TorchScript one (the int8 graph) needs 13 for per-channel DequantizeLinear and refuses above 23.
DYNAMO_MIN_OPSET = 18
INT8_GRAPH_OPSETS = range(13, 24)


def predictor(path: Path) -> Predictor:
    return onnx_predictor(path, threads=1)


def convert(job: ExportJob, fmt: ExportFormat, target: Path, progress: Progress) -> Artifact:
    artifact = _converted(job, target, progress)
    _stamp_class_names(target, job.source.model.card.class_names)
    return artifact


def _stamp_class_names(path: Path, names: tuple[str, ...]) -> None:
    """The model's class names, in class order, as the file's `class_names` metadata (a JSON list), where
    Netron and an app's loader find them."""
    import json

    import onnx

    if not names:
        return
    model = onnx.load(str(path), load_external_data=False)
    entry = model.metadata_props.add()
    entry.key, entry.value = "class_names", json.dumps(list(names), ensure_ascii=False)
    onnx.save(model, str(path))


def _converted(job: ExportJob, target: Path, progress: Progress) -> Artifact:
    options = job.options
    if isinstance(job.source.precision, Float):
        progress(0.1, "exporting ONNX")
        export_onnx(job.float_module(), target, job.input_size, options.dynamic_batch, options.opset)
        opset = _written_opset(target, options.opset, dynamo_opsets())
        return Artifact(FLOAT, predictor, details={"opset": opset, "dynamic_batch": options.dynamic_batch})
    return _int8(job, target, progress)


def dynamo_opsets() -> range:
    import onnx

    return range(DYNAMO_MIN_OPSET, onnx.defs.onnx_opset_version() + 1)


def _written_opset(path: Path, asked: int | None, works: range) -> int:
    """The file's opset. One asked for that the exporter did not write fails the export: a report naming the
    asked opset would be false, and a file at another opset may not load where the user needs it."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    written = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if asked is not None and written != asked:
        raise ExportError(
            f"ONNX opset {asked} was asked for but the exporter wrote opset {written}; this model exports at "
            f"opsets {works[0]}-{works[-1]}: choose one of those, or leave --opset out"
        )
    return written


def _int8(job: ExportJob, target: Path, progress: Progress) -> Artifact:
    if job.options.onnx_reduce_range:
        return _requantized(job, target, progress)
    return _variant_graph(job, target, progress)


def _variant_graph(job: ExportJob, target: Path, progress: Progress) -> Artifact:
    """The variant's own int8 graph as QDQ: its scales and zero points, nothing re-calibrated.

    PyTorch's dynamo exporter cannot read eager int8 modules; the TorchScript-based one can
    (deprecated, hence the note). Measured on V2: 96.7 % top-1 agreement (300 images) with the torch int8
    variant, against 94 % for a re-quantization of the float parent.
    """
    progress(0.1, "exporting the variant's int8 graph")
    assert job.model.module is not None
    export_onnx(job.model.module, target, job.input_size, job.options.dynamic_batch, job.options.opset)
    notes = [
        "the variant's own int8 scales as QuantizeLinear/DequantizeLinear (no re-calibration)",
        "exported with torch.onnx's TorchScript-based exporter (deprecated; dynamo cannot read eager int8)",
    ]
    opset = _written_opset(target, job.options.opset, INT8_GRAPH_OPSETS)
    details = {"opset": opset, "quant_format": "QDQ", "scales": "variant",
               "dynamic_batch": job.options.dynamic_batch}
    return Artifact(INT8, predictor, notes, details)


def _requantized(job: ExportJob, target: Path, progress: Progress) -> Artifact:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    from core.data.datasets import Preprocessing
    from core.export.pt2e import requantization_notes

    step = job.source.quantize_step
    assert step is not None
    parent = job.float_parent()
    assert parent.module is not None
    progress(0.05, "exporting the float parent to ONNX")
    float_path = export_onnx(parent.module, job.scratch / "float_parent.onnx", job.input_size, True, job.options.opset)
    _written_opset(float_path, job.options.opset, dynamo_opsets())  # fail before calibrating, which takes minutes
    images = job.calibration_images()
    reader = _calibration_reader(images, Preprocessing.for_card(parent.card), progress.span(0.1, 0.9))
    method, extra = _calibration(step.observer)
    reduce_range = job.options.onnx_reduce_range
    progress(0.1, f"calibrating on {len(images)} images ({method.name})")
    quantize_static(
        str(float_path), str(target), reader, quant_format=QuantFormat.QDQ, per_channel=step.per_channel,
        reduce_range=reduce_range, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
        calibrate_method=method, extra_options={**extra, "CalibStridedMinMax": reader.stride},
    )
    notes = requantization_notes(job)
    range_note = ", 7-bit weights (reduce_range, for CPUs without VNNI)" if reduce_range else ""
    notes.append(f"ONNX Runtime calibration: {method.name}{range_note}")
    opset = _written_opset(target, job.options.opset, dynamo_opsets())  # quantize_static keeps the parent's
    details = {"opset": opset, "calibrate_method": method.name, "reduce_range": reduce_range,
               "quant_format": "QDQ", "dynamic_batch": True}
    return Artifact(INT8, predictor, notes, details)


def _calibration_reader(images: Any, preprocess: Any, progress: Progress) -> Any:
    """Calibration batches for ONNX Runtime, readable in ranges (its strided calibration)."""
    from dataclasses import replace

    from onnxruntime.quantization import CalibrationDataReader

    chunks = [images.samples[i : i + CALIBRATION_BATCH] for i in range(0, len(images), CALIBRATION_BATCH)]
    report = progress.steps(len(chunks), "calibration batches")

    class Reader(CalibrationDataReader):
        # The stride must divide the number of batches: the largest divisor up to BATCHES_PER_CHUNK.
        stride = max(d for d in range(1, BATCHES_PER_CHUNK + 1) if len(chunks) % d == 0)

        def __init__(self) -> None:
            self.set_range(0, len(chunks))

        def __len__(self) -> int:
            return len(chunks)

        def set_range(self, start_index: int, end_index: int) -> None:
            self.pending = iter(range(start_index, min(end_index, len(chunks))))

        def get_next(self) -> dict[str, Any] | None:
            index = next(self.pending, None)
            if index is None:
                return None
            chunk = replace(images, samples=chunks[index])
            batch = next(chunk.batches(preprocess, batch_size=len(chunks[index])), None)
            report(index + 1)
            if batch is None:  # every image of the chunk was unreadable: skip it, ORT refuses empty inputs
                return self.get_next()
            return {"input": batch[0].numpy()}

    return Reader()


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
