"""Small builders for test inputs: image folders with real pixels, model files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from core.project import Variant
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


def scored_variant(vid: str, parent: str | None, hits: str, predicted: list[int], images: str = "val-a",
                   ratio: tuple[float, float, float] | None = None, size: float = 3.9) -> Variant:
    """A variant as a project stores it, with per-image answers on `images` and, optionally, a paired latency
    ratio (ratio, low, high) against `fp32` in torch."""
    top1 = 100.0 * hits.count("1") / len(hits)
    accuracy = {"top1": top1, "top5": 90.0, "n": len(hits), "top1_ci95": [top1 - 5, top1 + 5], "images_id": images,
                "per_image": {"hits": hits, "predicted": predicted}}
    metrics: dict = {"size_bytes": size * 1e6, "macs": 300e6, "params": 3.5e6, "accuracy": accuracy,
                     "latency": {"median_ms": 10.0, "p90_ms": 12.0, "cv": 0.05}}
    variant = Variant(vid, vid, "model.pt", "state_dict", None, WeightsInfo("untrained", "untrained"), parent=parent,
                      metrics=metrics)
    if ratio is not None:
        variant.metrics["paired_latency"] = {"torch": {"ratio": ratio[0], "ratio_ci95": [ratio[1], ratio[2]],
                                                       "noisy": False, "against": "fp32"}}
    return variant


TRUTH = list(range(40))  # labels of 40 images; a hit predicts the label, a miss predicts 999


def answers(misses: set[int]) -> tuple[str, list[int]]:
    return "".join("0" if i in misses else "1" for i in TRUTH), [999 if i in misses else i for i in TRUTH]
