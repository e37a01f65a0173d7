"""The float activations a static int8 variant quantizes, each with its int8 range: what an exporter that
re-quantizes the float parent in its own tool chain reuses, so its int8 grid is the variant's."""

from __future__ import annotations

from typing import Any

import torch

from core.hooks import removed_after
from core.model import LoadedModel
from core.quant.bias_correction import static_info
from core.zoo.quantizable import float_reference


def activation_ranges(
    float_model: LoadedModel, int8_model: LoadedModel, batch: torch.Tensor, levels: int = 256
) -> list[tuple[torch.Tensor, float, float]]:
    """The float activations a static int8 variant quantizes on `batch`, each with its int8 range.

    `float_model` is the graph the variant was calibrated on (equalized, bias-corrected, as the
    exporters' float parent is). Exporters that re-quantize it with their own tool chain find their
    observers' inputs among these tensors and reuse the variant's ranges, so their int8 grid is the
    variant's. `levels`: 128 for a variant calibrated with 7-bit activations.
    """
    from torch.ao.nn.quantized import DeQuantize

    info = static_info(int8_model)
    if info is None:
        return []
    assert float_model.card.spec is not None and float_model.module is not None and int8_model.module is not None
    twin = float_reference(float_model.card.spec, info, float_model.module.state_dict())
    float_modules = dict(twin.named_modules())
    captured: list[tuple[torch.Tensor, float, float]] = []

    def record(low: float, high: float) -> Any:
        return lambda _module, _inputs, output: captured.append((output.detach(), low, high))

    handles = []
    for name, layer in int8_model.module.named_modules():
        if isinstance(layer, DeQuantize) or not hasattr(layer, "zero_point") or name not in float_modules:
            continue
        watched = float_modules[name]
        if isinstance(watched, torch.ao.nn.quantized.FloatFunctional):
            watched = watched.activation_post_process  # an add or mul: its result passes through here
        scale, zero_point = float(layer.scale), int(layer.zero_point)
        handles.append(watched.register_forward_hook(record(-zero_point * scale, (levels - 1 - zero_point) * scale)))
    with removed_after(handles), torch.inference_mode():
        twin(batch)
    return captured
