"""A loaded model and its card: what every verb (evaluate, benchmark, ...) works on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import StudioError
from core.formats import ModelFormat
from core.precision import FLOAT, Precision, QuantInfo
from core.runtimes import Runtime
from core.zoo.registry import IMAGENET_MEAN, IMAGENET_STD, ModelSpec
from core.zoo.weights import WeightsInfo

if TYPE_CHECKING:
    from torch import nn



class Normalization(StrEnum):
    """How a model's pixels were scaled when it was trained: what evaluation, calibration, distillation, export
    verification and the app bundles feed it."""

    IMAGENET = "imagenet"  # torchvision: [0, 1], then ImageNet's per-channel mean and std
    KERAS = "keras"  # Keras / TF: [−1, 1]
    UNIT = "unit"  # [0, 1], nothing more

    @property
    def label(self) -> str:
        return {Normalization.IMAGENET: "ImageNet (torchvision)", Normalization.KERAS: "[−1, 1] (Keras/TF)",
                Normalization.UNIT: "[0, 1]"}[self]

    @classmethod
    def of(cls, mean: Sequence[float], std: Sequence[float]) -> Normalization | None:
        """The named setting a model's mean and std are, or None."""
        return next((n for n in cls if n.mean_std == (tuple(mean), tuple(std))), None)

    @property
    def mean_std(self) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        return {Normalization.IMAGENET: (IMAGENET_MEAN, IMAGENET_STD), Normalization.KERAS: ((0.5,) * 3, (0.5,) * 3),
                Normalization.UNIT: ((0.0,) * 3, (1.0,) * 3)}[self]


@dataclass(frozen=True)
class ModelCard:
    """Metadata shown for a loaded model: where it came from and how to feed it."""

    title: str
    weights: WeightsInfo
    spec: ModelSpec | None = None
    input_size: int = 224
    crop_fraction: float = 0.875  # evaluation: resize the short side to input_size / crop_fraction, centre-crop
    num_classes: int = 1000
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    format: ModelFormat = ModelFormat.PYTORCH
    pruned: bool = False  # channel counts differ from the stock architecture
    quantization: QuantInfo | None = None  # how a quantized model is laid out; None for float
    path: str = ""
    class_names: tuple[str, ...] = field(default=(), repr=False)
    warnings: tuple[str, ...] = ()  # what a user should know before trusting this model's numbers

    def __post_init__(self) -> None:
        object.__setattr__(self, "format", ModelFormat(self.format))  # also when given by its name

    @property
    def precision(self) -> Precision:
        return self.quantization.precision if self.quantization else FLOAT

    @property
    def resize_size(self) -> int:
        return round(self.input_size / self.crop_fraction)

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "spec": str(self.spec) if self.spec else None,
            "architecture": self.spec.card.title if self.spec else None,
            "width": self.spec.width if self.spec else None,
            "padding": self.spec.padding if self.spec else None,
            "input_size": self.input_size,
            "resize_size": self.resize_size,
            "crop_fraction": self.crop_fraction,
            "num_classes": self.num_classes,
            "mean": list(self.mean),
            "std": list(self.std),
            "format": self.format,
            "pruned": self.pruned,
            "class_names": list(self.class_names),
            "quantization": self.quantization.precision.key if self.quantization else None,
            "precision": str(self.precision),
            "path": self.path,
            "weights": self.weights.label,
            "weights_kind": self.weights.kind,
            "weights_source": self.weights.source,
            "license": self.weights.license or (self.spec.card.license if self.spec else ""),
            "warnings": list(self.warnings),
        }


@dataclass
class LoadedModel:
    """A model ready to run: a torch module, or an ONNX file run by ONNX Runtime."""

    card: ModelCard
    module: nn.Module | None = None
    onnx_path: Path | None = None

    def editable_module(self, action: str) -> nn.Module:
        """The float torch module that compression verbs change; explains why when there is none."""
        if self.module is None or self.card.spec is None or self.card.quantization:
            raise StudioError(
                f"{self.card.title} cannot be {action}: that needs a float zoo MobileNet or state_dict checkpoint "
                "(quantized variants and ONNX, TorchScript or .pt2 files can be evaluated and benchmarked)"
            )
        return self.module

    @property
    def runtimes(self) -> tuple[Runtime, ...]:
        return (Runtime.TORCH, Runtime.ONNXRUNTIME) if self.module is not None else (Runtime.ONNXRUNTIME,)

    def with_preprocessing(self, normalization: Normalization | None = None, crop: float | None = None
                           ) -> LoadedModel:
        """The model fed as it was trained: `normalization` sets mean and std; `crop` the share of the resized
        image kept (1.0: no crop; the short side is resized to input size / crop)."""
        changes: dict[str, Any] = {}
        if normalization is not None:
            changes["mean"], changes["std"] = normalization.mean_std
        if crop is not None:
            if not 0.5 <= crop <= 1.0:
                raise StudioError(f"crop must be between 0.5 and 1.0 (1.0: no crop); got {crop}")
            changes["crop_fraction"] = crop
            if self.card.spec is not None:
                changes["spec"] = self.card.spec.replace(crop=crop)
        return LoadedModel(replace(self.card, **changes), self.module, self.onnx_path)
