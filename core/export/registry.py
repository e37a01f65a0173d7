"""The export formats: a card per format saying what it writes, what runs it and what it takes."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from core.errors import ExportError
from core.precision import Float, Fp16, Int8, Int8Dynamic, Int8Static, Precision
from core.runtime import Predictor
from core.runtimes import Runtime


@dataclass(frozen=True)
class ExportFormat:
    name: str
    title: str
    suffix: str
    runtime: str  # the runtime that reloads and verifies the artifact
    precisions: tuple[type[Precision], ...]  # source precisions this format takes (and their subtypes)
    requantizes: bool  # an int8 source is re-quantized from its float parent with calibration images
    module: str  # the converter module; imported only when the format is used
    supports: str  # one line for users: what the format can hold
    reload: str = ""  # the converter module's function that runs a file of this format ("": none here)
    timed_as: Runtime | None = None  # the runtime the studio times this format's files in (None: not timed)
    reduces_range: bool = False  # re-quantizes an int8 source with 7-bit weights where the CPU lacks VNNI

    def takes(self, precision: Precision) -> bool:
        return isinstance(precision, self.precisions)

    def predictor(self, path: Path) -> Predictor:
        """Run a file of this format: float32 NCHW batches in, logits out."""
        if not self.reload:
            raise ExportError(f"{self.title} files cannot be run on this machine")
        return getattr(importlib.import_module(self.module), self.reload)(path)

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name, "title": self.title, "suffix": self.suffix, "runtime": self.runtime,
            "precisions": [p.label for p in self.precisions], "requantizes": self.requantizes,
            "supports": self.supports,
        }


FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat(
            "onnx", "ONNX", ".onnx", "onnxruntime", (Float, Int8), False, "core.export.onnx_format",
            "float (dynamic batch, opset choice); int8 as a QDQ model with the variant's own scales, or "
            "re-quantized by ONNX Runtime quantize_static with 7-bit weights for CPUs without VNNI", "predictor",
            reduces_range=True,
        ),
        ExportFormat(
            "tflite", "TensorFlow Lite (LiteRT)", ".tflite", "ai_edge_litert", (Float, Fp16, Int8Static), True,
            "core.export.tflite_format",
            "float, fp16 weights, int8 with int8 or float32 input/output; NCHW or NHWC input", "predictor",
            Runtime.LITERT,
        ),
        ExportFormat(
            "torchscript", "TorchScript", ".pt", "torch.jit", (Float, Int8, Int8Dynamic), False,
            "core.export.torch_formats", "float and int8 as they are (x86 int8 kernels); deprecated by PyTorch",
            "torchscript_predictor",
        ),
        ExportFormat(
            "pt2", "torch.export program", ".pt2", "torch.export", (Float, Int8Static), True,
            "core.export.torch_formats",
            "float (dynamic batch); int8 as a PT2E (XNNPACK-style) quantized program", "pt2_predictor",
        ),
        ExportFormat(
            "pte", "ExecuTorch", ".pte", "executorch", (Float, Int8Static), True, "core.export.torch_formats",
            "float and int8, delegated to XNNPACK; batch 1", "pte_predictor", Runtime.EXECUTORCH,
        ),
        ExportFormat(
            "coreml", "Core ML", ".mlpackage", "coremltools (spec only on Linux)", (Float, Fp16, Int8Static), True,
            "core.export.coreml_format",
            "fp32/fp16 compute, int8 weights, W8A8 for int8 sources (iOS 17); predictions need macOS",
        ),
    )
}


def timed_formats() -> dict[Runtime, ExportFormat]:
    """Runtime → the format whose files the studio times in it (LiteRT: .tflite, ExecuTorch: .pte)."""
    return {f.timed_as: f for f in FORMATS.values() if f.timed_as is not None}


def parse_formats(text: str) -> list[ExportFormat]:
    """`onnx,tflite` → format cards, in the order given, without repeats."""
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    if not names:
        raise ExportError(f"no export format given; choose from {', '.join(FORMATS)}")
    unknown = [n for n in names if n not in FORMATS]
    if unknown:
        raise ExportError(f"unknown export format {unknown[0]!r}; choose from {', '.join(FORMATS)}")
    return [FORMATS[n] for n in dict.fromkeys(names)]
