"""The `prune` verb: structured channel pruning (the network really shrinks) and
unstructured magnitude pruning (weights become zeros; dense runtimes get no speed-up).

Structured pruning uses torch-pruning's dependency graph, so depthwise convs stay
depthwise, residual adds and squeeze-excite blocks stay consistent, and channel
counts are rounded to a multiple of `round_to`. The final classifier's outputs
(the classes) are never pruned.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from core.errors import StudioError
from core.jobs import Progress, silent
from core.model import LoadedModel
from core.recipe import PruneStep

if TYPE_CHECKING:
    from torch import nn

    from core.data.datasets import ImageDataset


@dataclass
class SparsityReport:
    """How many prunable weights are zero, and what that buys once the file is zipped."""

    sparsity: float  # zero fraction of conv/linear weights
    zeros: int
    weights: int
    dense_bytes: int
    zipped_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "sparsity": round(self.sparsity, 4), "zeros": self.zeros, "weights": self.weights,
            "dense_bytes": self.dense_bytes, "zipped_bytes": self.zipped_bytes,
        }  # fmt: skip


def prunable_layers(module: nn.Module) -> list[tuple[str, nn.Conv2d | nn.Linear]]:
    """Conv and linear layers in order; the last linear (the class scores) excluded."""
    from torch import nn

    layers: list[tuple[str, nn.Conv2d | nn.Linear]] = [
        (n, m) for n, m in module.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)
    ]
    last_linear = max((i for i, (_, m) in enumerate(layers) if isinstance(m, nn.Linear)), default=None)
    return [layer for i, layer in enumerate(layers) if i != last_linear]


def prune(
    model: LoadedModel,
    step: PruneStep,
    *,
    calib: ImageDataset | None = None,
    progress: Progress | None = None,
) -> LoadedModel:
    """A pruned copy of `model` (the parent is left untouched)."""
    progress = progress or silent()
    module = copy.deepcopy(model.editable_module("pruned")).eval()
    if step.kind == "structured":
        _prune_channels(module, model.card.input_size, step, calib, progress)
    else:
        _prune_weights(module, step, progress)
    progress(1.0, "pruned")
    card = replace(model.card, title=f"{model.card.title} pruned", pruned=True, path="")
    return LoadedModel(card=card, module=module)


def _importance(step: PruneStep) -> Any:
    import torch_pruning as tp

    return {
        "l1": lambda: tp.importance.MagnitudeImportance(p=1),
        "l2": lambda: tp.importance.MagnitudeImportance(p=2),
        "taylor": lambda: tp.importance.TaylorImportance(),
        "bn_scale": lambda: tp.importance.BNScaleImportance(),
    }[step.importance]()


def _prune_channels(
    module: nn.Module, input_size: int, step: PruneStep, calib: ImageDataset | None, progress: Progress
) -> None:
    import torch
    import torch_pruning as tp
    from torch import nn

    named = dict(module.named_modules())
    unknown = sorted(set(step.layer_ratios) - set(named))
    if unknown:
        raise StudioError(f"layer_ratios name layers this model does not have: {', '.join(unknown[:5])}")
    classifier = [m for m in module.modules() if isinstance(m, nn.Linear)][-1]
    example = torch.zeros(1, 3, input_size, input_size)
    progress(0.05, "building the dependency graph")
    pruner = tp.pruner.MetaPruner(
        module,
        example,
        importance=_importance(step),
        global_pruning=step.scope == "global",
        pruning_ratio=step.ratio,
        pruning_ratio_dict={named[name]: ratio for name, ratio in step.layer_ratios.items()},
        max_pruning_ratio=0.9,
        ignored_layers=[classifier],
        round_to=step.round_to,
    )
    if step.importance == "taylor":
        _accumulate_gradients(module, calib, input_size, progress.span(0.1, 0.7))
    progress(0.8, "removing channels")
    before = sum(p.numel() for p in module.parameters())
    with torch.no_grad():
        pruner.step()
    module.zero_grad(set_to_none=True)
    if step.ratio > 0 and sum(p.numel() for p in module.parameters()) == before:
        raise StudioError(
            f"{step.importance} importance ranked every channel the same, so nothing was pruned "
            "(untrained BatchNorm scales are all 1); use l1 or l2 importance, or pretrained weights"
        )


def _accumulate_gradients(module: nn.Module, calib: ImageDataset | None, input_size: int, progress: Progress) -> None:
    """Taylor importance needs loss gradients: labels where known, else the model's own top-1."""
    import torch
    import torch.nn.functional as F

    from core.data.datasets import Preprocessing

    if calib is None:
        raise StudioError("Taylor importance needs calibration images (--calib)")
    images = calib.subset(min(len(calib), 128), seed=0)
    preprocess = Preprocessing(input_size=input_size, resize_size=round(input_size / 0.875))
    module.zero_grad()
    for batch, labels in images.batches(preprocess, batch_size=16, progress=progress):
        logits = module(batch)
        targets = torch.where(labels >= 0, labels, logits.argmax(1).detach())
        F.cross_entropy(logits, targets).backward()


def _prune_weights(module: nn.Module, step: PruneStep, progress: Progress) -> None:
    import torch.nn.utils.prune as torch_prune

    layers = prunable_layers(module)
    unknown = sorted(set(step.layer_ratios) - {name for name, _ in layers})
    if unknown:
        raise StudioError(f"layer_ratios name layers that cannot be pruned here: {', '.join(unknown[:5])}")
    if step.scope == "global":
        globally = [(m, "weight") for name, m in layers if name not in step.layer_ratios]
        torch_prune.global_unstructured(globally, pruning_method=torch_prune.L1Unstructured, amount=step.ratio)
        for name, layer in layers:
            if name in step.layer_ratios:
                torch_prune.l1_unstructured(layer, "weight", amount=step.layer_ratios[name])
    else:
        for name, layer in layers:
            torch_prune.l1_unstructured(layer, "weight", amount=step.layer_ratios.get(name, step.ratio))
    progress(0.9, "making zeros permanent")
    for _, layer in layers:
        torch_prune.remove(layer, "weight")  # bakes the mask in: a plain state_dict, no doubled size


def sparsity_report(module: nn.Module) -> SparsityReport:
    import io
    import zipfile

    import torch

    zeros = weights = 0
    for _, layer in prunable_layers(module):
        weight = layer.weight.detach()
        zeros += int((weight == 0).sum())
        weights += weight.numel()
    raw = io.BytesIO()
    torch.save(module.state_dict(), raw)
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("model.pt", raw.getvalue())
    return SparsityReport(zeros / weights if weights else 0.0, zeros, weights, raw.tell(), zipped.tell())
