"""Small builders for test inputs: image folders with real pixels, model files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from core.metrics.latency import LatencyResult
from core.metrics.paired_latency import PairedLatency
from core.metrics.stored import StoredAccuracy, VariantMetrics
from core.project import Variant
from core.runtimes import Runtime
from core.zoo.registry import ModelSpec
from core.zoo.weights import WeightsInfo

TINY = ModelSpec("mobilenet_v3_small", resolution=96)  # the smallest real model: quick to build and time


def write_image(path: Path, mode: str = "RGB", size: tuple[int, int] = (64, 48), seed: int = 0) -> Path:
    """A noise image in `mode` (RGB, L, CMYK, RGBA, P), saved in the format the suffix names."""
    rng = np.random.default_rng(seed)
    rgb = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8), "RGB")
    image = rgb.convert(mode) if mode != "P" else rgb.convert("P", palette=Image.Palette.ADAPTIVE)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def copy_images(source: Path, target: Path, count: int) -> list[Path]:
    """Copy the first `count` real images of `source` into `target`."""
    target.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in source.iterdir() if p.suffix.lower() in (".jpeg", ".jpg", ".png"))[:count]
    copied = []
    for file in files:
        (target / file.name).write_bytes(file.read_bytes())
        copied.append(target / file.name)
    return copied


def timing(ratio: float, low: float, high: float, against: str = "fp32", runtime: str = "torch") -> PairedLatency:
    """A paired latency ratio [low, high] against `against`, as a project stores it."""
    return PairedLatency(ratio, (low, high), 10.0 * ratio, 10.0, 12.0 * ratio, 12.0, 0.05, 0.05, 30, runtime, 1, {},
                         against=against)


def latency(median_ms: float = 10.0, p90_ms: float = 12.0, cv: float = 0.05, input_size: int = 224) -> LatencyResult:
    """A torch latency as a project stores it (figures rounded as its writer rounds them)."""
    return LatencyResult("torch", 1, 1, input_size, 30, 5, median_ms, p90_ms, median_ms, median_ms,
                         round(cv * median_ms, 4), cv, round(1000.0 / median_ms, 4))


def scored_variant(vid: str, parent: str | None, hits: str, predicted: list[int], images: str = "val-a",
                   ratio: tuple[float, float, float] | None = None, size: float = 3.9) -> Variant:
    """A variant as a project stores it, with per-image answers on `images` and, optionally, a paired latency
    ratio (ratio, low, high) against `fp32` in torch."""
    top1 = 100.0 * hits.count("1") / len(hits)
    accuracy = StoredAccuracy(top1, 90.0, len(hits), (top1 - 5, top1 + 5), images_id=images, hits=hits,
                              predicted=tuple(predicted))
    metrics = VariantMetrics(size_bytes=round(size * 1e6), macs=300_000_000, params=3_500_000, accuracy=accuracy,
                             latency=latency(),
                             paired_latency={Runtime.TORCH: timing(*ratio)} if ratio is not None else {})
    return Variant(vid, vid, "model.pt", "state_dict", None, WeightsInfo("untrained", "untrained"), parent=parent,
                   metrics=metrics)


TRUTH = list(range(40))  # labels of 40 images; a hit predicts the label, a miss predicts 999


def answers(misses: set[int]) -> tuple[str, list[int]]:
    return "".join("0" if i in misses else "1" for i in TRUTH), [999 if i in misses else i for i in TRUTH]
