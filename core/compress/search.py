"""The target search: "lose at most X points, as fast (small) as possible" → verified variants, one chosen.

1. Scan (about a quarter of the budget). Cheap proxies (KL and top-1 agreement with the parent, on
   calibration images that no fitting step reads) for every input size and crop, for every block that can
   be removed alone (its adaptor fitted) and for light expansion pruning; the latency each saves is timed
   in the chosen runtime, paired with the parent. Combinations are estimated from the parts, and the most
   promising are built and measured for real.
2. Choose. By the objective, among combinations whose proxy predicts the target can be met: the most
   aggressive one, then safer ones; and, where int8 is allowed, the parent quantized alone (no training).
3. Recover and verify, each in its share of the remaining time: the candidate's concrete recipe runs through
   the pipeline (distilled from the parent, then int8 where allowed), so each stored variant replays
   headlessly with `compress --recipe`. Each is then measured on the labelled evaluation images against the
   parent, paired (Δtop-1 with its 95 % interval), and timed alternately with the parent in the runtime.
   A variant whose Δtop-1 is below −max_drop is rejected: removed from the project, kept only as a row.
4. The chosen variant is the best by the objective among those that met the target.

The search is seeded: the same model, data, target and seed give the same candidates.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from core.compress.candidates import FIT_IMAGES, Candidate, Scored
from core.compress.drop_blocks import plan_gaps
from core.compress.proxy import Proxy
from core.data.datasets import ImageDataset
from core.errors import StudioError
from core.jobs import Cancelled, Progress, silent
from core.metrics.accuracy import AccuracyResult, evaluate
from core.metrics.complexity import analyze_complexity
from core.metrics.paired import paired_accuracy
from core.metrics.paired_latency import paired_latency
from core.model import LoadedModel
from core.precision import FLOAT
from core.project import Project, Variant
from core.recipe import FinetuneStep, QuantizeStep, Recipe, TargetStep
from core.zoo.blocks import block_views

SCORE_IMAGES = 200  # calibration images held out of every fit: the proxies are computed on them
# Coarse to fine, so that a short scan still spans the range.
RESOLUTIONS = (224, 192, 160, 128, 96, 208, 176, 144, 112)
CROPS = (0.875, 1.0)
SCAN_SHARE = 0.3  # of the budget; of the scan, input sizes take at most 35 %, single blocks 55 % of the rest
PRUNE_PROBES = (0.25,)
SHORTLIST = 4  # combinations built and measured for real
LATENCY_PAIRS = 15  # during the scan; verification times 30 pairs
SCAN_FIT_IMAGES = 64
# How far from the parent (disagreement on the score images, %) a candidate may start, per point of top-1 it
# may lose, above the parent's own instability (its disagreement with itself under the other crop): zero-shot,
# V2 at 192 px disagreed on 14.5 % of the calibration images and lost nothing on imagenet_val1300, at 160 px on
# 19.5 % and lost 2.46 pt, about 3 % per point above a 12 % floor. An aggressive pick counts on distillation to
# win back about half.
DISAGREEMENT_PER_POINT_SAFE = 3.0
DISAGREEMENT_PER_POINT_AGGRESSIVE = 6.0
QUANTIZE_IMAGES = 256


@dataclass
class CandidateRow:
    """One verified (or rejected) candidate, as the result table and `compress --json` show it."""

    label: str
    precision: str
    recipe: dict[str, Any]
    verdict: str  # chosen | met | rejected
    reason: str
    top1: float | None = None
    delta_top1: float | None = None
    delta_top1_ci95: tuple[float, float] | None = None
    agreement: float | None = None
    n: int | None = None
    latency_ratio: float | None = None
    latency_ratio_ci95: tuple[float, float] | None = None
    runtime: str = ""
    size_bytes: int | None = None
    macs: int | None = None
    variant: str | None = None  # stored variant id (met and chosen only)

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["met_target"] = self.verdict in ("chosen", "met")
        return data


@dataclass
class SearchResult:
    parent: Variant
    chosen: Variant | None
    chosen_model: LoadedModel | None
    rows: list[CandidateRow]
    scanned: list[Scored]
    float_graph: Variant | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()


CandidateListener = Callable[[dict[str, Any]], None]


def search(
    model: LoadedModel,
    step: TargetStep,
    project: Project,
    parent: Variant,
    *,
    calib: ImageDataset,
    train: ImageDataset | None,
    evaluation: ImageDataset,
    threads: int = 1,
    progress: Progress | None = None,
    on_candidate: CandidateListener | None = None,
) -> SearchResult:
    """Search, recover, verify and store; the parent must already be stored as `parent`."""
    from core.compress.pipeline import compress

    progress = progress or silent()
    listen = on_candidate or (lambda _row: None)
    started = time.monotonic()
    deadline = Deadline(60 * step.budget_minutes)
    ordered = calib.shuffled(step.seed)
    score_images = replace(ordered, samples=ordered.samples[:SCORE_IMAGES])
    fit = replace(ordered, samples=ordered.samples[SCORE_IMAGES:])
    progress(0.0, "scoring the parent")
    proxy = Proxy(model, score_images, progress.span(0.0, 0.02))
    reference = evaluate(model, evaluation, threads=threads, progress=progress.span(0.02, 0.06))
    project.update_metrics(parent.id, {"accuracy": reference.to_dict()})
    scan_progress = progress.span(0.06, 0.3)
    scan_deadline = Deadline(min(deadline.left(), SCAN_SHARE * 60 * step.budget_minutes))
    scan = _scan(model, step, proxy, fit, threads, scan_deadline, scan_progress, listen)
    chosen = _choose(step, scan)
    rows: list[CandidateRow] = []
    kept: list[tuple[Variant, LoadedModel, CandidateRow]] = []
    recover_progress = progress.span(0.3, 0.98)
    float_graph: Variant | None = None
    teacher_seconds = proxy.score(model).seconds_per_image
    verification = _verification_seconds(step, reference, teacher_seconds)
    for number, candidate in enumerate(chosen):
        if rows and deadline.left() < verification:
            break  # out of time: what was verified stands
        share = recover_progress.span(number / len(chosen), (number + 1) / len(chosen))
        # Time to distil: what is left once every remaining candidate is verified, shared by those that train.
        training = sum(1 for c in chosen[number:] if c is not None)
        seconds = (deadline.left() - verification * (len(chosen) - number)) / max(1, training)
        recipe = _recipe(candidate, model, step, train, seconds)
        if recipe is None:
            continue
        label = candidate.label() if candidate else "original, int8 only"
        result = compress(model, recipe, project, parent_variant=parent.id, calib=fit,
                          train=_within(train, seconds, teacher_seconds, step.seed),
                          evaluation=None, name=f"{model.card.title} · {label}", threads=threads,
                          progress=share.span(0.0, 0.8))  # fmt: skip
        verified = [(result.variant, result.model)]
        if result.float_graph and result.float_model and FLOAT in step.allowed:
            verified.insert(0, (result.float_graph, result.float_model))
        met: set[str] = set()
        try:
            for index, (variant, made) in enumerate(verified):
                row = _verify(made, variant, label, step, model, reference, evaluation, project, threads,
                              share.span(0.8 + 0.2 * index / len(verified), 0.8 + 0.2 * (index + 1) / len(verified)))
                rows.append(row)
                listen({"stage": "verified", **row.to_dict()})
                if row.verdict == "met":
                    kept.append((variant, made, row))
                    met.add(variant.id)
        except Cancelled:  # a candidate stored but not yet verified is half-made: it goes
            _discard(project, result.variant)
            if result.float_graph is not None:
                _discard(project, result.float_graph)
            raise
        if result.variant.id not in met:
            _discard(project, result.variant)
        if result.float_graph is not None:
            if result.variant.id in met:
                float_graph = result.float_graph  # the int8 variant's parent: exporters re-quantize it
            elif result.float_graph.id not in met:
                _discard(project, result.float_graph)
    best = min(kept, key=lambda item: _objective(item[2], step)) if kept else None
    if best is not None:
        best[2].verdict = "chosen"
        project.update_metrics(best[0].id, {"search": _search_metrics(best[2], step)})
    progress(1.0, f"chose {best[0].name}" if best else "no candidate met the target")
    return SearchResult(parent, best[0] if best else None, best[1] if best else None, rows, scan.entries,
                        float_graph=float_graph, seconds=time.monotonic() - started)  # fmt: skip


def check_feasible(model: LoadedModel, step: TargetStep, calib: ImageDataset, evaluation: ImageDataset,
                   threads: int) -> None:  # fmt: skip
    """Fail before any work when the data or the budget cannot support a search at all."""
    import torch

    from core.runtime import torch_threads

    if len(calib) < SCORE_IMAGES + 32:
        raise StudioError(f"a target search needs at least {SCORE_IMAGES + 32} calibration images (--calib); "
                          f"{calib.root} has {len(calib)}")  # fmt: skip
    if not evaluation.labeled:
        raise StudioError(f"{evaluation.root} has no labels: a target is verified on labelled images (--eval)")
    assert model.module is not None
    size = model.card.input_size
    batch = torch.zeros(16, 3, size, size)
    with torch_threads(threads), torch.inference_mode():
        model.module.eval()(batch)  # warm-up
        started = time.perf_counter()
        model.module(batch)
        per_image = (time.perf_counter() - started) / len(batch)
    # The parent and at least one candidate evaluated, quantized and timed; scanning the input sizes.
    needed = per_image * (3 * len(evaluation) + 8 * QUANTIZE_IMAGES + len(RESOLUTIONS) * len(CROPS) * SCORE_IMAGES) + 30
    if 60 * step.budget_minutes < needed:
        raise StudioError(
            f"a budget of {step.budget_minutes:g} min cannot search {model.card.title}: scanning and verifying one "
            f"candidate on {len(evaluation)} evaluation images takes about {needed / 60:.1f} min here; give more "
            "minutes or fewer evaluation images"
        )


def _latency_ratio(candidate: LoadedModel, parent: LoadedModel, step: TargetStep, threads: int,
                   progress: Progress, pairs: int = LATENCY_PAIRS) -> float:  # fmt: skip
    return paired_latency(candidate, parent, runtime=step.runtime, threads=threads, pairs=pairs, warmup=3,
                          seed=step.seed, progress=progress).ratio  # fmt: skip


def _scan(parent: LoadedModel, step: TargetStep, proxy: Proxy, fit: ImageDataset, threads: int, deadline: Deadline,
          progress: Progress, listen: CandidateListener) -> Scan:  # fmt: skip
    assert parent.module is not None
    size, crop = parent.card.input_size, parent.card.crop_fraction
    scanned: list[Scored] = []

    def record(candidate: Candidate, made: LoadedModel, ratio: float | None = None, heard: bool = True) -> Scored:
        score = proxy.score(made, progress)
        assert made.module is not None
        complexity = analyze_complexity(made.module, made.card.input_size)
        entry = Scored(candidate, score.kl, score.agreement, complexity.macs, complexity.params, ratio)
        scanned.append(entry)
        if heard:
            listen({"stage": "scan", **entry.to_dict()})
        return entry

    # The parent itself, and under the other crop: how much it disagrees with itself for nothing.
    own = Candidate(size, crop, residual_streams=step.residual_streams)
    parent_entry = record(own, parent, 1.0)
    other = Candidate(size, next(c for c in CROPS if c != crop) if crop in CROPS else CROPS[0])
    instability = 100 - record(other, other.build(parent, fit), heard=False).agreement
    # Input sizes: cheap (no fitting), each crop probed, the better crop kept per size.
    sizes = [r for r in RESOLUTIONS if r < size]
    by_size: dict[int, Scored] = {size: parent_entry}
    resolution_progress = progress.span(0.0, 0.3)
    sizes_until = Deadline(0.35 * deadline.left())
    for number, resolution in enumerate(sizes):
        if sizes_until.left() <= 0:
            break
        for crop_fraction in CROPS:
            candidate = Candidate(resolution, crop_fraction, residual_streams=step.residual_streams)
            entry = record(candidate, candidate.build(parent, fit), heard=False)
            if resolution not in by_size or entry.kl < by_size[resolution].kl:
                by_size[resolution] = entry
        best = by_size[resolution]
        best.latency_ratio = _latency_ratio(best.candidate.build(parent, fit), parent, step, threads,
                                            resolution_progress.span(number / len(sizes), (number + 1) / len(sizes)))
        listen({"stage": "scan", **best.to_dict()})
    # Blocks, one at a time at the parent's size: measured recoverability (KL after the adaptor) per time saved.
    singles: dict[int, Scored] = {}
    droppable = [v.index for v in block_views(parent.module) if v.droppable]
    block_progress = progress.span(0.3, 0.65)
    blocks_until = Deadline(0.55 * deadline.left())  # the rest of the scan is kept for combinations
    for number, block in enumerate(droppable):
        if blocks_until.left() <= 0:
            break
        try:
            plan_gaps(parent.module, (block,))
        except StudioError:
            continue  # both neighbours residual: only droppable together with a neighbour
        share = block_progress.span(number / len(droppable), (number + 1) / len(droppable))
        candidate = Candidate(size, crop, (block,), residual_streams=step.residual_streams)
        made = candidate.build(parent, fit, share.span(0, 0.5), fit_images=SCAN_FIT_IMAGES)
        singles[block] = record(candidate, made, _latency_ratio(made, parent, step, threads, share.span(0.5, 1.0)))
    probes: dict[float, Scored] = {}
    for ratio in PRUNE_PROBES:
        candidate = Candidate(size, crop, prune=ratio, residual_streams=step.residual_streams)
        made = candidate.build(parent, fit, progress.span(0.65, 0.7), fit_images=SCAN_FIT_IMAGES)
        probes[ratio] = record(candidate, made, _latency_ratio(made, parent, step, threads, progress.span(0.7, 0.72)))
    shortlist = _combinations(parent, step, by_size, singles, probes, instability)
    for number, candidate in enumerate(shortlist):
        if deadline.left() <= 0:
            break
        share = progress.span(0.72 + 0.28 * number / len(shortlist), 0.72 + 0.28 * (number + 1) / len(shortlist))
        made = candidate.build(parent, fit, share.span(0, 0.5), fit_images=SCAN_FIT_IMAGES)
        record(candidate, made, _latency_ratio(made, parent, step, threads, share.span(0.5, 1.0)))
    return Scan(scanned, parent_entry, instability)


@dataclass
class Scan:
    entries: list[Scored]
    parent: Scored
    instability: float  # % of the score images on which the parent disagrees with itself under the other crop


def _combinations(parent: LoadedModel, step: TargetStep, by_size: dict[int, Scored], singles: dict[int, Scored],
                  probes: dict[float, Scored], instability: float) -> list[Candidate]:  # fmt: skip
    """The most promising mixes of size, blocks and pruning, from their parts' measured costs.

    Disagreements above the parent's own instability add up roughly and latency ratios multiply; the estimate
    only picks what to build and measure.
    """
    assert parent.module is not None
    limit = DISAGREEMENT_PER_POINT_AGGRESSIVE * step.max_drop
    ranked = sorted(singles.values(), key=lambda s: s.kl / max(1e-3, 1 - (s.latency_ratio or 1.0)))
    estimates: list[tuple[float, float, Candidate]] = []
    for resolution, sized in by_size.items():
        blocks: tuple[int, ...] = ()
        for extra in [None, *ranked]:
            if extra is not None:
                trial = tuple(sorted((*blocks, *extra.candidate.blocks)))
                try:
                    plan_gaps(parent.module, trial)
                except StudioError:
                    continue
                blocks = trial
            for ratio in (0.0, *probes):
                parts = [sized, *(singles[b] for b in blocks), *([probes[ratio]] if ratio else [])]
                disagreement = sum(max(0.0, 100 - p.agreement - instability) for p in parts)
                if disagreement > limit:
                    continue
                latency = 1.0
                for part in parts:
                    latency *= part.latency_ratio or 1.0
                candidate = Candidate(resolution, sized.candidate.crop, blocks, ratio, step.residual_streams)
                # MACs fall with the pixels and with each part; parameters (size) only with blocks and pruning.
                kept_params = 1.0
                for part in parts[1:]:
                    kept_params *= part.params / max(1, sized.params)
                cost = {"latency": latency, "macs": latency, "size": kept_params}[step.objective]
                estimates.append((cost, disagreement, candidate))
    estimates.sort(key=lambda e: (e[0], e[1]))
    seen: list[Candidate] = []
    for _, _, candidate in estimates:
        if candidate not in seen and (candidate.blocks or candidate.prune):
            seen.append(candidate)
        if len(seen) == SHORTLIST:
            break
    return seen


def _choose(step: TargetStep, scan: Scan) -> list[Candidate | None]:
    """What to recover: by the objective, the most aggressive candidate the proxies allow, then safer ones;
    `None` stands for the parent quantized alone."""
    measured = [s for s in scan.entries if s.latency_ratio is not None or step.objective != "latency"]

    def cost(entry: Scored) -> float:
        return {"latency": entry.latency_ratio or 1.0, "macs": float(entry.macs), "size": float(entry.params)}[
            step.objective]  # fmt: skip

    cheaper = [s for s in measured if cost(s) < cost(scan.parent)]
    picks: list[Candidate | None] = []
    for per_point in (DISAGREEMENT_PER_POINT_AGGRESSIVE, DISAGREEMENT_PER_POINT_SAFE):
        limit = scan.instability + per_point * step.max_drop
        allowed = [s for s in cheaper if 100 - s.agreement <= limit and s.candidate not in picks]
        if allowed:
            picks.append(min(allowed, key=cost).candidate)
        if len(picks) == step.candidates:
            break
    if not picks and cheaper:  # nothing looks safe: the gentlest saving is still worth verifying
        picks.append(max(cheaper, key=lambda s: s.agreement).candidate)
    if step.allows_int8:
        picks.append(None)
    return picks


def _verification_seconds(step: TargetStep, reference: AccuracyResult, per_image: float) -> float:
    """About how long storing, quantizing, evaluating and timing one candidate takes (the parent's figures, which
    a candidate only betters): what its distillation must leave of its share of the budget."""
    quantizing = 8 * QUANTIZE_IMAGES * per_image if step.allows_int8 else 0.0
    return len(step.allowed) * (1.2 * reference.seconds + 15) + quantizing + 10


def _recipe(candidate: Candidate | None, parent: LoadedModel, step: TargetStep, train: ImageDataset | None,
            seconds: float) -> Recipe | None:  # fmt: skip
    """The concrete recipe for a candidate, its distillation given `seconds` (what verifying leaves)."""
    quantize = QuantizeStep(calibration_images=QUANTIZE_IMAGES) if step.allows_int8 else None
    if candidate is None:
        return Recipe("int8", (quantize,), "the original quantized alone") if quantize else None
    steps = list(candidate.steps(parent, FIT_IMAGES))
    minutes = seconds / 60
    if train is not None and minutes >= 0.25:
        steps.append(recovery_step(minutes))
    if quantize is not None:
        steps.append(quantize)
    if not steps:
        return None
    return Recipe(candidate.label(), tuple(steps), f"found by a target search: {step.describe()}")


CACHE_SHARE = 0.3  # of a candidate's distillation time, at most, for running the teacher over the views
VIEWS_PER_IMAGE = 2


def _within(train: ImageDataset | None, seconds: float, teacher_seconds_per_image: float,
            seed: int) -> ImageDataset | None:  # fmt: skip
    """The training images whose cached views the teacher can produce in its share of `seconds` (a seeded
    subset when there are more: a short budget trains on fewer images, not on none)."""
    if train is None:
        return None
    # Decoding and augmenting cost about as much again as the teacher's pass.
    affordable = int(CACHE_SHARE * seconds / (2 * teacher_seconds_per_image * VIEWS_PER_IMAGE))
    return train.subset(max(64, affordable), seed=seed) if affordable < len(train) else train


def recovery_step(minutes: float) -> FinetuneStep:
    """The search's distillation, the best measured per CPU minute (`python -m bench.recovery`, V2 without blocks
    5 and 16, 5 min each, top-1 on all 1,300 images from 63.77 %): teacher outputs cached over two views per
    image, pre-pool features matched beside the logits, views drawn evenly over the teacher's classes (72.08 %;
    the same unbalanced 71.31 %, with the teacher live 71.77 %), BatchNorm statistics kept (training them cost
    V2 at 160 px 2.5 pt), AdamW at 1e-4 (3e-4: 68.62 %)."""
    return FinetuneStep(
        epochs=1000, learning_rate=1e-4, batch_size=32, labels=False, distill=True, max_minutes=round(minutes, 2),
        bn_recalibration_images=0, held_out_images=64, feature_weight=1.0, teacher_cache=True, balance_classes=True,
        views_per_image=VIEWS_PER_IMAGE, freeze_batchnorm=True,
    )  # fmt: skip


def _verify(model: LoadedModel, variant: Variant, label: str, step: TargetStep,
            parent: LoadedModel, reference: AccuracyResult, evaluation: ImageDataset, project: Project,
            threads: int, progress: Progress) -> CandidateRow:  # fmt: skip
    """Paired Δtop-1 on the evaluation images and a paired latency ratio in the runtime, stored on the variant."""
    accuracy = evaluate(model, evaluation, threads=threads, progress=progress.span(0.0, 0.7))
    paired = paired_accuracy(accuracy.hits, reference.hits, accuracy.predicted, reference.predicted)
    latency = paired_latency(model, parent, runtime=step.runtime, threads=threads, pairs=30, seed=step.seed,
                             progress=progress.span(0.7, 1.0))  # fmt: skip
    precision = str(model.card.precision)
    met = accuracy.finite and paired.delta_top1 >= -step.max_drop
    reason = (f"Δtop-1 {paired.text()} within −{step.max_drop:g} pt" if met else
              "non-finite outputs" if not accuracy.finite else
              f"Δtop-1 {paired.text()} below −{step.max_drop:g} pt")  # fmt: skip
    row = CandidateRow(
        label=label, precision=precision, recipe=variant.recipe,
        verdict="met" if met else "rejected", reason=reason, top1=round(accuracy.top1, 3),
        delta_top1=round(paired.delta_top1, 3), delta_top1_ci95=paired.delta_top1_ci95, agreement=paired.agreement,
        n=paired.n, latency_ratio=round(latency.ratio, 4), latency_ratio_ci95=latency.ratio_ci95,
        runtime=step.runtime, size_bytes=variant.metrics.get("size_bytes"), macs=variant.metrics.get("macs"),
        variant=variant.id if met else None,
    )  # fmt: skip
    if met:
        project.update_metrics(variant.id, {
            "accuracy": accuracy.to_dict(), "paired_accuracy": paired.to_dict(),
            "paired_latency": latency.to_dict(), "search": _search_metrics(row, step),
        })  # fmt: skip
    return row


def _search_metrics(row: CandidateRow, step: TargetStep) -> dict[str, Any]:
    return {"verdict": row.verdict, "reason": row.reason, "target": step.describe(), "max_drop": step.max_drop,
            "objective": step.objective, "runtime": step.runtime}  # fmt: skip


def _objective(row: CandidateRow, step: TargetStep) -> float:
    if step.objective == "latency":
        return row.latency_ratio or float("inf")
    if step.objective == "size":
        return float(row.size_bytes or float("inf"))
    return float(row.macs or float("inf"))


def _discard(project: Project, variant: Variant) -> None:
    """A rejected candidate leaves the project; it stays a row of the search's result."""
    project.delete(variant.id)
