"""The concrete-recipe executor: a recipe's steps (resolution, block removal, pruning, fine-tuning, quantization)
run on a model in memory, as one cancellable job. Nothing is stored: `compress()` stores what it returns, and
the target search runs its candidates through it and stores only what it chooses."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from core.compress.drop_blocks import remove_blocks
from core.compress.finetune import finetune
from core.compress.pruning import prune
from core.compress.quantize import quantize
from core.compress.resolution import at_resolution
from core.data.datasets import ImageDataset
from core.jobs import Progress, silent
from core.metrics.records import StepTime
from core.model import LoadedModel
from core.recipe import DropBlocksStep, FinetuneStep, PruneStep, QuantizeStep, Recipe, ResolutionStep, Step


@dataclass
class Applied:
    model: LoadedModel  # what the recipe made
    float_module: Any  # the graph its MACs and parameters are counted on (no counter handles int8 modules)
    float_model: LoadedModel | None = None  # the float graph an int8 result was quantized from, after earlier steps
    float_timings: list[StepTime] = field(default_factory=list)  # the steps that made the float graph
    timings: list[StepTime] = field(default_factory=list)  # each step: its type, seconds, fine-tune report
    notes: list[str] = field(default_factory=list)  # what fine-tunes between pruning rounds had to say
    reports: dict[int, dict[str, Any]] = field(default_factory=dict)  # a fine-tune's own report, by step


def apply_recipe(
    model: LoadedModel,
    recipe: Recipe,
    *,
    calib: ImageDataset | None = None,
    train: ImageDataset | None = None,
    checkpoints: Callable[[int], Path] | None = None,
    progress: Progress | None = None,
) -> Applied:
    """Run `recipe`'s steps on `model`; `checkpoints(step index)` is where a training step may resume from."""
    progress = progress or silent()
    current = model
    applied = Applied(model, model.module)
    steps: list[Step] = list(recipe.steps)
    span = 1.0 / len(steps)
    for index, step in enumerate(steps):
        step_progress = progress.span(index * span, (index + 1) * span)
        step_started = time.perf_counter()
        checkpoint_dir = checkpoints(index) if checkpoints is not None else None
        if isinstance(step, ResolutionStep):
            current = at_resolution(current, step, calib=calib, progress=step_progress)
        elif isinstance(step, DropBlocksStep):
            current = remove_blocks(current, step, calib=calib, progress=step_progress)
        elif isinstance(step, PruneStep):
            following = steps[index + 1] if index + 1 < len(steps) else None
            current = _pruned(current, step, following, model, calib, train, applied, step_progress)
        elif isinstance(step, FinetuneStep):
            assert train is not None
            tuned = finetune(current, step, train=train, teacher=model, checkpoint_dir=checkpoint_dir,
                             progress=step_progress)
            current, applied.reports[index] = tuned.model, tuned.report.to_dict()
        else:
            assert isinstance(step, QuantizeStep)
            if index:
                applied.float_model, applied.float_timings = current, list(applied.timings)
            applied.float_module = current.module
            current = quantize(current, step, calib=calib, train=train, checkpoint_dir=checkpoint_dir,
                               progress=step_progress)
        applied.timings.append(StepTime(step.TYPE, round(time.perf_counter() - step_started, 2),
                                        applied.reports.get(index, {})))
    if current.card.quantization is None:
        applied.float_module = current.module
    applied.model = current
    # No step changes the classes or how pixels are normalized: what the steps rebuilt keeps the model's own.
    for made in (applied.model, applied.float_model):
        if made is not None and made is not model:
            made.card = replace(made.card, class_names=model.card.class_names, mean=model.card.mean,
                                std=model.card.std)
    return applied


def _pruned(current: LoadedModel, step: PruneStep, following: Step | None, teacher: LoadedModel,
            calib: ImageDataset | None, train: ImageDataset | None, applied: Applied,
            progress: Progress) -> LoadedModel:
    """Prune in the step's rounds, fine-tuning between them when a fine-tune step follows."""
    rounds = _iterative_prune(step)
    for round_index, single in enumerate(rounds):
        round_progress = progress.span(round_index / len(rounds), (round_index + 1) / len(rounds))
        current = prune(current, single, calib=calib, progress=round_progress.span(0, 0.3))
        if isinstance(following, FinetuneStep) and round_index < len(rounds) - 1:
            assert train is not None
            between = replace(following, epochs=following.epochs / len(rounds))
            tuned = finetune(current, between, train=train, teacher=teacher, progress=round_progress.span(0.3, 1.0))
            current = tuned.model
            applied.notes.extend([tuned.report.note] if tuned.report.note else [])
    return current


def _iterative_prune(step: PruneStep) -> list[PruneStep]:
    """N steps that together remove `ratio`: each keeps (1 − ratio)^(1/N) of what is left."""
    if step.iterations == 1:
        return [step]

    def per_step(ratio: float) -> float:
        return 1 - (1 - ratio) ** (1 / step.iterations)

    single = replace(
        step, ratio=per_step(step.ratio), iterations=1,
        layer_ratios={k: per_step(v) for k, v in step.layer_ratios.items()},
    )
    return [single] * step.iterations

