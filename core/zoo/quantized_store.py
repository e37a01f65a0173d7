"""Quantized variants on disk: compact int8 state_dicts, and the skeleton that reloads them.

A stored variant is rebuilt from its state_dict and its `QuantInfo` alone (no pickled modules):
the quantizable twin is prepared and converted with any observers to get the int8 layout, then
the stored weights, scales and zero points are loaded into it.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.ao.quantization import QConfig
from torch.ao.quantization.observer import MinMaxObserver, PerChannelMinMaxObserver

from core.precision import Fp16, Int8, Int8Dynamic, QuantInfo
from core.zoo.quantizable import ENGINE, converted, prepared_twin

if TYPE_CHECKING:
    from core.zoo.registry import ModelSpec

SCALES, ZERO_POINTS, AXIS = "._scales", "._zero_points", "._axis"


def storable_state_dict(module: nn.Module) -> dict[str, Any]:
    """The state_dict as stored: int8 weights as int8 values, float32 scales and int32 zero points.

    torch serializes a quantized tensor's per-channel scales as float64 and its zero points
    as int64, which made the V2 int8 file 4 % larger than its int8 payload.
    """
    state = module.state_dict()
    stored: dict[str, Any] = OrderedDict()
    stored._metadata = getattr(state, "_metadata", {})  # type: ignore[attr-defined]  # module versions
    for key, value in state.items():
        if not (isinstance(value, torch.Tensor) and value.is_quantized):
            stored[key] = value
        elif value.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
            stored[key] = value.int_repr()
            stored[key + SCALES] = value.q_per_channel_scales().float()
            stored[key + ZERO_POINTS] = value.q_per_channel_zero_points().int()
            stored[key + AXIS] = torch.tensor(value.q_per_channel_axis())
        else:
            stored[key] = value.int_repr()
            stored[key + SCALES] = torch.tensor(value.q_scale(), dtype=torch.float32)
            stored[key + ZERO_POINTS] = torch.tensor(value.q_zero_point(), dtype=torch.int32)
    return stored


def expand_state_dict(stored: dict[str, Any]) -> dict[str, Any]:
    """Inverse of `storable_state_dict`; a plain state_dict passes through unchanged."""
    state: dict[str, Any] = OrderedDict()
    state._metadata = getattr(stored, "_metadata", {})  # type: ignore[attr-defined]
    for key, value in stored.items():
        if key.endswith((SCALES, ZERO_POINTS, AXIS)):
            continue
        if key + SCALES not in stored:
            state[key] = value
        elif key + AXIS in stored:
            state[key] = torch._make_per_channel_quantized_tensor(
                value, stored[key + SCALES].double(), stored[key + ZERO_POINTS].long(), int(stored[key + AXIS])
            )
        else:
            scale, zero_point = float(stored[key + SCALES]), int(stored[key + ZERO_POINTS])
            state[key] = torch._make_per_tensor_quantized_tensor(value, scale, zero_point)
    return state


def _skeleton_qconfig(info: QuantInfo) -> QConfig:
    """Any observers give the int8 modules' layout; the stored scales and zero points fill it."""
    scheme = torch.per_channel_symmetric if info.per_channel else torch.per_tensor_symmetric
    weight = (PerChannelMinMaxObserver if info.per_channel else MinMaxObserver).with_args(dtype=torch.qint8,
                                                                                        qscheme=scheme)
    return QConfig(activation=MinMaxObserver.with_args(dtype=torch.quint8), weight=weight)


def rebuild_quantized(spec: ModelSpec, info: QuantInfo, state_dict: dict[str, Any]) -> nn.Module:
    """A stored quantized variant from its state_dict alone: the skeleton is rebuilt, then loaded."""
    from core.zoo.resize import fit_to_shapes

    torch.backends.quantized.engine = ENGINE
    if isinstance(info.precision, Int8):  # PTQ and QAT convert to the same int8 modules
        module: nn.Module = converted(prepared_twin(spec, info, _skeleton_qconfig(info), None))
    else:
        module = spec.build()
        fit_to_shapes(module, info.layer_shapes)
        if isinstance(info.precision, Int8Dynamic):
            module = torch.ao.quantization.quantize_dynamic(module, {nn.Linear}, torch.qint8)
        elif isinstance(info.precision, Fp16):
            module = Fp16Module(module.half())
        else:
            raise ValueError(f"{info.precision} is not a quantized precision")
    module.load_state_dict(expand_state_dict(state_dict), strict=True)
    return module.eval()


class Fp16Module(nn.Module):
    """fp16 weights and compute; float32 in and out so every caller treats it like its parent."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.half()).float()
