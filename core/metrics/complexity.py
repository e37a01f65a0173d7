"""Parameters and multiply-accumulates, total and per layer.

The total is `torch.utils.flop_counter.FlopCounterMode` / 2 (the reference
numbers: V2 300.8 M). Per-layer rows come from hooks on Conv2d/Linear and sum to
the same total. For each depthwise conv followed by a 1×1 conv, the table shows
what one standard k×k convolution with the same input and output would cost.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from core.hooks import removed_after

if TYPE_CHECKING:
    from torch import nn


@dataclass
class LayerStats:
    name: str
    kind: str  # conv | depthwise | pointwise | linear
    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    output_hw: tuple[int, int]
    params: int
    macs: int
    # Depthwise rows: cost of the standard conv that this depthwise + next pointwise pair replaces.
    standard_conv_macs: int | None = None
    separable_macs: int | None = None


@dataclass
class ComplexityReport:
    params: int
    macs: int
    input_size: int
    layers: list[LayerStats] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": self.params,
            "macs": self.macs,
            "input_size": self.input_size,
            "layers": [asdict(layer) for layer in self.layers],
        }

    @property
    def separable_savings(self) -> float | None:
        """Standard-conv MACs / depthwise-separable MACs over all separable pairs."""
        standard = sum(x.standard_conv_macs or 0 for x in self.layers)
        separable = sum(x.separable_macs or 0 for x in self.layers)
        return standard / separable if separable else None


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def analyze_complexity(module: nn.Module, input_size: int) -> ComplexityReport:
    import torch
    from torch import nn
    from torch.utils.flop_counter import FlopCounterMode

    layers: list[LayerStats] = []

    def hook(name: str):
        def record(mod: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            per_sample_out = output[0]
            if isinstance(mod, nn.Conv2d):
                kernel = mod.kernel_size[0] * mod.kernel_size[1]
                macs = per_sample_out.numel() * (mod.in_channels // mod.groups) * kernel
                depthwise = mod.groups == mod.in_channels and mod.groups > 1
                kind = "depthwise" if depthwise else "pointwise" if kernel == 1 else "conv"
                hw = (int(output.shape[-2]), int(output.shape[-1]))
                layers.append(LayerStats(
                    name, kind, mod.in_channels, mod.out_channels, mod.kernel_size[0], mod.stride[0], hw,
                    sum(p.numel() for p in mod.parameters(recurse=False)), int(macs),
                ))
            else:
                assert isinstance(mod, nn.Linear)
                layers.append(LayerStats(
                    name, "linear", mod.in_features, mod.out_features, 1, 1, (1, 1),
                    sum(p.numel() for p in mod.parameters(recurse=False)), mod.in_features * mod.out_features,
                ))

        return record

    handles = [
        m.register_forward_hook(hook(n)) for n, m in module.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)
    ]
    counter = FlopCounterMode(display=False)
    with removed_after(handles), torch.inference_mode(), counter:
        module(torch.zeros(1, 3, input_size, input_size))
    _pair_separable(layers)
    return ComplexityReport(count_params(module), counter.get_total_flops() // 2, input_size, layers)


def _pair_separable(layers: list[LayerStats]) -> None:
    for index, layer in enumerate(layers):
        if layer.kind != "depthwise":
            continue
        pointwise = next((x for x in layers[index + 1 :] if x.kind in ("pointwise", "conv")), None)
        if pointwise is None or pointwise.kind != "pointwise":
            continue
        h, w = layer.output_hw
        k2 = layer.kernel * layer.kernel
        layer.standard_conv_macs = h * w * k2 * layer.in_channels * pointwise.out_channels
        layer.separable_macs = h * w * (k2 * layer.in_channels + layer.in_channels * pointwise.out_channels)
