"""Verifying a search candidate: its paired Δtop-1 against the parent on the evaluation images, its latency timed
in turn with the parent in the search's runtime, and the verdict those figures support (and no more)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from core.compress.apply import Applied
from core.compress.store import measure
from core.data.datasets import ImageDataset
from core.jobs import Progress
from core.metrics.accuracy import AccuracyResult, evaluate
from core.metrics.accuracy_text import TargetCheck
from core.metrics.paired import paired_accuracy
from core.metrics.paired_latency import PairedLatency, paired_latency
from core.metrics.stored import StoredAccuracy, VariantMetrics
from core.model import LoadedModel
from core.recipe import Objective, Recipe, TargetStep
from core.recipe_target import Verdict


@dataclass
class CandidateRow:
    """One verified candidate, as the result table and `compress --json` show it."""

    label: str
    precision: str
    recipe: dict[str, Any]
    verdict: Verdict
    reason: str
    confirmed: bool = False  # the whole 95 % interval of Δtop-1 lies within the target
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
    seconds: float | None = None  # since the search started, when this candidate was verified
    variant: str | None = None  # stored variant id (chosen or missed)

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["verdict"] = str(self.verdict)
        data["met_target"] = self.verdict.met_target
        return data


@dataclass
class Verified:
    """A candidate made in memory and measured: what the search stores if it is chosen."""

    row: CandidateRow
    recipe: Recipe
    applied: Applied
    metrics: VariantMetrics
    float_metrics: VariantMetrics | None = None
    cost: float = float("inf")  # by the objective: lower is better
    meets: bool = False
    shortfall: str | None = None  # why it does not improve on the parent by the objective


def verify(applied: Applied, recipe: Recipe, label: str, step: TargetStep, parent: LoadedModel, parent_id: str,
           parent_metrics: VariantMetrics, reference: AccuracyResult, evaluation: ImageDataset, threads: int,
           progress: Progress) -> Verified:
    """Measure a made candidate against the parent and judge it: met when its Δtop-1 estimate is within the
    target and it improves on the parent by the objective; confirmed when the whole interval is within."""
    model = applied.model
    accuracy = evaluate(model, evaluation, threads=threads, progress=progress.span(0.0, 0.6))
    paired = paired_accuracy(accuracy.hits, reference.hits, accuracy.predicted, reference.predicted)
    latency = paired_latency(model, parent, runtime=step.runtime.proxy, threads=threads, pairs=30, seed=step.seed,
                             progress=progress.span(0.6, 0.9))
    metrics = replace(measure(model, applied.float_module, None, threads, progress.span(0.9, 0.97)),
                      accuracy=StoredAccuracy.of(accuracy), paired_accuracy=replace(paired, against=parent_id),
                      paired_latency={step.runtime.proxy: replace(latency, against=parent_id)},
                      steps=tuple(applied.timings))
    float_metrics = None
    if applied.float_model is not None:
        float_metrics = replace(measure(applied.float_model, applied.float_model.module, None, threads,
                                        progress.span(0.97, 1.0)), steps=tuple(applied.float_timings))
    check = TargetCheck(paired.delta_top1, paired.delta_top1_ci95, paired.n, step.max_drop)
    shortfall = objective_shortfall(step, latency, metrics, parent_metrics)
    meets = accuracy.finite and check.met and shortfall is None
    reason = ("non-finite outputs" if not accuracy.finite else
              f"Δtop-1 {check.words()}" + (f"; but {shortfall}" if shortfall else ""))
    row = CandidateRow(
        label=label, precision=str(model.card.precision), recipe=recipe.to_dict(),
        verdict=Verdict.MET if meets else Verdict.REJECTED, reason=reason, confirmed=meets and check.confirmed,
        top1=round(accuracy.top1, 3), delta_top1=round(paired.delta_top1, 3), delta_top1_ci95=paired.delta_top1_ci95,
        agreement=paired.agreement, n=paired.n, latency_ratio=round(latency.ratio, 4),
        latency_ratio_ci95=latency.ratio_ci95, runtime=str(step.runtime.proxy), size_bytes=metrics.size_bytes,
        macs=metrics.macs,
    )
    return Verified(row, recipe, applied, metrics, float_metrics, objective_cost(row, step), meets, shortfall)


def objective_shortfall(step: TargetStep, latency: PairedLatency, metrics: VariantMetrics,
                        parent_metrics: VariantMetrics) -> str | None:
    """Why a candidate does not improve on the parent by the objective (None when it does): it is then rejected
    whatever its accuracy. V3-Small's int8 alone met a 1 pt target and ran 1.9× slower in ONNX Runtime."""
    if step.objective is Objective.LATENCY:
        if latency.ratio_ci95[1] < 1.0:
            return None
        return f"it is not measurably faster than the original on this computer ({latency.text()})"
    mine, theirs = step.objective.measured(metrics), step.objective.measured(parent_metrics)
    if mine is not None and theirs is not None and mine < theirs:
        return None
    return f"it is no smaller than the original in {step.objective} ({mine} against {theirs})"


def objective_cost(row: CandidateRow, step: TargetStep) -> float:
    """The candidate by the objective, lower is better: latency ratio, file bytes or MACs."""
    value = {Objective.LATENCY: row.latency_ratio, Objective.SIZE: row.size_bytes, Objective.MACS: row.macs}[
        step.objective]
    return float("inf") if value is None else float(value)
