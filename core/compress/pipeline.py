"""Run a recipe (core.compress.apply) as one cancellable job and store it as a project variant; a target step goes
to the search (core.compress.search).

The variant keeps its lineage (parent), the recipe, the time each step took and
measured metrics: MACs and parameters (counted on the float graph: no counter
handles int8 modules), file size, torch latency, and accuracy on the evaluation
images next to the parent's accuracy on the same images.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from core.compress.apply import apply_recipe
from core.compress.search.scan import CandidateListener
from core.compress.store import measure, store_made, timed_against
from core.data.datasets import ImageDataset
from core.data.roles import DataRole
from core.errors import StudioError
from core.jobs import Progress, silent
from core.metrics.accuracy import evaluate
from core.metrics.finite import nonfinite_warning
from core.metrics.latency import benchmark
from core.metrics.stored import StoredAccuracy, VariantMetrics
from core.model import LoadedModel
from core.project import Project, Variant, model_fingerprint
from core.recipe import Recipe, TargetStep

if TYPE_CHECKING:
    from core.compress.search import SearchResult


@dataclass
class CompressionResult:
    variant: Variant
    parent: Variant  # the model the run started from
    model: LoadedModel
    seconds: float  # the whole run
    float_graph: Variant | None = None  # the stored float model an int8 variant was quantized from
    float_model: LoadedModel | None = None
    missed: str | None = None  # a target search that met nothing stored its closest candidate: why, in one sentence
    search: SearchResult | None = None  # a target's search: every candidate verified, its notes, its first answer

    @property
    def metrics(self) -> VariantMetrics:
        """The stored variant's."""
        return self.variant.metrics


def store_original(model: LoadedModel, project: Project, evaluation: ImageDataset | None, threads: int,
                   progress: Progress, *, parent_variant: str | None = None) -> Variant:
    """`model` stored in `project` as the start of a lineage, measured (accuracy where `evaluation` is given).

    A model already stored (`parent_variant`, or found by its weights: a re-run of an interrupted command) is
    reused, so a run's checkpoints, keyed by it, are found again; it is only measured for what it lacks.
    """
    stored = project.find_by_fingerprint(model_fingerprint(model)) if parent_variant is None else None
    if parent_variant is None and stored is None:
        metrics = measure(model, model.module, evaluation, threads, progress)
        return project.add_variant(model, model.card.title, metrics=metrics, reuse_same_weights=True)
    original = project.variant(parent_variant or stored.id)  # type: ignore[union-attr]
    if evaluation is not None and original.metrics.accuracy is None:
        measured = measure(model, model.module, evaluation, threads, progress)
        original = project.update_metrics(original.id, **measured.measured_figures())
    return original


def compress(
    model: LoadedModel,
    recipe: Recipe,
    project: Project,
    *,
    parent_variant: str | None = None,
    calib: ImageDataset | None = None,
    train: ImageDataset | None = None,
    evaluation: ImageDataset | None = None,
    name: str | None = None,
    threads: int = 1,
    progress: Progress | None = None,
    on_candidate: CandidateListener | None = None,
) -> CompressionResult:
    """Run `recipe` on `model` and store the result as a variant of `project` (with the model as its parent).

    A recipe whose step is a target runs the search instead (`on_candidate` hears of each candidate as it is
    measured); the chosen variant is the result, or, when no candidate met the target, the closest one, stored
    marked missed (`missed` says by how much and why).
    """
    progress = progress or silent()
    given = {DataRole.CALIB: calib, DataRole.TRAIN: train, DataRole.EVALUATION: evaluation}
    available = {role for role, data in given.items() if data is not None}
    recipe.check_data(available)  # before any work
    model.editable_module("compressed")
    target = recipe.step(TargetStep)
    evaluation_of_parent = evaluation
    if target is not None:
        from core.compress.search import check_feasible

        assert calib is not None and evaluation is not None
        check_feasible(calib, evaluation)  # before anything is stored
        evaluation_of_parent = None  # measured by the search itself, paired with its candidates
    started = time.perf_counter()
    parent = store_original(model, project, evaluation_of_parent, threads, progress.span(0.0, 0.1),
                            parent_variant=parent_variant)
    if target is not None:
        assert calib is not None and evaluation is not None
        return _searched(model, target, project, parent, calib, train, evaluation, threads, progress.span(0.1, 1.0),
                         on_candidate)
    base_name = name or f"{model.card.title} · {recipe.name}"
    applied = apply_recipe(model, recipe, calib=calib, train=train, progress=progress.span(0.1, 0.85),
                           checkpoints=lambda index: project.checkpoints_dir(parent, _run_key(recipe, index)))
    current = applied.model
    float_metrics = None
    if applied.float_model is not None:
        float_metrics = replace(
            measure(applied.float_model, applied.float_model.module, evaluation, threads, progress.span(0.85, 0.89)),
            paired_latency=timed_against(applied.float_model, model, parent.id, threads, progress.span(0.89, 0.9)),
            steps=tuple(applied.float_timings))
    warnings = applied.notes + [note for note in (r.get("note") for r in applied.reports.values()) if note]
    if (broken := nonfinite_warning(current.module)) is not None:
        warnings.append(broken)
    metrics = replace(
        measure(current, applied.float_module, evaluation, threads, progress.span(0.9, 0.97)),
        paired_latency=timed_against(current, model, parent.id, threads, progress.span(0.97, 1.0)),
        steps=tuple(applied.timings), warnings=tuple(warnings), seconds=round(time.perf_counter() - started, 2))
    variant, float_graph = store_made(project, parent, applied, recipe, base_name, metrics, float_metrics)
    project.remove_checkpoints()  # this run's are finished; others' parents may be gone
    progress(1.0, f"stored {variant.name}")
    return CompressionResult(variant, project.variant(parent.id), current, metrics.seconds or 0.0, float_graph,
                             applied.float_model)


def _searched(
    model: LoadedModel, target: TargetStep, project: Project, parent: Variant, calib: ImageDataset,
    train: ImageDataset | None, evaluation: ImageDataset, threads: int, progress: Progress,
    on_candidate: CandidateListener | None,
) -> CompressionResult:
    from core.compress.search import search

    found = search(model, target, project, parent, calib=calib, train=train, evaluation=evaluation, threads=threads,
                   progress=progress, on_candidate=on_candidate)
    return CompressionResult(found.chosen, found.parent, found.chosen_model, round(found.seconds, 2),
                             found.float_graph, found.float_model, missed=found.missed_text(target), search=found)


def replay_recipe(project: Project, variant_id: str) -> Recipe:
    """The one recipe that makes the variant from its project's root model: its lineage's steps, in order."""
    chain = [v for v in project.lineage(variant_id) if v.recipe]
    if not chain:
        raise StudioError(f"variant {variant_id!r} was not made by a recipe (it is an original model)")
    unreadable = [v.name for v in chain if v.made_by is None]
    if unreadable:
        raise StudioError(f"the recipe of {', '.join(unreadable)} cannot be read by this studio version")
    recipes = [v.made_by for v in chain if v.made_by is not None]
    steps = tuple(step for r in recipes for step in r.steps)
    return Recipe(recipes[-1].name, steps, recipes[-1].description)


def _run_key(recipe: Recipe, step_index: int) -> str:
    return hashlib.sha256(f"{recipe.to_json()}:{step_index}".encode()).hexdigest()[:12]


def remeasure(
    project: Project,
    variant_id: str,
    *,
    evaluation: ImageDataset | None = None,
    latency_runs: int = 0,
    memory: bool = False,
    resolutions: tuple[int, ...] = (),
    threads: int = 1,
    progress: Progress | None = None,
) -> Variant:
    """Measure a stored variant again and store the numbers: accuracy on `evaluation`, torch latency
    (`latency_runs` > 0), peak memory in a fresh process, and latency at other input `resolutions`."""
    from core.metrics.memory import measure_peak_memory

    progress = progress or silent()
    progress(0.0, "loading the variant")
    model = project.load(variant_id)
    variant = project.variant(variant_id)
    changes: dict[str, Any] = {}
    if latency_runs:
        changes["latency"] = benchmark(model, threads=threads, runs=latency_runs, warmup=5,
                                       progress=progress.span(0.0, 0.3))
    if resolutions:
        share = 0.3 / len(resolutions)
        changes["latency_by_resolution"] = {
            size: benchmark(model, threads=threads, runs=max(latency_runs, 10), warmup=3, input_size=size,
                            progress=progress.span(0.3 + i * share, 0.3 + (i + 1) * share))
            for i, size in enumerate(resolutions)
        }
    if memory:
        progress(0.6, "measuring peak memory in a fresh process")
        stored_as = f"{project.root}:{variant.id}"
        changes["memory"] = measure_peak_memory(model, threads=threads, stored_as=stored_as)
    if evaluation is not None:
        changes["accuracy"] = StoredAccuracy.of(evaluate(model, evaluation, threads=threads,
                                                         progress=progress.span(0.65, 1.0)))
    progress(1.0, f"measured {variant.name}")
    return project.update_metrics(variant.id, **changes)
