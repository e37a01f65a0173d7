"""Quantization-aware training against post-training quantization, on the same calibration images.

    python -m bench.qat [--model mobilenet_v2] [--images 512] [--qat-epochs 2] [--eval-limit N]

Both int8 variants start from the same float parent and see the same `--images` images of
imagenet_calib1000: PTQ calibrates on them, QAT trains on them (distilled from the parent, labels
unused). Accuracy is on all of imagenet_val1300 unless --eval-limit is given; the difference is
paired (the same images, QAT minus PTQ) with a bootstrap 95 % interval.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench.common import print_table, save_results
from core.compress.quantize import quantize
from core.data import open_dataset
from core.data.datasets import ImageDataset, Preprocessing
from core.metrics.stats import wilson_interval
from core.model import LoadedModel
from core.paths import shared_dir
from core.recipe import QuantizeStep
from core.runtime import predictor_for
from core.zoo.loading import resolve_model


def correct_per_image(model: LoadedModel, evaluation: ImageDataset) -> np.ndarray:
    hits = []
    with predictor_for(model, "torch", 1) as predict:
        for images, labels in evaluation.batches(Preprocessing.for_card(model.card), 32):
            hits.append(predict(images.numpy()).argmax(1) == labels.numpy())
    return np.concatenate(hits)


def paired_difference(a: np.ndarray, b: np.ndarray, resamples: int = 5000) -> tuple[float, float, float]:
    """Mean of b − a in points, with a bootstrap 95 % interval over images."""
    rng = np.random.default_rng(0)
    diff = b.astype(float) - a.astype(float)
    means = [diff[rng.integers(0, len(diff), len(diff))].mean() for _ in range(resamples)]
    low, high = np.percentile(means, [2.5, 97.5])
    return 100 * diff.mean(), 100 * low, 100 * high


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="mobilenet_v2")
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--qat-epochs", type=float, default=2.0)
    parser.add_argument("--eval-limit", type=int)
    args = parser.parse_args()
    datasets = shared_dir() / "datasets"
    images = open_dataset(datasets / "imagenet_calib1000").subset(args.images, seed=0)
    evaluation = open_dataset(datasets / "imagenet_val1300", limit=args.eval_limit)
    parent = resolve_model(args.model, "pretrained")
    steps = args.qat_epochs * len(images) // 32
    recipes = {
        "PTQ": QuantizeStep(mode="static", calibration_images=len(images)),
        "QAT": QuantizeStep(mode="qat", qat_epochs=args.qat_epochs, freeze_bn_after=int(steps * 0.5),
                            freeze_observers_after=int(steps * 0.75)),
    }
    hits = {"float": correct_per_image(parent, evaluation)}
    rows = [{"variant": "float", "top1": f"{100 * hits['float'].mean():.2f}", "seconds": 0}]
    for name, step in recipes.items():
        started = time.perf_counter()
        variant = quantize(parent, step, calib=images, train=images)
        seconds = time.perf_counter() - started
        hits[name] = correct_per_image(variant, evaluation)
        low, high = wilson_interval(int(hits[name].sum()), len(hits[name]))
        delta, d_low, d_high = paired_difference(hits["float"], hits[name])
        rows.append({"variant": name, "top1": f"{100 * hits[name].mean():.2f}", "ci95": f"[{low:.1f}, {high:.1f}]",
                     "vs_float": f"{delta:+.2f} [{d_low:+.2f}, {d_high:+.2f}]", "seconds": round(seconds)})
        print(rows[-1], flush=True)
    delta, low, high = paired_difference(hits["PTQ"], hits["QAT"])
    print(f"{args.model}, {len(images)} calibration/training images, n = {len(evaluation)}")
    print_table(rows, ["variant", "top1", "ci95", "vs_float", "seconds"])
    print(f"QAT − PTQ (paired): {delta:+.2f} pt [{low:+.2f}, {high:+.2f}]")
    print("saved", save_results("qat", [*rows, {"qat_minus_ptq": [round(delta, 2), round(low, 2), round(high, 2)]}]))


if __name__ == "__main__":
    main()
