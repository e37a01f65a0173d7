"""What a converter works from: the export options, the run's shared state, and what it returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.export.bundle import AppBundle
from core.export.registry import ExportFormat
from core.export.source import ExportSource
from core.precision import Precision
from core.runtime import Predictor, default_threads, seven_bit_int8

if TYPE_CHECKING:
    from core.data.datasets import ImageDataset
    from core.model import LoadedModel


@dataclass(frozen=True)
class ExportOptions:
    dynamic_batch: bool = True  # ONNX and .pt2: any batch size (TFLite, ExecuTorch and Core ML use batch 1)
    opset: int | None = None  # ONNX opset; None = the exporter's default
    # TFLite input layout and int8 I/O type; None: what the target wants (`decided`).
    nhwc: bool | None = None  # channels-last (N×H×W×3) input, as Android bitmaps are laid out
    int8_io: bool | None = None  # int8 sources: int8 input/output tensors instead of float32 ones
    fp16: bool = False  # float sources: fp16 weights in TFLite, fp16 compute in Core ML
    int8_weights: bool = False  # Core ML, float sources: int8 weight compression (float compute)
    reduce_range: bool | None = None  # ONNX int8: 7-bit weights; None = only on CPUs without VNNI
    threads: int = field(default_factory=default_threads)  # conversion and calibration
    latency_runs: int = 30  # timed runs at 1 thread; 0 skips latency

    @property
    def onnx_reduce_range(self) -> bool:
        return seven_bit_int8(self.reduce_range)

    def decided(self, bundle: AppBundle | None) -> ExportOptions:
        """The options with the TFLite choices left open decided: an Android bundle takes NHWC float32 input
        (Android bitmaps are HWC; int8 stays inside the graph); a plain file keeps NCHW input and int8 I/O."""
        nhwc = bundle is not None and bundle.channels_last
        return replace(self, nhwc=nhwc if self.nhwc is None else self.nhwc,
                       int8_io=not nhwc if self.int8_io is None else self.int8_io)

    def requantizes(self, fmt: ExportFormat) -> bool:
        """Whether `fmt` re-quantizes an int8 source's float parent (and so needs it and calibration images)."""
        return fmt.requantizes or (fmt.reduces_range and self.onnx_reduce_range)


@dataclass
class Artifact:
    """What a converter made: its precision, how to run it, and what it reports."""

    precision: Precision
    predictor: Callable[[Path], Predictor] | None  # None: no runtime on this machine
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


class ExportJob:
    """One export run's shared state: a converter reads its source, options and data here."""

    def __init__(self, source: ExportSource, options: ExportOptions, calib: ImageDataset | None, scratch: Path):
        self.source = source
        self.options = options
        self.calib = calib
        self.scratch = scratch  # a private temporary folder for intermediate files
        self._cache: dict[str, Any] = {}

    @property
    def model(self) -> LoadedModel:
        return self.source.model

    @property
    def input_size(self) -> int:
        return self.model.card.input_size

    def example(self, batch: int = 1) -> Any:
        import torch

        return torch.zeros(batch, 3, self.input_size, self.input_size)

    def cached(self, key: str, make: Callable[[], Any]) -> Any:
        """Work several formats share (the float parent, a PT2E quantization) is done once per run."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def float_parent(self) -> LoadedModel:
        """The float graph the int8 variant was quantized from, activation-equalized as `quantize` did,
        with the variant's bias correction carried over."""
        from core.quant.bias_correction import carry_bias_correction
        from core.quant.equalize import equalized

        def load() -> LoadedModel:
            assert self.calib is not None and self.source.quantize_step is not None
            parent = equalized(self.source.load_float_parent(), self.source.quantize_step, self.calib)
            return carry_bias_correction(parent, self.model)

        return self.cached("float_parent", load)

    def calibration_images(self) -> ImageDataset:
        """The variant's number of calibration images, chosen as `quantize` chose them."""
        assert self.calib is not None and self.source.quantize_step is not None
        return self.calib.subset(self.source.quantize_step.calibration_images, seed=0)

    def float_module(self) -> Any:
        """The float torch module of a float or fp16 source (fp16 weights widened exactly to fp32)."""
        from core.zoo.quantized_store import Fp16Module

        module = self.model.module
        if isinstance(module, Fp16Module):
            return self.cached("widened", lambda: _widened(module.inner))
        return module


def _widened(half: Any) -> Any:
    import copy

    return copy.deepcopy(half).float().eval()
