"""The blocks of a MobileNet's `features`, and which of them can be removed whole.

Every zoo architecture keeps its blocks in `features` (stem, blocks, head). A block can be dropped when
its input and output have the same shape: V2's and V3's residual blocks, V1's stride-1 blocks with equal
channel counts. A dropped block becomes `nn.Identity`, so the other blocks keep their names and a
stored variant's state_dict simply lacks the dropped block's keys (`ModelSpec.dropped` rebuilds it).

`BlockView` tells the compression step where an adaptor can be folded without leaving an extra op:
into the dense 1×1 conv that alone reads a block's input (`entry`), or into the conv-BN pair whose
output is a block's output or its pre-activation (`exit`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from torch import nn

from core.errors import SpecError


@dataclass(frozen=True)
class BlockView:
    index: int  # position in `features`
    skip: bool  # the block adds its input to its output (a residual block)
    droppable: bool  # input and output shapes match
    entry: tuple[nn.Conv2d, nn.BatchNorm2d] | None  # the dense 1×1 conv(-BN) that alone reads the input (no skip)
    exit: tuple[nn.Conv2d, nn.BatchNorm2d] | None  # conv-BN making the output (no skip), before `activation`
    activation: nn.Module | None  # what follows `exit` inside the block (V1's ReLU6), if anything


def _dense_pointwise(layer: nn.Module) -> nn.Conv2d | None:
    if isinstance(layer, nn.Conv2d) and layer.kernel_size == (1, 1) and layer.groups == 1 and layer.stride == (1, 1):
        return layer
    return None


def _entry(unit: tuple[nn.Conv2d, nn.BatchNorm2d, nn.Module | None] | None) -> tuple[nn.Conv2d, nn.BatchNorm2d] | None:
    return (unit[0], unit[1]) if unit is not None and _dense_pointwise(unit[0]) is not None else None


def _conv_unit(unit: nn.Module) -> tuple[nn.Conv2d, nn.BatchNorm2d, nn.Module | None] | None:
    """(conv, bn, activation) of a conv-norm(-activation) Sequential, else None."""
    parts = list(unit.children()) if isinstance(unit, nn.Sequential) else []
    if len(parts) in (2, 3) and isinstance(parts[0], nn.Conv2d) and isinstance(parts[1], nn.BatchNorm2d):
        return parts[0], parts[1], parts[2] if len(parts) == 3 else None
    return None


def view_block(index: int, block: nn.Module) -> BlockView:
    if hasattr(block, "use_res_connect"):  # torchvision's inverted residual (V2: `conv`, V3: `block`)
        inner: nn.Module = block.conv if hasattr(block, "conv") else block.block  # type: ignore[assignment]
        units = list(inner.children())
        skip = bool(block.use_res_connect)
        expansion = _conv_unit(units[0])
        entry = _entry(expansion) if not skip else None
        projection = _conv_unit(units[-1])  # V3: a conv-BN unit; V2: conv and BN side by side
        conv, norm = (projection[0], projection[1]) if projection else (units[-2], units[-1])
        exit_pair = None
        if not skip and isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
            exit_pair = (conv, norm)
        return BlockView(index, skip, skip, entry, exit_pair, None)
    unit = _conv_unit(block)
    if unit is not None:  # a stem or head conv unit
        conv, norm, activation = unit
        return BlockView(index, False, False, _entry(unit), (conv, norm), activation)
    pair = [_conv_unit(child) for child in block.children()]
    first, second = (pair[0], pair[1]) if len(pair) == 2 else (None, None)
    if first is not None and second is not None:  # V1: depthwise conv unit, then pointwise conv unit
        depthwise, (pointwise, norm, activation) = first[0], second
        droppable = depthwise.stride == (1, 1) and pointwise.in_channels == pointwise.out_channels
        return BlockView(index, False, droppable, None, (pointwise, norm), activation)
    return BlockView(index, False, False, None, None, None)


def block_views(module: nn.Module) -> list[BlockView]:
    """One view per entry of `module.features`; a dropped block (Identity) is neither droppable nor foldable."""
    features = getattr(module, "features", None)
    if not isinstance(features, nn.Sequential):
        raise SpecError("this model has no `features` sequence of blocks")
    return [
        BlockView(i, False, False, None, None, None) if isinstance(b, nn.Identity) else view_block(i, b)
        for i, b in enumerate(features)
    ]


def droppable_blocks(module: nn.Module) -> list[int]:
    """Indices of the blocks whose input and output shapes match (the stem and the head never do)."""
    return [v.index for v in block_views(module) if v.droppable]


def drop_blocks(module: nn.Module, indices: Iterable[int]) -> nn.Module:
    """Replace the listed blocks of `module.features` with `nn.Identity`, in place."""
    indices = sorted(set(indices))
    if not indices:
        return module
    features: nn.Sequential = module.features  # type: ignore[assignment]
    allowed = set(droppable_blocks(module)) | {i for i, b in enumerate(features) if isinstance(b, nn.Identity)}
    refused = [i for i in indices if i not in allowed]
    if refused:
        raise SpecError(
            f"blocks {refused} cannot be dropped: their input and output shapes differ "
            f"(droppable here: {sorted(droppable_blocks(module))})"
        )
    for index in indices:
        features[index] = nn.Identity()
    return module
