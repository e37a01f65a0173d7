"""The `drop_blocks` step: remove whole blocks, with a least-squares adaptor folded into a neighbour.

A run of consecutive removed blocks leaves a gap between two tensors of the same shape. An affine
1×1 map (A, b), identity-initialised and fitted by ridge-regularised least squares on calibration
features, stands in for the run: it maps what now reaches the gap (from the model as changed so far,
so later adaptors also absorb the error of earlier ones) to what the run produced in the model the
step started from. It is then folded into a neighbouring layer, so the graph has no extra op:

- `next`: the dense 1×1 conv that alone reads the gap (the expansion of the following non-residual
  block, or the head conv) takes W·A, and its BatchNorm mean absorbs W·b. Exact, and train-mode
  BatchNorm stays consistent (a constant shift is removed by batch statistics anyway).
- `previous`: the conv-BN pair that produces the gap (a non-residual block's projection, or V1's
  pointwise conv before its ReLU6) takes A·diag(s)·W, and its BatchNorm gets the new output's measured
  mean and variance with a scale and shift that make it compute A·z + b exactly in eval mode.

V1 has no residual blocks, so its adaptors fold into the previous pointwise conv and are fitted on
pre-activations (the removed run's last pointwise output before its ReLU6).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from core.errors import StudioError
from core.hooks import removed_after
from core.jobs import Progress, silent
from core.model import LoadedModel
from core.recipe import DropBlocksStep
from core.zoo.blocks import BlockView, block_views, drop_blocks

if TYPE_CHECKING:
    from core.data.datasets import ImageDataset

MOMENT_POSITIONS = 8192  # per batch: a strided sample of positions keeps the C×C products cheap
RIDGE = 1e-3  # pull towards the identity, relative to the mean input power


@dataclass(frozen=True)
class Gap:
    """A run of consecutive removed blocks and where its adaptor folds."""

    first: int
    last: int
    site: str  # "next" | "previous"

    @property
    def blocks(self) -> tuple[int, ...]:
        return tuple(range(self.first, self.last + 1))


def runs(blocks: tuple[int, ...]) -> list[tuple[int, int]]:
    """Consecutive runs (first, last) of the sorted block numbers."""
    out: list[tuple[int, int]] = []
    for block in sorted(blocks):
        if out and out[-1][1] == block - 1:
            out[-1] = (out[-1][0], block)
        else:
            out.append((block, block))
    return out


def plan_gaps(module: nn.Module, blocks: tuple[int, ...]) -> list[Gap]:
    """Where each run's adaptor folds; a StudioError naming the run when it cannot fold anywhere."""
    views = block_views(module)
    droppable = {v.index for v in views if v.droppable}
    refused = sorted(set(blocks) - droppable)
    if refused:
        raise StudioError(f"blocks {refused} cannot be dropped: their input and output shapes differ "
                          f"(droppable: {', '.join(map(str, sorted(droppable))) or 'none'})")
    gaps = []
    for first, last in runs(blocks):
        after = views[last + 1] if last + 1 < len(views) else None
        before = views[first - 1]
        if after is not None and after.entry is not None:
            gaps.append(Gap(first, last, "next"))
        elif before.exit is not None and before.exit[0].groups == 1 and before.exit[0].bias is None:
            gaps.append(Gap(first, last, "previous"))
        else:
            raise StudioError(
                f"blocks {first}–{last} cannot be dropped alone: both neighbours are residual blocks, so no "
                f"single layer can absorb the adaptor; drop {first - 1} or {last + 1} with them"
            )
    return gaps


def remove_blocks(
    model: LoadedModel, step: DropBlocksStep, *, calib: ImageDataset | None = None, progress: Progress | None = None
) -> LoadedModel:
    """A copy of `model` without `step.blocks`, each gap bridged by a folded least-squares adaptor."""
    progress = progress or silent()
    reference = model.editable_module("changed")
    spec = model.card.spec
    assert spec is not None
    module = copy.deepcopy(reference).eval()
    gaps = plan_gaps(module, step.blocks)
    if step.fit_images and calib is None:
        raise StudioError("fitting the adaptors of dropped blocks needs calibration images (--calib)")
    for number, gap in enumerate(gaps):
        gap_progress = progress.span(number / len(gaps), (number + 1) / len(gaps))
        if step.fit_images:
            assert calib is not None
            statistics = _gap_statistics(module, reference, gap, calib, step.fit_images, model, gap_progress)
            affine = fit_affine(statistics)
        else:
            statistics, affine = None, None
        views = block_views(module)
        drop_blocks(module, gap.blocks)
        if affine is not None:
            assert statistics is not None
            if gap.site == "next":
                entry = views[gap.last + 1].entry
                assert entry is not None
                fold_into_entry(*entry, *affine)
            else:
                exit_pair = views[gap.first - 1].exit
                assert exit_pair is not None
                fold_into_exit(*exit_pair, *affine, statistics.source_mean, statistics.source_covariance)
    dropped = tuple(sorted({*spec.dropped, *step.blocks}))
    removed = f"−{len(step.blocks)} block{'s' if len(step.blocks) > 1 else ''}"
    card = replace(model.card, spec=spec.replace(dropped=dropped), path="", title=f"{model.card.title} {removed}")
    progress(1.0, f"dropped blocks {', '.join(map(str, step.blocks))}")
    return LoadedModel(card=card, module=module)


@dataclass
class GapStatistics:
    """First and second moments of the source x (what reaches the gap) and target y (what the run made)."""

    source_mean: torch.Tensor  # E[x], C
    source_moments: torch.Tensor  # E[x xᵀ], C×C
    target_mean: torch.Tensor  # E[y]
    cross: torch.Tensor  # E[y xᵀ]
    positions: int

    @property
    def source_covariance(self) -> torch.Tensor:
        return self.source_moments - torch.outer(self.source_mean, self.source_mean)


def _channels(tensor: torch.Tensor) -> torch.Tensor:
    """Channel-major samples C × positions, strided to at most MOMENT_POSITIONS."""
    flat = tensor.detach().transpose(0, 1).flatten(1).double()
    return flat[:, :: max(1, flat.shape[1] // MOMENT_POSITIONS)]


def _source_point(module: nn.Module, gap: Gap) -> tuple[nn.Module, bool]:
    """(layer, pre) whose input (pre) or output carries what reaches the gap in `module`."""
    features: Any = module.features
    if gap.site == "next":
        return features[gap.first], True
    exit_pair = block_views(module)[gap.first - 1].exit
    assert exit_pair is not None
    return exit_pair[1], False  # the BatchNorm output, before any activation


def _target_point(reference: nn.Module, gap: Gap) -> nn.Module:
    """The layer whose output is what the run produced in the reference model."""
    view: BlockView = block_views(reference)[gap.last]
    if gap.site == "previous" and view.activation is not None:
        assert view.exit is not None
        return view.exit[1]  # V1: the pointwise pre-activation, as the previous block's adaptor is one
    features: Any = reference.features
    return features[gap.last]


@torch.no_grad()
def _gap_statistics(
    module: nn.Module, reference: nn.Module, gap: Gap, calib: ImageDataset, images: int, model: LoadedModel,
    progress: Progress,
) -> GapStatistics:
    from core.data.datasets import Preprocessing

    captured: dict[str, torch.Tensor] = {}
    source, pre = _source_point(module, gap)
    target = _target_point(reference, gap)

    def keep(name: str) -> Any:
        def hook(_layer: nn.Module, inputs: tuple[torch.Tensor, ...], output: Any = None) -> None:
            captured[name] = inputs[0] if output is None else output

        return hook

    hooks = [source.register_forward_pre_hook(keep("source")) if pre else source.register_forward_hook(keep("source")),
             target.register_forward_hook(keep("target"))]
    sums: list[Any] = [0.0, 0.0, 0.0, 0.0, 0]
    with removed_after(hooks):
        data = calib.subset(min(images, len(calib)), seed=3)
        for batch, _ in data.batches(Preprocessing.for_card(model.card), 32, progress):
            module(batch)
            reference(batch)
            x, y = _channels(captured["source"]), _channels(captured["target"])
            sums[0] = sums[0] + x.sum(1)
            sums[1] = sums[1] + x @ x.T
            sums[2] = sums[2] + y.sum(1)
            sums[3] = sums[3] + y @ x.T
            sums[4] += x.shape[1]
    count = sums[4]
    if not count:
        raise StudioError(f"no calibration image of {calib.root} could be read")
    return GapStatistics(sums[0] / count, sums[1] / count, sums[2] / count, sums[3] / count, count)


def fit_affine(statistics: GapStatistics) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, b) minimising E‖y − (A·x + b)‖² + λ‖A − I‖²: least squares pulled towards the identity."""
    channels = statistics.source_mean.shape[0]
    gram = torch.empty(channels + 1, channels + 1, dtype=torch.float64)  # E[z zᵀ], z = [x; 1]
    gram[:channels, :channels] = statistics.source_moments
    gram[:channels, channels] = gram[channels, :channels] = statistics.source_mean
    gram[channels, channels] = 1.0
    ridge = RIDGE * statistics.source_moments.diagonal().mean().clamp_min(1e-12)
    gram[range(channels), range(channels)] += ridge
    rhs = torch.cat([statistics.cross, statistics.target_mean[:, None]], dim=1)  # E[y zᵀ]
    rhs[:, :channels] += ridge * torch.eye(channels, dtype=torch.float64)
    solution = torch.linalg.solve(gram, rhs.T).T
    return solution[:, :channels], solution[:, channels]


@torch.no_grad()
def fold_into_entry(conv: nn.Conv2d, norm: nn.BatchNorm2d, matrix: torch.Tensor, shift: torch.Tensor) -> None:
    """`conv` reads A·x + b instead of x: W ← W·A, and W·b moves into its bias or its BatchNorm mean."""
    weight = conv.weight.detach().flatten(1).double()
    conv.weight.copy_((weight @ matrix).view_as(conv.weight))
    offset = (weight @ shift).to(conv.weight.dtype)
    if conv.bias is not None:
        conv.bias += offset
    else:
        assert norm.running_mean is not None
        norm.running_mean -= offset


@torch.no_grad()
def fold_into_exit(
    conv: nn.Conv2d, norm: nn.BatchNorm2d, matrix: torch.Tensor, shift: torch.Tensor, source_mean: torch.Tensor,
    source_covariance: torch.Tensor,
) -> None:
    """conv → BN now computes A·BN(conv(h)) + b: the conv takes A·diag(s)·W, and the BatchNorm the new
    output's mean and variance (from the old output's moments) with a scale and shift that reproduce it."""
    assert norm.running_mean is not None and norm.running_var is not None
    scale = (norm.weight / torch.sqrt(norm.running_var + norm.eps)).double()
    offset = norm.bias.double() - scale * norm.running_mean.double()  # BN(u) = s·u + t
    mixing = matrix * scale[None, :]
    weight = conv.weight.detach().flatten(1).double()
    conv.weight.copy_((mixing @ weight).view_as(conv.weight))
    mean = matrix @ (source_mean - offset)  # E[A·diag(s)·W·h]
    variance = (matrix @ source_covariance @ matrix.T).diagonal().clamp_min(1e-6)
    norm.running_mean.copy_(mean)
    norm.running_var.copy_(variance)
    norm.weight.copy_(torch.sqrt(variance + norm.eps))
    norm.bias.copy_(mean + matrix @ offset + shift)
