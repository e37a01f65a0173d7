"""Activation equalization before int8 calibration (a data-driven cross-layer equalization).

An int8 activation tensor shares one scale across its channels. After a depthwise
conv some channels span [0, 6] and others [0, 0.05]; the small ones then land on a
handful of int8 levels (MobileNetV1's first block lost 23 dB SQNR this way). For every
BN → ReLU/ReLU6 → conv chain the activation channel i is multiplied by t_i ≥ 1 (BN scale
and shift times t_i) and the consuming conv's input channel divided by t_i: the float
network computes the same function, and small channels use more of the int8 range.

ReLU is positive-homogeneous, so the rescaling is exact; ReLU6 is exact as long as the
scaled channel stays below 6, which `t_i ≤ 6 / max_i` keeps for the calibration data.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch
from torch import nn

from core.hooks import removed_after
from core.jobs import Progress, silent
from core.model import LoadedModel
from core.quant.dataflow import DataFlow
from core.recipe import QuantizeStep

if TYPE_CHECKING:
    from core.data.datasets import ImageDataset

# t_i = (M / max_i) ** STRENGTH, the geometric middle between "leave it" and "stretch every
# channel to the widest one": stretching fully makes the consumer's weights for those channels tiny.
STRENGTH = 0.5
MAX_SCALE = 16.0
EQUALIZATION_IMAGES = 128


@dataclass(frozen=True)
class Chain:
    norm: nn.BatchNorm2d
    activation: nn.Module
    consumer: nn.Conv2d


def find_chains(module: nn.Module, example: torch.Tensor) -> list[Chain]:
    """BN → ReLU(6) → conv chains where each tensor has exactly one consumer."""
    flow = DataFlow.trace(module, example)
    chains = []
    for activation in flow.called_once:
        if not isinstance(activation, nn.ReLU | nn.ReLU6):
            continue
        norm, consumer = flow.source(activation), flow.sole_user(activation)
        if not (isinstance(norm, nn.BatchNorm2d) and norm in flow.called_once and flow.sole_user(norm) is activation):
            continue
        if (
            isinstance(consumer, nn.Conv2d)
            and consumer.groups in (1, consumer.in_channels)
            and consumer in flow.called_once
        ):
            chains.append(Chain(norm, activation, consumer))
    return chains


def channel_maxima(module: nn.Module, chains: list[Chain], batches: Iterable[torch.Tensor]) -> list[torch.Tensor]:
    """Per-channel maximum of each chain's activation over the batches."""
    maxima = [torch.zeros(chain.norm.num_features) for chain in chains]  # ReLU outputs are ≥ 0
    hooks = []
    for index, chain in enumerate(chains):

        def observe(_m: nn.Module, _i: object, out: torch.Tensor, index: int = index) -> None:
            maxima[index] = torch.maximum(maxima[index], out.detach().amax(dim=(0, 2, 3)))

        hooks.append(chain.activation.register_forward_hook(observe))
    with removed_after(hooks), torch.no_grad():
        for batch in batches:
            module(batch)
    return maxima


def equalization_scales(maxima: torch.Tensor, clip: float | None) -> torch.Tensor:
    """t_i ≥ 1 per channel: widen narrow channels towards the widest, never past the ReLU6 clip."""
    widest = maxima.max()
    alive = maxima > widest * 1e-3  # dead channels carry nothing worth resolving
    scales = torch.where(alive, (widest / maxima.clamp_min(1e-12)) ** STRENGTH, torch.ones_like(maxima))
    if clip is not None:
        scales = torch.minimum(scales, clip / maxima.clamp_min(1e-12))
    return scales.clamp(1.0, MAX_SCALE)


def equalize_activations(module: nn.Module, batches: Iterable[torch.Tensor]) -> int:
    """Rescale every equalizable chain of `module` in place; returns how many chains changed."""
    batches = list(batches)
    if not batches:
        return 0
    chains = find_chains(module, batches[0][:1])
    for chain, maxima in zip(chains, channel_maxima(module, chains, batches), strict=True):
        clip = 6.0 if isinstance(chain.activation, nn.ReLU6) else None
        scales = equalization_scales(maxima, clip)
        with torch.no_grad():
            chain.norm.weight.mul_(scales)
            chain.norm.bias.mul_(scales)
            weight = chain.consumer.weight
            if chain.consumer.groups == 1:
                weight.div_(scales.view(1, -1, 1, 1))
            else:  # depthwise: output channel i reads input channel i only
                weight.div_(scales.view(-1, 1, 1, 1))
    return len(chains)


def equalized(
    model: LoadedModel, step: QuantizeStep, data: ImageDataset, progress: Progress | None = None
) -> LoadedModel:
    """The float model `step` quantizes: an activation-equalized copy when the step asks for it."""
    from core.data.datasets import Preprocessing

    if not step.equalizes:
        return model
    module = copy.deepcopy(model.editable_module("equalized")).eval()
    images = data.subset(min(len(data), EQUALIZATION_IMAGES), seed=1)
    batches = images.batches(Preprocessing.for_card(model.card), 32, progress=progress or silent())
    equalize_activations(module, (batch for batch, _ in batches))
    return replace(model, module=module)
