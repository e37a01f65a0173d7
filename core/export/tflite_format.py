"""TensorFlow Lite (LiteRT) through litert-torch, without TensorFlow; run by ai_edge_litert.

float: converted as is; fp16: float weights cast to fp16 by ai-edge-quantizer; int8: the float
parent quantized with litert-torch's PT2E quantizer (the variant's calibration settings), every
operator int8, with either int8 input and output tensors (`int8_io`) or float32 ones that the graph
quantizes and dequantizes at its edges. NHWC input is optional (Android bitmaps are HWC). Every file carries
image-classifier metadata and its labels (core.export.tflite_metadata).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.data.labels import placeholder_names
from core.export.job import Artifact
from core.export.registry import ExportFormat
from core.export.tflite_metadata import ClassifierMetadata, add_metadata
from core.jobs import Progress
from core.precision import FLOAT, FP16, INT8, Fp16, Int8, Precision
from core.runtime import Predictor
from core.storage import write_bytes

if TYPE_CHECKING:
    from core.export.job import ExportJob

FP16_RECIPE = [{
    "regex": ".*", "operation": "*", "algorithm_key": "float_casting",
    "op_config": {"weight_tensor_config": {"num_bits": 16, "dtype": "FLOAT"}, "compute_precision": "FLOAT",
                  "explicit_dequantize": True},
}]
# The strict-QDQ switch below is process-wide: conversions take turns so that one asking for int8 I/O
# never runs while another has the switch on.
_CONVERTING = threading.Lock()


def convert(job: ExportJob, fmt: ExportFormat, target: Path, progress: Progress) -> Artifact:
    import litert_torch

    notes: list[str] = []
    options = job.options.decided(None)  # export_model decided them; a job made without it gets a plain file's
    nhwc = bool(options.nhwc)
    if isinstance(job.source.precision, Int8):
        from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
        from litert_torch.quantize.quant_config import QuantConfig

        from core.export.pt2e import quantize_parent, requantization_notes, with_variant_observer

        assert job.source.quantize_step is not None
        step = job.source.quantize_step
        config = with_variant_observer(get_symmetric_quantization_config(is_per_channel=step.per_channel), step)
        quantizer = PT2EQuantizer().set_global(config)
        module = quantize_parent(job, quantizer, progress.span(0.0, 0.6), fold_quantize=False)
        int8_io = bool(options.int8_io)
        progress(0.6, f"converting to TFLite int8 ({'int8' if int8_io else 'float32'} input and output)")
        with _CONVERTING, contextlib.nullcontext() if int8_io else _strict_qdq():
            edge = litert_torch.convert(_layout(module, nhwc), (_example(job, nhwc),),
                                        quant_config=QuantConfig(pt2e_quantizer=quantizer))
        edge.export(str(target))
        precision: Precision = INT8
        notes = requantization_notes(job)
    else:
        progress(0.1, "converting to TFLite")
        with _CONVERTING:
            edge = litert_torch.convert(_layout(job.float_module(), nhwc), (_example(job, nhwc),))
        half = job.options.fp16 or isinstance(job.source.precision, Fp16)
        if half:
            float_path = job.scratch / "float.tflite"
            edge.export(str(float_path))
            progress(0.8, "casting weights to fp16")
            _cast_to_fp16(float_path, target)
        else:
            edge.export(str(target))
        precision = FP16 if half else FLOAT
    card = job.model.card
    add_metadata(target, ClassifierMetadata(job.source.name, f"{card.title}, exported by MobileNet Compression Studio",
                                            card.class_names or placeholder_names(card.num_classes), card.mean,
                                            card.std, card.input_size, nhwc))
    return Artifact(precision, predictor, notes, io_details(target))


@contextlib.contextmanager
def _strict_qdq() -> Iterator[None]:
    """litert-torch's converter folds the quantize op after the graph's input and the dequantize op before its
    output into int8 I/O tensors, unless its converter's strict QDQ mode is on, which keeps every quantize and
    dequantize op where the PT2E graph has it: float32 in and out, every operator between them int8. litert-torch
    0.10 sets that flag only in its TensorFlow-based converter (not installed here), so it is set on the config
    its own converter builds, for this conversion only."""
    from litert_torch._convert import litert_converter

    api = litert_converter.converter_api_ext
    make_config = api.ConvertToTFLConfig

    def strict_config() -> Any:
        config = make_config()
        config.strict_qdq_mode = True
        return config

    api.ConvertToTFLConfig = strict_config
    try:
        yield
    finally:
        api.ConvertToTFLConfig = make_config


def _layout(module: Any, nhwc: bool) -> Any:
    import litert_torch

    return litert_torch.to_channel_last_io(module, args=[0]) if nhwc else module


def _example(job: ExportJob, nhwc: bool) -> Any:
    example = job.example()
    return example.permute(0, 2, 3, 1).contiguous() if nhwc else example


def _cast_to_fp16(float_path: Path, target: Path) -> None:
    from ai_edge_quantizer import quantizer

    result = quantizer.Quantizer(str(float_path), FP16_RECIPE).quantize(enable_progress_report=False)
    assert result.quantized_model is not None
    write_bytes(target, bytes(result.quantized_model))


def io_details(path: Path) -> dict[str, Any]:
    """Input layout and the int8 input/output scale and zero point an app needs."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    tensor_in, tensor_out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]

    def describe(tensor: dict[str, Any]) -> dict[str, Any]:
        scale, zero_point = tensor["quantization"]
        described: dict[str, Any] = {"shape": [int(d) for d in tensor["shape"]], "dtype": tensor["dtype"].__name__}
        if scale:
            described.update(scale=float(scale), zero_point=int(zero_point))
        return described

    layout = "NHWC" if int(tensor_in["shape"][-1]) == 3 else "NCHW"
    return {"layout": layout, "input": describe(tensor_in), "output": describe(tensor_out)}


def predictor(path: Path) -> Predictor:
    """Float32 NCHW batches in, float32 logits out: (de)quantizes int8 I/O and transposes for NHWC."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    from core.export.verify import one_at_a_time

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    tensor_in, tensor_out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    nhwc = int(tensor_in["shape"][-1]) == 3
    in_scale, in_zero = tensor_in["quantization"]
    out_scale, out_zero = tensor_out["quantization"]

    def predict(image: np.ndarray) -> np.ndarray:
        x = image.transpose(0, 2, 3, 1) if nhwc else image
        if tensor_in["dtype"] == np.int8:
            x = np.clip(np.round(x / in_scale) + in_zero, -128, 127)
        interpreter.set_tensor(tensor_in["index"], np.ascontiguousarray(x, dtype=tensor_in["dtype"]))
        interpreter.invoke()
        out = interpreter.get_tensor(tensor_out["index"]).astype(np.float32)
        return (out - out_zero) * out_scale if tensor_out["dtype"] == np.int8 else out

    return one_at_a_time(predict)
