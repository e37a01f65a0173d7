"""Rebuild a pruned network from its state_dict alone (no pickle): resize layers to the saved shapes.

Structured pruning changes channel counts, so a pruned state_dict does not fit the
stock architecture. Rather than unpickling a whole module (unsafe), the studio
builds the stock network and gives each Conv2d / BatchNorm2d / Linear the shape
its saved tensors have, then loads the state_dict with `strict=True`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn


def _resize_conv(conv: nn.Conv2d, shape: tuple[int, ...]) -> None:
    depthwise = conv.groups == conv.in_channels and conv.groups > 1
    out_channels, in_per_group = shape[0], shape[1]
    conv.out_channels = out_channels
    if depthwise:
        conv.groups = out_channels
        conv.in_channels = out_channels
    else:
        conv.in_channels = in_per_group * conv.groups
    conv.weight = nn.Parameter(torch.empty(shape))
    if conv.bias is not None:
        conv.bias = nn.Parameter(torch.empty(out_channels))


def _resize_batchnorm(bn: nn.BatchNorm2d, features: int) -> None:
    bn.num_features = features
    if bn.affine:
        bn.weight = nn.Parameter(torch.empty(features))
        bn.bias = nn.Parameter(torch.empty(features))
    if bn.track_running_stats:
        bn.running_mean = torch.zeros(features)
        bn.running_var = torch.ones(features)


def _resize_linear(linear: nn.Linear, shape: tuple[int, ...]) -> None:
    linear.out_features, linear.in_features = shape[0], shape[1]
    linear.weight = nn.Parameter(torch.empty(shape))
    if linear.bias is not None:
        linear.bias = nn.Parameter(torch.empty(linear.out_features))


def fit_to_shapes(module: nn.Module, weight_shapes: Mapping[str, Sequence[int]]) -> bool:
    """Resize `module`'s layers in place to the `<layer>.weight` shapes given; True if anything changed."""
    changed = False
    for name, layer in module.named_modules():
        saved = weight_shapes.get(f"{name}.weight" if name else "weight")
        if saved is None or not hasattr(layer, "weight"):
            continue
        shape = tuple(int(n) for n in saved)
        if shape == tuple(layer.weight.shape):
            continue
        if isinstance(layer, nn.Conv2d):
            _resize_conv(layer, shape)
        elif isinstance(layer, nn.BatchNorm2d):
            _resize_batchnorm(layer, shape[0])
        elif isinstance(layer, nn.Linear):
            _resize_linear(layer, shape)
        else:
            continue
        changed = True
    return changed


def fit_to_state_dict(module: nn.Module, state_dict: dict[str, Any]) -> bool:
    """Resize `module`'s layers in place to the tensor shapes in `state_dict`; True if anything changed."""
    return fit_to_shapes(module, {k: v.shape for k, v in state_dict.items() if isinstance(v, torch.Tensor)})
