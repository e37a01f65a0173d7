"""Activation equalization: the float function is unchanged while narrow channels are widened."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from core.quant.equalize import equalization_scales, equalize_activations, find_chains
from core.zoo.registry import ModelSpec


def _trained_like(spec: str) -> nn.Module:
    """Random weights with BN statistics from data, so activations are realistic and ReLU6 sometimes clips."""
    module = ModelSpec.parse(spec).build().train()
    with torch.no_grad():
        for _ in range(3):
            module(torch.randn(8, 3, 96, 96, generator=torch.Generator().manual_seed(1)))
    return module.eval()


@pytest.mark.parametrize(("spec", "chains"), [("mobilenet_v1:width=0.25,padding=tf_same", 26), ("mobilenet_v2", 34)])
def test_equalization_keeps_the_float_function(spec: str, chains: int) -> None:
    module = _trained_like(spec)
    example = torch.randn(4, 3, 96, 96, generator=torch.Generator().manual_seed(2))
    assert len(find_chains(module, example[:1])) == chains
    equalized = copy.deepcopy(module)
    assert equalize_activations(equalized, [example]) == chains
    with torch.no_grad():
        before, after = module(example), equalized(example)
    assert torch.allclose(before, after, atol=1e-4 * before.abs().max().item())
    changed = [
        name for (name, a), (_, b) in zip(module.state_dict().items(), equalized.state_dict().items(), strict=True)
        if a.is_floating_point() and not torch.equal(a, b)
    ]
    assert changed, "some channel was rescaled"


def test_scales_widen_narrow_channels_but_respect_the_relu6_clip_and_dead_channels() -> None:
    maxima = torch.tensor([6.0, 1.5, 0.06, 0.0])
    scales = equalization_scales(maxima, clip=6.0)
    assert scales[0] == 1.0 and scales[3] == 1.0
    assert scales[1] == pytest.approx(2.0) and scales[2] == pytest.approx(10.0)
    assert torch.all(scales * maxima <= 6.0 + 1e-6)


def test_chains_skip_tensors_with_a_second_reader() -> None:
    """V3's squeeze-excite reads its input twice; such activations are never rescaled."""
    module = ModelSpec.parse("mobilenet_v3_small").build().eval()
    chains = find_chains(module, torch.randn(1, 3, 96, 96))
    assert all(isinstance(c.activation, nn.ReLU | nn.ReLU6) for c in chains)
    se_inputs = {id(m.avgpool) for m in module.modules() if hasattr(m, "fc1") and hasattr(m, "avgpool")}
    assert se_inputs and all(id(c.consumer) not in se_inputs for c in chains)
