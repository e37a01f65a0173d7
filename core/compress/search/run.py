"""The target search: "lose at most X points, as fast (small) as possible" → verified variants, one chosen.

1. Scan (core.compress.scan, at most 30 % of the budget): cheap proxies (KL and top-1 agreement with the
   parent, on calibration images that no fitting step reads) for input sizes and crops, for every block that
   can be removed alone (its adaptor fitted) and for light expansion pruning; the latency each saves is timed
   in the chosen runtime, paired with the parent. Combinations are estimated from the parts, and the most
   promising are built and measured for real.
2. Choose. Where int8 is allowed, the parent quantized alone (no training); a safe candidate (the closest to
   the parent among those that save at least 10 %); then the most aggressive one whose proxy predicts the target
   can be met. The likeliest go first, so that a search whose time runs out early has most likely found a
   variant that meets the target.
3. Recover and verify, each in its share of the remaining time: the candidate's concrete recipe runs through
   the pipeline (distilled from the parent as core.compress.recovery says, then int8 where allowed), so each
   stored variant replays headlessly with `compress --recipe`. Each is then measured on the labelled
   evaluation images against the parent, paired (Δtop-1 with its 95 % interval), and timed alternately with
   the parent in the runtime. A variant whose Δtop-1 is below −max_drop is rejected: removed from the
   project, kept only as a row.
4. The chosen variant is the best by the objective among those that met the target.

The search is seeded: its image subsets, views and training order follow the seed. Latency ratios are
measurements, so two runs may rank candidates that lie within the timing noise differently.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from core.compress.candidates import FIT_IMAGES, Candidate, Scored
from core.compress.proxy import Proxy
from core.compress.recovery import recovery_step, train_within
from core.compress.search.scan import (
    CROPS,
    DISAGREEMENT_PER_POINT_AGGRESSIVE,
    RESOLUTIONS,
    SCAN_SHARE,
    CandidateListener,
    Deadline,
    Scan,
    scan_candidates,
)
from core.data.datasets import ImageDataset
from core.errors import StudioError
from core.jobs import Cancelled, Progress, silent
from core.metrics.accuracy import AccuracyResult, evaluate
from core.metrics.paired import paired_accuracy
from core.metrics.paired_latency import PairedLatency, paired_latency
from core.model import LoadedModel
from core.precision import FLOAT
from core.project import Project, Variant
from core.recipe import QuantizeStep, Recipe, TargetStep

SCORE_IMAGES = 200  # calibration images held out of every fit: the proxies are computed on them
QUANTIZE_IMAGES = 256
WORTHWHILE = 0.9  # a candidate is worth recovering when it costs at most this share of the parent (objective)


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
    float_graph: Variant | None = None  # the chosen int8 variant's float parent
    float_model: LoadedModel | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


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
    project.update_metrics(parent.id, {"accuracy": reference.to_dict(with_per_image=True)})
    scan_progress = progress.span(0.06, 0.3)
    scan_deadline = Deadline(min(deadline.left(), SCAN_SHARE * 60 * step.budget_minutes))
    scan = scan_candidates(model, step, proxy, fit, threads, scan_deadline, scan_progress, listen)
    chosen = _choose(step, scan)
    rows: list[CandidateRow] = []
    kept: list[tuple[Variant, LoadedModel, CandidateRow]] = []
    recover_progress = progress.span(0.3, 0.98)
    float_graphs: dict[str, tuple[Variant, LoadedModel | None]] = {}  # int8 variant id → its float graph
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
                          train=train_within(train, seconds, teacher_seconds, step.seed),
                          evaluation=None, name=f"{model.card.title} · {label}", threads=threads,
                          progress=share.span(0.0, 0.8))  # fmt: skip
        verified = [(result.variant, result.model)]
        if result.float_graph and result.float_model and FLOAT in step.allowed:
            verified.insert(0, (result.float_graph, result.float_model))
        met: set[str] = set()
        try:
            for index, (variant, made) in enumerate(verified):
                row = _verify(made, variant, label, step, model, parent, reference, evaluation, project, threads,
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
                # The int8 variant's parent stays: exporters re-quantize it.
                float_graphs[result.variant.id] = (result.float_graph, result.float_model)
            elif result.float_graph.id not in met:
                _discard(project, result.float_graph)
    best = min(kept, key=lambda item: _objective(item[2], step)) if kept else None
    if best is not None:
        best[2].verdict = "chosen"
        project.update_metrics(best[0].id, {"search": _search_metrics(best[2], step)})
    progress(1.0, f"chose {best[0].name}" if best else "no candidate met the target")
    graph, graph_model = float_graphs.get(best[0].id, (None, None)) if best else (None, None)
    return SearchResult(parent, best[0] if best else None, best[1] if best else None, rows, scan.entries,
                        float_graph=graph, float_model=graph_model, seconds=time.monotonic() - started)  # fmt: skip


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


def _choose(step: TargetStep, scan: Scan) -> list[Candidate | None]:
    """What to recover, in order: where int8 is allowed, the parent quantized alone (`None`: no training, and the
    likeliest to meet a target); the candidate closest to the parent among those that save at least `WORTHWHILE`
    (safe); then the best by the objective that the proxies allow (aggressive: agreement is a rough guide across
    kinds of change; V2 at 192 px disagreed on more calibration images than a removed block and lost nothing), and
    so on up to `step.candidates`. Time is shared equally, so the order matters only when the budget runs out:
    the likeliest are verified first."""
    measured = [s for s in scan.entries if s.latency_ratio is not None or step.objective != "latency"]

    def cost(entry: Scored) -> float:
        return {"latency": entry.latency_ratio or 1.0, "macs": float(entry.macs), "size": float(entry.params)}[
            step.objective]  # fmt: skip

    worthwhile = [s for s in measured if cost(s) <= WORTHWHILE * cost(scan.parent)]
    limit = scan.instability + DISAGREEMENT_PER_POINT_AGGRESSIVE * step.max_drop
    aggressive = sorted((s for s in worthwhile if 100 - s.agreement <= limit), key=cost)
    safe = sorted(worthwhile, key=lambda s: -s.agreement)
    picks: list[Candidate | None] = []
    for ranked in (safe, aggressive, safe[1:], aggressive[1:]):
        fresh = [s.candidate for s in ranked if s.candidate not in picks]
        if fresh and len(picks) < step.candidates:
            picks.append(fresh[0])
    return ([None] if step.allows_int8 else []) + picks


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


def _verify(model: LoadedModel, variant: Variant, label: str, step: TargetStep,
            parent: LoadedModel, stored_parent: Variant, reference: AccuracyResult, evaluation: ImageDataset,
            project: Project,
            threads: int, progress: Progress) -> CandidateRow:  # fmt: skip
    """Paired Δtop-1 on the evaluation images and a paired latency ratio in the runtime, stored on the variant."""
    accuracy = evaluate(model, evaluation, threads=threads, progress=progress.span(0.0, 0.7))
    paired = paired_accuracy(accuracy.hits, reference.hits, accuracy.predicted, reference.predicted)
    latency = paired_latency(model, parent, runtime=step.runtime, threads=threads, pairs=30, seed=step.seed,
                             progress=progress.span(0.7, 1.0))  # fmt: skip
    precision = str(model.card.precision)
    within = accuracy.finite and paired.delta_top1 >= -step.max_drop
    shortfall = objective_shortfall(step, latency, variant, stored_parent)
    met = within and shortfall is None
    reason = (f"Δtop-1 {paired.text()} within −{step.max_drop:g} pt" if met else
              "non-finite outputs" if not accuracy.finite else
              f"Δtop-1 {paired.text()} below −{step.max_drop:g} pt" if not within else
              f"Δtop-1 {paired.text()} within −{step.max_drop:g} pt, but {shortfall}")  # fmt: skip
    row = CandidateRow(
        label=label, precision=precision, recipe=variant.recipe,
        verdict="met" if met else "rejected", reason=reason, top1=round(accuracy.top1, 3),
        delta_top1=round(paired.delta_top1, 3), delta_top1_ci95=paired.delta_top1_ci95, agreement=paired.agreement,
        n=paired.n, latency_ratio=round(latency.ratio, 4), latency_ratio_ci95=latency.ratio_ci95,
        runtime=step.runtime, size_bytes=variant.metrics.get("size_bytes"), macs=variant.metrics.get("macs"),
        variant=variant.id if met else None,
    )  # fmt: skip
    parent_id = stored_parent.id
    if met:
        project.update_metrics(variant.id, {
            "accuracy": accuracy.to_dict(with_per_image=True),
            "paired_accuracy": {**paired.to_dict(), "against": parent_id},
            "paired_latency": {step.runtime: {**latency.to_dict(), "against": parent_id}},
            "search": _search_metrics(row, step),
        })  # fmt: skip
    return row


def objective_shortfall(step: TargetStep, latency: PairedLatency, variant: Variant, parent: Variant) -> str | None:
    """Why a candidate does not improve on the parent by the objective (None when it does): it is then rejected
    whatever its accuracy. V3-Small's int8 alone met a 1 pt target and ran 1.9× slower in ONNX Runtime."""
    if step.objective == "latency":
        if latency.ratio_ci95[1] < 1.0:
            return None
        return f"it is not measurably faster than the original ({latency.text()})"
    key = {"size": "size_bytes", "macs": "macs"}[step.objective]
    mine, theirs = variant.metrics.get(key), parent.metrics.get(key)
    if mine is not None and theirs is not None and mine < theirs:
        return None
    return f"it is no smaller than the original in {step.objective} ({mine} against {theirs})"


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
