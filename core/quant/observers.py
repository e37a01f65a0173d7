"""Activation observers for calibration, and the eager-mode qconfig a quantize step asks for."""

from __future__ import annotations

from typing import Any

import torch
from torch.ao.quantization import FakeQuantize, QConfig
from torch.ao.quantization.observer import (
    HistogramObserver,
    MinMaxObserver,
    MovingAverageMinMaxObserver,
    PerChannelMinMaxObserver,
)

from core.recipe import QuantizeStep


class PercentileRange:
    """Range = running mean of each batch's 0.01 / 99.99 percentiles: ignores rare outliers.

    A mixin over a min-max observer class, so torch.ao (eager) and torchao (PT2E, used by the
    exporters) observers share the rule.
    """

    min_val: torch.Tensor
    max_val: torch.Tensor

    def __init__(self, *args: Any, percentile: float = 99.99, averaging: float = 0.1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.percentile = percentile
        self.averaging = averaging

    def forward(self, x_orig: torch.Tensor) -> torch.Tensor:
        if x_orig.numel() == 0:
            return x_orig
        values = x_orig.detach().float().flatten()
        # A strided sample of ≤100k values keeps the sort cheap; percentiles barely move.
        values = values[:: max(1, values.numel() // 100_000)]
        levels = torch.tensor([1 - self.percentile / 100, self.percentile / 100], device=values.device)
        low, high = torch.quantile(values, levels)
        if self.min_val.numel() == 0 or torch.isinf(self.min_val):
            self.min_val.copy_(low)
            self.max_val.copy_(high)
        else:
            self.min_val.copy_(self.min_val + self.averaging * (low - self.min_val))
            self.max_val.copy_(self.max_val + self.averaging * (high - self.max_val))
        return x_orig


class PercentileObserver(PercentileRange, MinMaxObserver):
    """Eager-mode (torch.ao) percentile observer."""


OBSERVERS: dict[str, Any] = {
    "minmax": MinMaxObserver,
    "moving_average": MovingAverageMinMaxObserver,
    "histogram": HistogramObserver,
    "percentile": PercentileObserver,
}


def qconfig_for(step: QuantizeStep) -> Any:
    activation = OBSERVERS[step.observer].with_args(dtype=torch.quint8, reduce_range=step.activations_7bit)
    if step.per_channel:
        weight = PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric)
    else:
        weight = MinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric)
    return QConfig(activation=activation, weight=weight)


def qat_qconfig_for(step: QuantizeStep) -> Any:
    """The step's qconfig with fake quantization: training sees the int8 rounding it will get.

    Same observer, activation bits and weight scheme as `qconfig_for`, so a QAT variant converts
    to the int8 grid its recipe names (torch's default x86 QAT qconfig is always 7-bit and
    ignores the observer).
    """
    top = 127 if step.activations_7bit else 255
    activation = FakeQuantize.with_args(observer=OBSERVERS[step.observer], quant_min=0, quant_max=top,
                                        dtype=torch.quint8, qscheme=torch.per_tensor_affine)
    if step.per_channel:
        weight = FakeQuantize.with_args(observer=PerChannelMinMaxObserver, quant_min=-128, quant_max=127,
                                        dtype=torch.qint8, qscheme=torch.per_channel_symmetric, ch_axis=0)
    else:
        weight = FakeQuantize.with_args(observer=MinMaxObserver, quant_min=-128, quant_max=127, dtype=torch.qint8,
                                        qscheme=torch.per_tensor_symmetric)
    return QConfig(activation=activation, weight=weight)
