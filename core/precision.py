"""Precision: the number format a model computes in, as a closed set of typed values.

Code that treats precisions differently dispatches on these types (`isinstance`), never on
strings: the `key` exists only for JSON (recipes, project files), the `label` for people.
`QuantInfo` is what a quantized model's card and stored variant record to rebuild it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class Precision:
    key: ClassVar[str]
    label: ClassVar[str]
    int8: ClassVar[bool] = False  # held to the int8 agreement bar when verified

    def __str__(self) -> str:
        return self.label


@dataclass(frozen=True)
class Float(Precision):
    key, label = "float", "float"


@dataclass(frozen=True)
class Fp16(Precision):
    key, label = "fp16", "fp16"


@dataclass(frozen=True)
class Int8Dynamic(Precision):
    """Linear layers quantized at run time; the convolutions stay float."""

    key, label = "dynamic", "int8-dynamic"


@dataclass(frozen=True)
class Int8(Precision):
    """Static int8: int8 weights and activations (x86 kernels); the same modules after PTQ or QAT."""

    key, label, int8 = "int8", "int8", True


@dataclass(frozen=True)
class Int8Static(Int8):
    """Calibrated after training (PTQ): its float parent is the graph it approximates."""

    key = "static"


@dataclass(frozen=True)
class Int8Qat(Int8):
    """Trained with fake quantization: its weights moved away from the float parent's."""

    key, label = "qat", "int8-qat"


@dataclass(frozen=True)
class Int8Weights(Precision):
    """int8 weights with float compute (Core ML weight compression)."""

    key, label, int8 = "int8-weights", "int8-weights", True


FLOAT, FP16, INT8_DYNAMIC, INT8_STATIC, INT8_QAT = Float(), Fp16(), Int8Dynamic(), Int8Static(), Int8Qat()
INT8, INT8_WEIGHTS = Int8(), Int8Weights()  # what an artifact holds, however its int8 came about
QUANTIZED: dict[str, Precision] = {p.key: p for p in (INT8_DYNAMIC, INT8_STATIC, INT8_QAT, FP16)}


ARTIFACT_PRECISIONS: dict[str, Precision] = {p.label: p for p in (FLOAT, FP16, INT8_DYNAMIC, INT8, INT8_QAT,
                                                                   INT8_WEIGHTS)}


def artifact_precision(label: str) -> Precision:
    """The precision an export report names (its label); ValueError for anything else."""
    if label not in ARTIFACT_PRECISIONS:
        raise ValueError(f"unknown artifact precision {label!r}")
    return ARTIFACT_PRECISIONS[label]


def quantized_precision(key: Any) -> Precision:
    """The precision a stored quantization `mode` names; ValueError for anything else."""
    if not isinstance(key, str) or key not in QUANTIZED:
        raise ValueError(f"unknown quantization mode {key!r}; expected one of {', '.join(QUANTIZED)}")
    return QUANTIZED[key]


@dataclass(frozen=True)
class QuantInfo:
    """What a quantized variant needs to be rebuilt from its state_dict alone."""

    precision: Precision
    per_channel: bool
    keep_float: tuple[str, ...]
    layer_shapes: dict[str, list[int]]  # float weight shapes: pruned channel counts survive a reload

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.precision.key, "per_channel": self.per_channel, "keep_float": list(self.keep_float),
                "layer_shapes": self.layer_shapes}

    @classmethod
    def from_dict(cls, data: Any) -> QuantInfo:
        """From a project's JSON: every field checked (ValueError names the first that is wrong)."""
        if not isinstance(data, dict):
            raise ValueError("quantization must be an object")
        keep, shapes = data.get("keep_float", []), data.get("layer_shapes", {})
        if not isinstance(data.get("per_channel"), bool):
            raise ValueError("quantization.per_channel must be true or false")
        if not isinstance(keep, list) or not all(isinstance(k, str) for k in keep):
            raise ValueError("quantization.keep_float must be a list of layer names")
        if not isinstance(shapes, dict) or not all(
            isinstance(v, list) and all(isinstance(d, int) and d >= 0 for d in v) for v in shapes.values()
        ):
            raise ValueError("quantization.layer_shapes must map layer names to lists of sizes")
        return cls(quantized_precision(data.get("mode")), data["per_channel"], tuple(keep), shapes)
