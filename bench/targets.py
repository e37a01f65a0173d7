"""One table per model for `bench.compression --sections targets`: zero-shot input sizes, the target presets
(searched end to end, wall time included) and ablation rows that add one technique at a time.

Accuracy is on every image of imagenet_val1300, as a paired difference against the parent with its 95 %
interval. Latency ratios are timed alternately with the parent in this process (torch and ONNX Runtime, 1 thread;
for the presets also LiteRT, each variant's .tflite against the parent's, as the Android bundle runs it).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.compress.pipeline import compress
from core.compress.recovery import recovery_step
from core.compress.resolution import at_resolution
from core.data.datasets import ImageDataset
from core.metrics.accuracy import AccuracyResult, evaluate
from core.metrics.complexity import analyze_complexity
from core.metrics.paired import paired_accuracy
from core.metrics.paired_latency import paired_latency
from core.metrics.size import state_dict_bytes
from core.model import LoadedModel
from core.project import Project
from core.recipe import (
    DropBlocksStep,
    PruneStep,
    QuantizeStep,
    Recipe,
    ResolutionStep,
    Step,
    TargetStep,
    load_recipe,
)
from core.remeasure import remeasure_all
from core.zoo.loading import resolve_model

MODELS = {
    "v2": ("V2", "mobilenet_v2"),
    "v3s": ("V3-Small", "mobilenet_v3_small:padding=tf_same"),
    "v1": ("V1-0.75", "mobilenet_v1:width=0.75,padding=tf_same"),
}
ZERO_SHOT_SIZES = (192, 176, 160, 128)
PARTS = ("zero-shot", "presets", "ablation")
# Ablation: the input size and the block each model's rows use (the scan's cheapest-to-recover block at 224).
ABLATION = {"v2": (160, (5,)), "v3s": (160, (6,)), "v1": (160, (9,))}


def _row(name: str, model: LoadedModel, parent: LoadedModel, reference: AccuracyResult, evaluation: ImageDataset,
         **extra: Any) -> dict[str, Any]:
    assert model.module is not None and parent.module is not None
    accuracy = evaluate(model, evaluation, threads=2)
    paired = paired_accuracy(accuracy.hits, reference.hits, accuracy.predicted, reference.predicted)
    float_module = extra.pop("float_module", model.module)
    macs = analyze_complexity(float_module, model.card.input_size).macs
    parent_macs = analyze_complexity(parent.module, parent.card.input_size).macs
    torch_ratio = paired_latency(model, parent, runtime="torch", threads=1, pairs=40)
    ort_ratio = paired_latency(model, parent, runtime="onnxruntime", threads=1, pairs=40)
    row = {
        "row": name, "top1": round(accuracy.top1, 2), "delta": paired.text(), "macs": f"{macs / parent_macs:.3f}x",
        "size": f"{state_dict_bytes(model.module) / state_dict_bytes(parent.module):.3f}x",
        "torch": _ratio(torch_ratio), "ort": _ratio(ort_ratio), **extra,
    }
    print(row, flush=True)
    return row


def _ratio(timing: Any) -> str:
    low, high = timing.ratio_ci95
    return f"{timing.ratio:.2f}x [{low:.2f}, {high:.2f}]"


def _made(parent: LoadedModel, steps: tuple[Step, ...], project: Project, calib: ImageDataset,
          train: ImageDataset) -> tuple[LoadedModel, Any]:
    result = compress(parent, Recipe("ablation", steps), project, calib=calib, train=train, threads=2)
    return result.model, result.float_model.module if result.float_model else result.model.module


def model_table(
    key: str, evaluation: ImageDataset, calib: ImageDataset, train: ImageDataset, folder: Path,
    presets: list[str], budget: float | None, ablation_minutes: float, parts: tuple[str, ...] = PARTS,
) -> list[dict[str, Any]]:
    """The model's rows: `parts` chooses among zero-shot sizes, presets and ablation (one run each)."""
    label, spec = MODELS[key]
    parent = resolve_model(spec, "pretrained")
    reference = evaluate(parent, evaluation, threads=2)
    print(f"== {label}: parent top-1 {reference.top1:.2f} on {reference.n} images", flush=True)
    rows = []
    for size in ZERO_SHOT_SIZES if "zero-shot" in parts else ():
        resized = at_resolution(parent, ResolutionStep(input_size=size))
        rows.append(_row(f"zero-shot {size} px", resized, parent, reference, evaluation))
    for preset in presets if "presets" in parts else []:
        recipe = load_recipe(preset)
        target = recipe.steps[0]
        assert isinstance(target, TargetStep)
        if budget is not None:  # else the preset's own budget
            recipe = replace(recipe, steps=(replace(target, budget_minutes=budget),))
        project = Project.open_or_create(folder / f"{key}-{preset}")
        started = time.perf_counter()
        result = compress(parent, recipe, project, calib=calib, train=train, evaluation=evaluation, threads=2)
        wall = (time.perf_counter() - started) / 60
        assert result.search is not None
        for candidate in result.search.rows:  # every verified candidate, met or rejected
            print(f"  {candidate.label} ({candidate.precision}): {candidate.verdict}, {candidate.reason}, "
                  f"{candidate.runtime} ×{candidate.latency_ratio}", flush=True)
        chosen = next(r for r in result.search.rows if r.variant == result.variant.id)
        print(f"  first verified answer after {result.search.first_answer_seconds:.0f} s; "
              f"{result.missed or 'target met'}", flush=True)
        # The speed in the runtime the Android bundle runs: each variant's .tflite timed in turn with the parent's.
        timed = remeasure_all(project, runtimes=("litert",), calib=calib).timed.get(result.variant.id, {})
        litert = timed["litert"].text() if "litert" in timed else "not timed"
        # MACs are counted on the float graph: the int8 variant's parent, or the original for int8 alone.
        float_module = (result.float_model or (parent if result.model.card.quantization else result.model)).module
        rows.append(_row(f"{recipe.name} (≤ {target.max_drop:g} pt): {chosen.label}, {chosen.precision}",
                         result.model, parent, reference, evaluation, float_module=float_module,
                         wall_min=round(wall, 1), verdict=str(chosen.verdict),
                         first_answer_s=result.search.first_answer_seconds, litert=litert))
    size, blocks = ABLATION[key]
    project = Project.open_or_create(folder / f"{key}-ablation")
    resolution = ResolutionStep(input_size=size)
    distil = replace(recovery_step(ablation_minutes), feature_weight=0.0)
    feature = recovery_step(ablation_minutes)
    ablations: list[tuple[str, tuple[Step, ...]]] = [
        (f"{size} px", (resolution,)),
        (f"{size} px + BN re-estimated (512 images)", (replace(resolution, bn_recalibration_images=512),)),
        (f"{size} px + distillation (logits)", (resolution, distil)),
        (f"{size} px + feature distillation", (resolution, feature)),
        (f"{size} px + blocks {blocks} dropped + feature distillation", (resolution, DropBlocksStep(blocks), feature)),
        (f"{size} px + expansions pruned 25 % + feature distillation",
         (resolution, PruneStep(ratio=0.25, importance="activation", bottlenecks=False), feature)),
        (f"{size} px + feature distillation + int8", (resolution, feature, QuantizeStep())),
    ]
    for name, steps in ablations if "ablation" in parts else []:
        started = time.perf_counter()
        model, float_module = _made(parent, steps, project, calib, train)
        minutes = round((time.perf_counter() - started) / 60, 1)
        rows.append(_row(name, model, parent, reference, evaluation, float_module=float_module, wall_min=minutes))
    return rows
