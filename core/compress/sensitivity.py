"""Sensitivity analysis: change one layer alone, measure what it costs, and suggest a plan.

Pruning: each prunable channel group (named by its root layer) is pruned alone at a few
ratios; its MACs saving and its top-1 agreement with the parent are measured. Quantization:
each conv/linear layer alone gets int8 weights (per-channel) and an int8 output (per-tensor,
range calibrated like the real int8 model), all other layers float. Agreement with the
parent's top-1 is the score: it needs no labels and is far less noisy than accuracy on a
small subset; accuracy is measured too when the images are labelled.

Suggestions: per-layer pruning ratios that reach a MACs target, cheapest first (a greedy
multiple-choice knapsack on agreement lost per MAC saved), verified by pruning and counting;
for a latency target the MACs target is tightened until the measured latency meets it; and
the layers whose int8 version alone costs the most, to keep in float.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from core.errors import StudioError
from core.hooks import removed_after
from core.jobs import Progress, silent
from core.model import LoadedModel
from core.quant.dataflow import DataFlow
from core.recipe import PruneStep, QuantizeStep

if TYPE_CHECKING:
    from core.data.datasets import ImageDataset

PRUNE_LEVELS = (0.25, 0.5)
KEEP_FLOAT_MIN_COST = 0.5  # agreement points; below this an int8 layer is within subset noise
KEEP_FLOAT_MAX = 3
PROBE_STATISTICS_IMAGES = 32  # per probe: enough for channel means, cheap enough for dozens of probes


@dataclass(frozen=True)
class Probe:
    """One layer changed alone, and what it cost."""

    layer: str
    technique: str  # prune | quantize
    ratio: float  # channels removed (prune); 0 for quantize
    macs: int  # MACs of the whole model with this change
    agreement: float  # % of images whose top-1 matches the parent's
    top1: float | None  # % correct, when the images are labelled

    def to_dict(self) -> dict[str, Any]:
        top1 = None if self.top1 is None else round(self.top1, 2)
        return {"layer": self.layer, "technique": self.technique, "ratio": self.ratio, "macs": self.macs,
                "agreement": round(self.agreement, 2), "top1": top1}


@dataclass
class SensitivityReport:
    parent_macs: int
    parent_top1: float | None
    images: int
    probes: list[Probe] = field(default_factory=list)
    seconds: float = 0.0

    def of(self, technique: str) -> list[Probe]:
        return [p for p in self.probes if p.technique == technique]

    def keep_float_suggestion(self) -> tuple[str, ...]:
        """The layers whose int8 version alone costs most (at most 3), worst first."""
        costly = sorted(
            (p for p in self.of("quantize") if 100 - p.agreement >= KEEP_FLOAT_MIN_COST), key=lambda p: p.agreement
        )
        return tuple(p.layer for p in costly[:KEEP_FLOAT_MAX])

    def to_dict(self) -> dict[str, Any]:
        return {"parent_macs": self.parent_macs, "parent_top1": self.parent_top1, "images": self.images,
                "seconds": round(self.seconds, 1), "probes": [p.to_dict() for p in self.probes],
                "keep_float": list(self.keep_float_suggestion())}


class _Scorer:
    """The eval subset, decoded once, and the parent's answers to compare against."""

    def __init__(self, module: nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        self.batches = batches
        with torch.inference_mode():
            self.reference = [module(images).argmax(1) for images, _ in batches]
        self.labeled = all(bool((labels >= 0).all()) for _, labels in batches)
        self.count = sum(len(labels) for _, labels in batches)

    def score(self, module: nn.Module, progress: Progress) -> tuple[float, float | None]:
        agree = correct = 0
        with torch.inference_mode():
            for (images, labels), reference in zip(self.batches, self.reference, strict=True):
                progress.check()  # a cancellation checkpoint per batch: a probe on V2 takes seconds
                predicted = module(images).argmax(1)
                agree += int((predicted == reference).sum())
                correct += int((predicted == labels).sum())
        return 100 * agree / self.count, (100 * correct / self.count if self.labeled else None)


def analyze_sensitivity(
    model: LoadedModel,
    evaluation: ImageDataset,
    *,
    techniques: tuple[str, ...] = ("prune", "quantize"),
    calib: ImageDataset | None = None,
    images: int = 128,
    prune_levels: tuple[float, ...] = PRUNE_LEVELS,
    prune_settings: PruneStep | None = None,
    progress: Progress | None = None,
) -> SensitivityReport:
    """Probe every prunable group and/or quantizable layer of `model` alone (cancellable per probe).

    Pruning probes use `prune_settings` (importance, compensation, rounding; default `PruneStep()`),
    with statistics from a few calibration images (`calib`, else the evaluation images).
    """
    from core.data.datasets import Preprocessing
    from core.metrics.complexity import analyze_complexity

    progress = progress or silent()
    start = time.perf_counter()
    module = model.editable_module("analysed").eval()
    unknown = set(techniques) - {"prune", "quantize"}
    if unknown or not techniques:
        raise StudioError(
            f"sensitivity techniques are prune and/or quantize; got {', '.join(sorted(unknown)) or 'none'}"
        )
    subset = evaluation.subset(images, seed=0)
    load = progress.span(0.0, 0.1)
    batches = list(subset.batches(Preprocessing.for_card(model.card), batch_size=32, progress=load))
    if not batches:
        raise StudioError(f"{evaluation.root} has no readable images to measure sensitivity on")
    scorer = _Scorer(module, batches)
    parent_macs = analyze_complexity(module, model.card.input_size).macs
    _, parent_top1 = scorer.score(module, progress)
    report = SensitivityReport(parent_macs, parent_top1, scorer.count)
    work = progress.span(0.1, 1.0)
    if "prune" in techniques:
        share = work.span(0.0, 0.6 if "quantize" in techniques else 1.0)
        settings = prune_settings or PruneStep()
        statistics_images = (calib or evaluation).subset(PROBE_STATISTICS_IMAGES, seed=3)
        report.probes += _prune_probes(model, scorer, prune_levels, settings, statistics_images, share)
    if "quantize" in techniques:
        share = work.span(0.6 if "prune" in techniques else 0.0, 1.0)
        report.probes += _quantize_probes(module, calib or evaluation, model, scorer, parent_macs, share)
    report.seconds = time.perf_counter() - start
    progress(1.0, f"sensitivity of {len(report.probes)} probes in {report.seconds:.0f} s")
    return report


def prune_groups(module: nn.Module, input_size: int) -> list[str]:
    """One layer name per channel group torch-pruning can shrink (classifier outputs kept)."""
    import torch_pruning as tp

    names = {m: n for n, m in module.named_modules()}
    classifier = [m for m in module.modules() if isinstance(m, nn.Linear)][-1]
    graph = tp.DependencyGraph().build_dependency(module, torch.zeros(1, 3, input_size, input_size))
    # The root is the layer torch-pruning keys ratios by (in V1, the depthwise conv after each pointwise one).
    groups = graph.get_all_groups(ignored_layers=[classifier], root_module_types=[nn.Conv2d, nn.Linear])
    return [names[group[0].dep.target.module] for group in groups]


def _prune_probes(
    model: LoadedModel,
    scorer: _Scorer,
    levels: tuple[float, ...],
    settings: PruneStep,
    calib: ImageDataset,
    progress: Progress,
) -> list[Probe]:
    from core.compress.pruning import prune
    from core.metrics.complexity import analyze_complexity

    assert model.module is not None
    groups = prune_groups(model.module, model.card.input_size)
    plan = [(name, ratio) for name in groups for ratio in levels]
    step = progress.steps(len(plan), "pruning one group at a time")
    probes = []
    for index, (name, ratio) in enumerate(plan):
        step(index)
        single = replace(settings, kind="structured", scope="uniform", ratio=0.0, layer_ratios={name: ratio})
        pruned = prune(model, single, calib=calib, progress=Progress(token=progress.token))  # cancellable, quiet
        assert pruned.module is not None
        agreement, top1 = scorer.score(pruned.module, progress)
        macs = analyze_complexity(pruned.module, model.card.input_size).macs
        probes.append(Probe(name, "prune", ratio, macs, agreement, top1))
    return probes


def _fake_quantized_weight(weight: torch.Tensor) -> torch.Tensor:
    """Per-output-channel symmetric int8, as the x86 back end stores it (BN folding scales rows only)."""
    scale = (weight.abs().amax(dim=tuple(range(1, weight.dim()))) / 127.5).clamp_min(1e-12)
    zero = torch.zeros_like(scale, dtype=torch.int32)
    return torch.fake_quantize_per_channel_affine(weight, scale, zero, 0, -128, 127)


def _output_ranges(
    module: nn.Module, points: list[nn.Module], calib: ImageDataset, model: LoadedModel, progress: Progress
) -> dict[nn.Module, tuple[float, int, int, int]]:
    """Calibrated (scale, zero point, quant min, quant max) of each output point, observed as the int8 verb does."""
    from core.data.datasets import Preprocessing
    from core.quant.observers import qconfig_for

    make_observer = qconfig_for(QuantizeStep()).activation
    observers = {point: make_observer() for point in points}
    hooks = [point.register_forward_hook(lambda m, _i, out: observers[m](out)) for point in points]
    with removed_after(hooks), torch.inference_mode():
        for images, _ in calib.subset(64, seed=1).batches(Preprocessing.for_card(model.card), 32, progress=progress):
            module(images)
    ranges = {}
    for point, observer in observers.items():
        if isinstance(point, nn.ReLU6):
            observer.max_val.clamp_(max=6.0)  # int8 saturation is the ReLU6 clip, as in the real int8 model
        scale, zero = observer.calculate_qparams()
        ranges[point] = (float(scale), int(zero), observer.quant_min, observer.quant_max)
    return ranges


def _quantize_probes(
    module: nn.Module, calib: ImageDataset, model: LoadedModel, scorer: _Scorer, parent_macs: int, progress: Progress
) -> list[Probe]:
    flow = DataFlow.trace(module, scorer.batches[0][0][:1])
    layers = [(n, m) for n, m in module.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    points = {layer: flow.output_point(layer) for _, layer in layers}
    ranges = _output_ranges(module, list(set(points.values())), calib, model, progress.span(0.0, 0.2))
    step = progress.span(0.2, 1.0).steps(len(layers), "quantizing one layer at a time")
    probes = []
    for index, (name, layer) in enumerate(layers):
        step(index)
        original = layer.weight.data
        layer.weight.data = _fake_quantized_weight(original)
        hook = points[layer].register_forward_hook(
            lambda _m, _i, out, q=ranges[points[layer]]: torch.fake_quantize_per_tensor_affine(out, *q)
        )
        try:
            agreement, top1 = scorer.score(module, progress)
        finally:
            hook.remove()
            layer.weight.data = original
        probes.append(Probe(name, "quantize", 0.0, parent_macs, agreement, top1))
    return probes


@dataclass(frozen=True)
class PruningSuggestion:
    layer_ratios: dict[str, float]
    macs: int  # measured on the model pruned with these ratios
    target_macs: int
    estimated_agreement_loss: float  # sum of the single-layer losses (interactions not included)
    latency_ms: float | None = None  # measured, when a latency target was asked for

    def step(self, base: PruneStep | None = None) -> PruneStep:
        """A prune step applying the suggestion (other settings from `base`)."""
        return replace(base or PruneStep(), ratio=0.0, scope="uniform", layer_ratios=dict(self.layer_ratios))

    def to_dict(self) -> dict[str, Any]:
        return {"layer_ratios": self.layer_ratios, "macs": self.macs, "target_macs": self.target_macs,
                "estimated_agreement_loss": round(self.estimated_agreement_loss, 2),
                "latency_ms": self.latency_ms}


def _greedy_ratios(report: SensitivityReport, saving_needed: int) -> tuple[dict[str, float], float, int]:
    """Cheapest agreement loss per MAC saved first; each group climbs its measured ratio levels.

    Returns the ratios, the summed agreement loss and the summed (estimated) MACs saving.
    """
    options: dict[str, list[Probe]] = {}
    for probe in sorted(report.of("prune"), key=lambda p: p.ratio):
        options.setdefault(probe.layer, []).append(probe)
    chosen: dict[str, Probe] = {}
    saved, loss = 0, 0.0
    while saved < saving_needed:
        best: tuple[float, str, Probe] | None = None
        for layer, levels in options.items():
            current = chosen.get(layer)
            higher = [p for p in levels if current is None or p.ratio > current.ratio]
            if not higher:
                continue
            nxt = higher[0]
            gain = (current.macs if current else report.parent_macs) - nxt.macs
            cost = max(0.0, (current.agreement if current else 100.0) - nxt.agreement) + 1e-3
            if gain > 0 and (best is None or cost / gain < best[0]):
                best = (cost / gain, layer, nxt)
        if best is None:
            break
        _, layer, probe = best
        previous = chosen.get(layer)
        saved += (previous.macs if previous else report.parent_macs) - probe.macs
        loss += max(0.0, (previous.agreement if previous else 100.0) - probe.agreement)
        chosen[layer] = probe
    return {layer: probe.ratio for layer, probe in chosen.items()}, loss, saved


def suggest_pruning(
    model: LoadedModel,
    report: SensitivityReport,
    *,
    macs_fraction: float | None = None,
    latency_ms: float | None = None,
    threads: int = 1,
    progress: Progress | None = None,
) -> PruningSuggestion:
    """Per-layer ratios meeting a MACs fraction of the parent, or a measured latency (torch, `threads`)."""
    from core.metrics.latency import benchmark

    progress = progress or silent()
    if (macs_fraction is None) == (latency_ms is None):
        raise StudioError("give one target: a MACs fraction of the parent or a latency in ms")
    if macs_fraction is not None and not 0 < macs_fraction < 1:
        raise StudioError(f"the MACs target is a fraction of the parent's MACs in (0, 1); got {macs_fraction}")
    if not report.of("prune"):
        raise StudioError("the sensitivity report has no pruning probes; analyse with technique 'prune' first")
    fraction = macs_fraction if macs_fraction is not None else 1.0
    measured: float | None = None
    for attempt in range(5):
        progress(attempt / 5, "choosing per-layer ratios")
        suggestion, pruned = _plan_for_macs(model, report, int(report.parent_macs * fraction))
        if suggestion.macs > suggestion.target_macs:
            reached = suggestion.macs / report.parent_macs
            raise StudioError(
                f"the probed pruning levels reach at most {reached:.0%} of the parent's MACs "
                f"(target {fraction:.0%}); analyse with higher levels or choose a looser target"
            )
        if latency_ms is None:
            return suggestion
        measured = benchmark(pruned, runtime="torch", threads=threads, runs=20, warmup=3).median_ms
        suggestion = replace(suggestion, latency_ms=round(measured, 2))
        if measured <= latency_ms:
            return suggestion
        fraction *= latency_ms / measured  # latency falls more slowly than MACs: tighten and measure again
    raise StudioError(
        f"no pruning plan from the measured levels reaches {latency_ms} ms (best measured {measured:.1f} ms); "
        "analyse with higher prune levels or choose a slower target"
    )


def _plan_for_macs(model: LoadedModel, report: SensitivityReport, target: int) -> tuple[PruningSuggestion, LoadedModel]:
    """Greedy ratios, re-planned with the measured shortfall: pruning two neighbours saves less than the sum."""
    from core.compress.pruning import prune
    from core.metrics.complexity import analyze_complexity

    highest = max(p.ratio for p in report.of("prune"))
    everything = {p.layer: highest for p in report.of("prune")}
    needed = report.parent_macs - target
    # Each re-plan asks for more than the last plan's estimate, so it adds a level: bounded by the probes.
    for _ in range(len(report.of("prune")) + 1):
        ratios, loss, estimated = _greedy_ratios(report, needed)
        pruned = prune(model, PruneStep(ratio=0.0, layer_ratios=ratios, importance="l1", compensate=False))
        assert pruned.module is not None
        macs = analyze_complexity(pruned.module, model.card.input_size).macs
        if macs <= target or ratios == everything:
            break
        needed = max(needed + macs - target, estimated + 1)
    return PruningSuggestion(ratios, macs, target, loss), pruned
