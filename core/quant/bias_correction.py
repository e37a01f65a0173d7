"""Empirical bias correction of static int8 variants, and its carry-over to the exporters' float parent."""

from __future__ import annotations

import contextlib
import copy
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from core.hooks import removed_after
from core.jobs import Progress
from core.model import LoadedModel
from core.precision import Int8Static, QuantInfo
from core.zoo.quantizable import float_reference


def static_info(model: LoadedModel) -> QuantInfo | None:
    """The QuantInfo of a static int8 variant; None for any other model."""
    quantization = model.card.quantization
    if model.module is None or quantization is None or not isinstance(quantization.precision, Int8Static):
        return None
    return quantization


BIAS_CORRECTION_IMAGES = 64


BIAS_CHECK_IMAGES = 128


MIN_BIAS_CHECK_IMAGES = 32


def carry_bias_correction(float_model: LoadedModel, int8_model: LoadedModel) -> LoadedModel:
    """A copy of the float model whose biases carry the static int8 variant's bias correction.

    Exporters that re-quantize the float parent with their own tool chain (TFLite, ExecuTorch,
    .pt2, Core ML) start from this, so their int8 models get the same correction. The shift of
    a conv followed by BatchNorm goes into the BatchNorm's bias.
    """
    info = static_info(int8_model)
    if info is None:
        return float_model
    assert float_model.card.spec is not None and int8_model.module is not None
    source = float_model.editable_module("corrected")
    fused = dict(float_reference(float_model.card.spec, info, source.state_dict()).named_modules())
    corrected = copy.deepcopy(source)
    named = dict(corrected.named_modules())
    with torch.no_grad():
        for name, layer in int8_layers(int8_model.module).items():
            float_layer = fused[name][0] if isinstance(fused[name], nn.Sequential) else fused[name]
            if float_layer.bias is None or layer.bias() is None:
                continue
            shift = layer.bias() - float_layer.bias
            parent_name, _, index = name.rpartition(".")
            follower = named.get(f"{parent_name}.{int(index) + 1}" if index.isdigit() else "")
            if isinstance(follower, nn.BatchNorm2d) and follower.bias is not None:
                follower.bias.add_(shift)
            elif isinstance(own_bias := named[name].bias, torch.Tensor):
                own_bias += shift
    return replace(float_model, module=corrected)


def int8_layers(module: nn.Module) -> dict[str, Any]:
    from torch.ao.nn import quantized as nnq

    return {name: m for name, m in module.named_modules() if isinstance(m, nnq.Conv2d | nnq.Linear)}


def divergence(quantized: nn.Module, reference: nn.Module, batches: list[torch.Tensor], progress: Progress) -> float:
    """Mean KL divergence of the int8 model's class probabilities from the float model's."""
    import torch.nn.functional as F

    total = 0.0
    with torch.inference_mode():
        for batch in batches:
            progress.check()
            expected, got = F.log_softmax(reference(batch), 1), F.log_softmax(quantized(batch), 1)
            total += float(F.kl_div(got, expected, reduction="sum", log_target=True))
    return total / max(1, sum(len(batch) for batch in batches))


class _StopForward(Exception):
    """Raised by a hook once the layer being measured has run: the rest of the network is not needed."""


def correct_biases(quantized: nn.Module, reference: nn.Module, batches: list[torch.Tensor], progress: Progress) -> None:
    """Empirical bias correction: shift each int8 conv/linear bias by its output's mean error.

    Rounding weights and inputs biases each output channel's mean. Layer by layer, in order, the
    int8 output (after the corrections upstream) is measured against the float fused model on
    the same images and the per-channel mean difference is subtracted from the bias; correcting
    all layers at once instead overshot downstream and diverged. For a fused ReLU the error is
    measured after the ReLU.
    """
    layers = int8_layers(quantized)
    float_layers = dict(reference.named_modules())

    def channel_means(model: nn.Module, watched: dict[str, nn.Module], stop_after: nn.Module | None) -> dict[str, Any]:
        sums: dict[str, Any] = {}

        def hook(name: str) -> Any:
            def record(module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
                values = output.dequantize() if output.is_quantized else output
                sums[name] = sums.get(name, 0) + values.mean(dim=[0, *range(2, values.dim())]) / len(batches)
                if module is stop_after:
                    raise _StopForward

            return record

        handles = [module.register_forward_hook(hook(name)) for name, module in watched.items()]
        with removed_after(handles), torch.inference_mode():
            for batch in batches:
                with contextlib.suppress(_StopForward):
                    model(batch)
        return sums

    target = channel_means(reference, {name: float_layers[name] for name in layers}, None)
    report = progress.steps(len(layers), "correcting biases")
    for done, (name, layer) in enumerate(layers.items()):
        error = channel_means(quantized, {name: layer}, layer)[name] - target[name]
        bias = layer.bias()
        layer.set_weight_bias(layer.weight(), (bias if bias is not None else torch.zeros_like(error)) - error)
        report(done + 1)
