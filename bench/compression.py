"""The compression engine's figures from one run: PTQ vs ONNX Runtime's baseline, pruning, and one table per
model for the target presets (searched end to end) with zero-shot and ablation rows (see bench/targets.py).

    python -m bench.compression [--sections ptq,prune,targets] [--models v2,v3s,v1] [--presets balanced,fastest]
                                [--budget MIN] [--ablation-minutes 5] [--finetune-minutes 20] [--eval-limit N]

Data from ../shared: calibration from imagenet_calib1000 (512 images), accuracy on all of
imagenet_val1300, distillation from imagenet_calib1000 + imagenette/train. Latency is
torch at 1 thread in this process (fp32 and int8 timed back to back), ORT where named.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import print_table, save_results
from bench.targets import MODELS, model_table
from core.compress.pipeline import compress
from core.compress.quantize import quantize
from core.data import open_dataset
from core.data.datasets import ImageDataset, Preprocessing, Sample
from core.metrics.accuracy import evaluate
from core.metrics.latency import benchmark
from core.metrics.size import state_dict_bytes
from core.model import LoadedModel
from core.paths import shared_dir
from core.project import Project
from core.recipe import FinetuneStep, PruneStep, QuantizeStep, Recipe
from core.runtime import cpu_has_vnni, export_onnx
from core.zoo.loading import resolve_model

PTQ_MODELS = {
    "V1-0.75": ("mobilenet_v1:width=0.75,padding=tf_same", 0.5),
    "V2": ("mobilenet_v2", 0.3),
    "V3-Small": ("mobilenet_v3_small:padding=tf_same", 1.0),
}
CALIBRATION_IMAGES = 512


def _latency(model: LoadedModel, runtime: str = "torch") -> float:
    return benchmark(model, runtime=runtime, threads=1, runs=40, warmup=5).median_ms


def _ort_quantize_static(parent: LoadedModel, calib: ImageDataset, folder: Path) -> LoadedModel:
    """ONNX Runtime's quantize_static with its default settings, on the same calibration images."""
    from onnxruntime.quantization import CalibrationDataReader, quantize_static

    assert parent.module is not None
    float_path = export_onnx(parent.module, folder / "float.onnx", parent.card.input_size)
    batches = iter(
        [{"input": batch.numpy()} for batch, _ in calib.batches(Preprocessing.for_card(parent.card), batch_size=32)]
    )

    class Reader(CalibrationDataReader):
        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(batches, None)

    int8_path = folder / "ort-int8.onnx"
    quantize_static(str(float_path), str(int8_path), Reader())
    card = replace(parent.card, title=f"{parent.card.title} ORT int8", format="onnx", path=str(int8_path))
    return LoadedModel(card=card, onnx_path=int8_path)


def ptq_rows(evaluation: ImageDataset, calib: ImageDataset) -> list[dict[str, Any]]:
    rows = []
    calib512 = calib.subset(CALIBRATION_IMAGES, seed=0)
    for label, (spec, allowed_drop) in PTQ_MODELS.items():
        parent = resolve_model(spec, "pretrained")
        assert parent.module is not None
        float_top1 = evaluate(parent, evaluation, threads=2).top1
        float_ms = _latency(parent)
        variants: dict[str, tuple[LoadedModel, float]] = {}
        default = QuantizeStep(calibration_images=CALIBRATION_IMAGES)
        for name, step in (
            (f"torch int8 (default: equalize {default.equalizes})", default),
            (f"torch int8, equalize {not default.equalizes}", replace(default, equalize=not default.equalizes)),
        ):
            started = time.perf_counter()
            variants[name] = (quantize(parent, step, calib=calib), time.perf_counter() - started)
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            ort = _ort_quantize_static(parent, calib512, Path(folder))
            variants["ORT quantize_static (defaults)"] = (ort, time.perf_counter() - started)
            for name, (model, seconds) in variants.items():
                runtime = "onnxruntime" if model.onnx_path else "torch"
                top1 = evaluate(model, evaluation, runtime=runtime, threads=2).top1
                torch_int8 = model.module is not None
                rows.append({
                    "model": label, "variant": name, "float_top1": round(float_top1, 2), "top1": round(top1, 2),
                    "drop": round(float_top1 - top1, 2), "target_drop": allowed_drop,
                    "meets": "yes" if float_top1 - top1 <= allowed_drop else "NO",
                    "ptq_s": round(seconds, 1),
                    "size_ratio": round(state_dict_bytes(model.module) / state_dict_bytes(parent.module), 3)
                    if torch_int8 else round(Path(model.onnx_path or "").stat().st_size /
                                             (Path(folder) / "float.onnx").stat().st_size, 3),
                    "latency_ratio": round(_latency(model) / float_ms, 2) if torch_int8 else "-",
                })
                print(rows[-1], flush=True)
    return rows


def prune_rows(
    evaluation: ImageDataset,
    calib: ImageDataset,
    train: ImageDataset,
    minutes: float,
    project: Project,
    ratios: list[float],
    bottlenecks: bool,
) -> list[dict[str, Any]]:
    rows = []
    parent = resolve_model("mobilenet_v2", "pretrained")
    where = "every layer" if bottlenecks else "inside blocks"
    for ratio in ratios:
        recipe = Recipe(
            f"V2 structured {ratio:.0%} {where} + distillation",
            (
                PruneStep(ratio=ratio, importance="activation", bottlenecks=bottlenecks),
                FinetuneStep(
                    epochs=100,
                    labels=False,
                    distill=True,
                    resolution=160,
                    max_minutes=minutes,
                    bn_recalibration_images=512,
                ),
            ),
        )
        rows.append(_recipe_row(parent, recipe, project, evaluation, calib, train))
    return rows


def _recipe_row(
    parent: LoadedModel,
    recipe: Recipe,
    project: Project,
    evaluation: ImageDataset,
    calib: ImageDataset,
    train: ImageDataset,
) -> dict[str, Any]:
    result = compress(parent, recipe, project, calib=calib, train=train, evaluation=evaluation, threads=1)
    metrics, before = result.metrics, result.parent.metrics
    child_ort = _latency(result.model, "onnxruntime")
    parent_ort = _latency(parent, "onnxruntime")
    assert metrics.accuracy and before.accuracy and metrics.macs and before.macs
    assert metrics.size_bytes and before.size_bytes
    row = {
        "recipe": recipe.name, "top1_parent": before.accuracy.top1, "top1": metrics.accuracy.top1,
        "drop": round(before.accuracy.top1 - metrics.accuracy.top1, 2),
        "macs_ratio": round(metrics.macs / before.macs, 3),
        "size_ratio": round(metrics.size_bytes / before.size_bytes, 3),
        "torch_ms": metrics.latency_ms, "torch_ms_parent": before.latency_ms,
        "ort_ratio": round(child_ort / parent_ort, 2), "seconds": result.seconds,
        "steps": ", ".join(f"{s.step} {s.seconds:.0f} s" for s in metrics.steps),
    }
    print(row, flush=True)
    return row


def _distillation_images(data: Path) -> ImageDataset:
    """imagenet_calib1000 and imagenette/train as one unlabeled set: distillation needs no labels."""
    calib = open_dataset(data / "imagenet_calib1000")
    imagenette = open_dataset(data / "imagenette" / "train")
    samples = [Sample(s.path, None) for s in calib.samples + imagenette.samples]
    return replace(calib, kind="unlabeled", samples=samples, class_names=())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sections", default="ptq,prune,targets")
    parser.add_argument("--models", default="v2,v3s,v1", help="targets: which models (v2, v3s, v1)")
    parser.add_argument("--presets", default="balanced,fastest", help="targets: which presets to search")
    parser.add_argument("--budget", type=float, help="targets: minutes per preset's search (default: the preset's)")
    parser.add_argument("--ablation-minutes", type=float, default=5.0, help="targets: distillation per row")
    parser.add_argument("--parts", default="zero-shot,presets,ablation", help="targets: which rows")
    parser.add_argument("--finetune-minutes", type=float, default=20.0)
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.3, 0.5], help="structured pruning ratios")
    parser.add_argument("--eval-limit", type=int, help="evaluate on a subset (default: all 1,300 images)")
    parser.add_argument("--prune-bottlenecks", action="store_true",
                        help="prune rows also narrow residual streams and linear bottlenecks (lower MACs)")
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    data = shared_dir() / "datasets"
    evaluation = open_dataset(data / "imagenet_val1300", limit=args.eval_limit)
    calib = open_dataset(data / "imagenet_calib1000")
    print(f"CPU VNNI: {cpu_has_vnni()} (int8 activations use {'8' if cpu_has_vnni() else '7'} bits)")
    results: dict[str, list[dict[str, Any]]] = {}
    if "ptq" in sections:
        results["ptq"] = ptq_rows(evaluation, calib)
    with tempfile.TemporaryDirectory() as folder:
        project = Project.create(Path(folder) / "bench")
        train = _distillation_images(data)
        if "prune" in sections:
            results["prune"] = prune_rows(evaluation, calib, train, args.finetune_minutes, project, args.ratios,
                                          args.prune_bottlenecks)
        if "targets" in sections:
            for key in args.models.split(","):
                results[f"targets {MODELS[key][0]}"] = model_table(
                    key, evaluation, calib, train, Path(folder), args.presets.split(","), args.budget,
                    args.ablation_minutes, tuple(args.parts.split(",")))
    for name, rows in results.items():
        print(f"\n== {name} (accuracy on {len(evaluation)} images)")
        print_table(rows, list(rows[0]))
    print("saved", save_results("compression", [dict(section=k, **r) for k, rows in results.items() for r in rows]))


if __name__ == "__main__":
    main()
