"""Top-1 / top-5 accuracy on real labelled images, with sample size and 95% intervals."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.data.datasets import ImageDataset, Preprocessing
from core.errors import DatasetError
from core.jobs import Progress, silent
from core.metrics.finite import nonfinite_parameters, nonfinite_rows
from core.metrics.stats import wilson_interval
from core.model import LoadedModel
from core.runtime import default_threads, predictor_for

REPORTED_NONFINITE_PARAMETERS = 10  # enough to locate the damage; a wholly broken model would list every tensor


@dataclass
class AccuracyResult:
    top1: float
    top5: float
    n: int
    top1_ci95: tuple[float, float]
    top5_ci95: tuple[float, float]
    runtime: str
    dataset: str
    seconds: float
    per_class: dict[int, tuple[int, int]] = field(default_factory=dict)  # class → (correct top-1, total)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    nonfinite_outputs: int = 0  # images whose logits hold a NaN or an Inf (counted as misses)
    nonfinite_parameters: list[str] = field(default_factory=list)  # torch models only
    images_id: str = ""  # which images were scored (a digest of their paths, in order): paired only when equal
    # Per image, in the dataset's order: top-1 class predicted (−1 for non-finite outputs) and whether it hit.
    # What paired comparisons need; a project stores them (core.metrics.stored.StoredAccuracy).
    predicted: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    hits: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool), repr=False)

    @property
    def finite(self) -> bool:
        """False when the numbers cannot be right, whatever top-1 says: callers warn on it."""
        return self.nonfinite_outputs == 0 and not self.nonfinite_parameters

    def to_dict(self, with_per_class: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "top1": round(self.top1, 3),
            "top5": round(self.top5, 3),
            "n": self.n,
            "top1_ci95": [round(v, 2) for v in self.top1_ci95],
            "top5_ci95": [round(v, 2) for v in self.top5_ci95],
            "runtime": self.runtime,
            "dataset": self.dataset,
            "seconds": round(self.seconds, 2),
            "skipped": len(self.skipped),
            "nonfinite_outputs": self.nonfinite_outputs,
            "nonfinite_parameters": self.nonfinite_parameters[:REPORTED_NONFINITE_PARAMETERS],
            "images_id": self.images_id,
        }
        if with_per_class:
            data["per_class"] = {str(k): {"correct": c, "total": t} for k, (c, t) in sorted(self.per_class.items())}
        return data


def evaluate(
    model: LoadedModel,
    dataset: ImageDataset,
    *,
    runtime: str = "torch",
    threads: int | None = None,
    batch_size: int = 32,
    progress: Progress | None = None,
) -> AccuracyResult:
    """Accuracy of `model` on a labelled `dataset` (cancellable at every batch)."""
    progress = progress or silent()
    if not dataset.labeled:
        raise DatasetError(f"{dataset.root} has no labels: accuracy needs class folders or labels.csv")
    preprocess = Preprocessing.for_card(model.card)
    start = time.perf_counter()
    correct1 = correct5 = total = nonfinite = 0
    per_class: dict[int, list[int]] = {}
    predicted: list[np.ndarray] = []
    hits: list[np.ndarray] = []
    with predictor_for(model, runtime, threads or default_threads()) as predict:
        progress(0.0, f"evaluating on {len(dataset)} images")
        for images, labels in dataset.batches(preprocess, batch_size, progress):
            logits = predict(images.numpy())
            if logits.ndim != 2 or logits.shape[0] != len(images):  # one answer broadcast over a batch scored it
                raise DatasetError(f"{model.card.title} returned logits of shape {tuple(logits.shape)} for a batch of "
                                   f"{len(images)} images; it must return one row of class scores per image")
            if logits.shape[1] != model.card.num_classes:
                raise DatasetError(f"model returned {logits.shape[1]} classes, expected {model.card.num_classes}")
            k = min(5, logits.shape[1])
            top = np.argsort(-logits, axis=1)[:, :k]
            truth = labels.numpy()
            # NaN sorts arbitrarily, so a NaN row could "hit" its label: such images are misses, explicitly.
            broken = nonfinite_rows(logits)
            hit1 = (top[:, 0] == truth) & ~broken
            hit5 = (top == truth[:, None]).any(axis=1) & ~broken
            nonfinite += int(broken.sum())
            correct1 += int(hit1.sum())
            correct5 += int(hit5.sum())
            total += len(truth)
            predicted.append(np.where(broken, -1, top[:, 0]))
            hits.append(hit1)
            for label, hit in zip(truth.tolist(), hit1.tolist(), strict=True):
                counts = per_class.setdefault(label, [0, 0])
                counts[0] += int(hit)
                counts[1] += 1
    if total == 0:
        raise DatasetError(f"none of the images in {dataset.root} could be read")
    skipped = {path for path, _ in dataset.skipped}
    scored = "\n".join(str(s.path) for s in dataset.samples if str(s.path) not in skipped)
    return AccuracyResult(
        top1=100 * correct1 / total,
        top5=100 * correct5 / total,
        n=total,
        top1_ci95=wilson_interval(correct1, total),
        top5_ci95=wilson_interval(correct5, total),
        runtime=runtime,
        dataset=str(dataset.root),
        seconds=time.perf_counter() - start,
        per_class={k: (v[0], v[1]) for k, v in per_class.items()},
        skipped=list(dataset.skipped),
        nonfinite_outputs=nonfinite,
        nonfinite_parameters=nonfinite_parameters(model.module) if model.module is not None else [],
        predicted=np.concatenate(predicted),
        hits=np.concatenate(hits),
        images_id=hashlib.sha256(scored.encode()).hexdigest()[:16],
    )


def hits_from_text(hits: str) -> np.ndarray:
    """Per-image hits as a project stores them ("1" a hit, "0" a miss) → a boolean array."""
    return np.frombuffer(hits.encode(), np.uint8) == ord("1")
