"""What a made model is stored with: its measured numbers, and the variants it becomes in a project (its float
graph first where an int8 result was quantized from one)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from core.compress.apply import Applied
from core.data.datasets import ImageDataset
from core.jobs import Progress
from core.metrics.accuracy import evaluate
from core.metrics.complexity import analyze_complexity
from core.metrics.latency import benchmark
from core.metrics.paired_latency import PairedLatency, paired_latency
from core.metrics.size import state_dict_bytes
from core.metrics.stored import StoredAccuracy, VariantMetrics
from core.model import LoadedModel
from core.project import Project, Variant
from core.recipe import Recipe
from core.runtimes import Runtime


def measure(model: LoadedModel, float_module: Any, evaluation: ImageDataset | None, threads: int,
            progress: Progress) -> VariantMetrics:
    """The numbers the studio shows for a variant; accuracy only where evaluation images are given."""
    complexity = analyze_complexity(float_module, model.card.input_size)
    assert model.module is not None
    latency = benchmark(model, threads=threads, runs=30, warmup=5, progress=progress.span(0.0, 0.3))
    accuracy = None
    if evaluation is not None:
        accuracy = StoredAccuracy.of(evaluate(model, evaluation, threads=threads, progress=progress.span(0.3, 1.0)))
    return VariantMetrics(macs=complexity.macs, params=complexity.params, size_bytes=state_dict_bytes(model.module),
                          channels={layer.name: layer.out_channels for layer in complexity.layers}, latency=latency,
                          accuracy=accuracy)


def timed_against(model: LoadedModel, parent: LoadedModel, parent_id: str, threads: int, progress: Progress
                  ) -> dict[Runtime, PairedLatency]:
    """A new variant timed in turn with the model it was made from, in torch: its paired latency ratio."""
    timing = paired_latency(model, parent, runtime="torch", threads=threads, pairs=20, warmup=3, progress=progress)
    return {Runtime.TORCH: replace(timing, against=parent_id)}


def store_made(project: Project, parent: Variant, applied: Applied, recipe: Recipe, name: str,
               metrics: VariantMetrics, float_metrics: VariantMetrics | None) -> tuple[Variant, Variant | None]:
    """Store what `recipe` made from `parent`: the float graph an int8 result approximates is a variant of its own
    (the int8 variant's parent, which exporters that re-quantize in their own tool chain start from; its recipe is
    the steps before quantizing), then the result. Returns (variant, float graph)."""
    float_graph = None
    if applied.float_model is not None:
        assert float_metrics is not None
        made_by = Recipe(recipe.name, recipe.steps[: len(applied.float_timings)], recipe.description)
        float_graph = project.add_variant(applied.float_model, f"{name} · float", parent=parent.id,
                                          recipe=made_by.to_dict(), metrics=float_metrics,
                                          reuse_same_weights=True)
    own_recipe = Recipe(recipe.name, (recipe.steps[-1],), recipe.description) if float_graph is not None else recipe
    variant = project.add_variant(applied.model, f"{name} · {applied.model.card.precision}" if float_graph else name,
                                  parent=float_graph.id if float_graph else parent.id, recipe=own_recipe.to_dict(),
                                  metrics=metrics)
    return variant, float_graph
