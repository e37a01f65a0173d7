"""Paired comparisons of two models on the same images: the top-1 difference with its 95 % interval.

Two accuracies measured on the same images are not independent: most images are right (or wrong) for
both. The difference's interval comes from the images where they disagree, by a paired bootstrap over
images (seeded, so the same inputs give the same interval).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import StudioError
from core.metrics.accuracy_text import delta_text
from core.metrics.records import read_flat

BOOTSTRAP_SAMPLES = 4000


@dataclass(frozen=True)
class PairedAccuracy:
    delta_top1: float  # points: the variant's top-1 minus the reference's
    delta_top1_ci95: tuple[float, float]
    agreement: float  # % of images where both predict the same class
    n: int
    against: str = ""  # as a project stores it: the variant id it was scored against

    def to_dict(self) -> dict[str, Any]:
        data = {"delta_top1": round(self.delta_top1, 3), "delta_top1_ci95": [round(v, 3) for v in self.delta_top1_ci95],
                "agreement": round(self.agreement, 3), "n": self.n}
        return {**data, "against": self.against} if self.against else data

    @classmethod
    def read(cls, stored: Any) -> PairedAccuracy | None:
        return read_flat(cls, stored)

    def text(self) -> str:
        return delta_text(self.delta_top1, self.delta_top1_ci95, self.n)


def paired_accuracy(
    hits: np.ndarray, reference_hits: np.ndarray, predicted: np.ndarray, reference_predicted: np.ndarray, seed: int = 0
) -> PairedAccuracy:
    """Δtop-1 (variant − reference) with a paired bootstrap 95 % interval, and top-1 agreement."""
    n = len(hits)
    if n == 0 or len(reference_hits) != n or len(predicted) != n or len(reference_predicted) != n:
        raise StudioError(f"a paired comparison needs the same images for both models ({n} and {len(reference_hits)})")
    difference = hits.astype(np.float64) - reference_hits.astype(np.float64)
    rng = np.random.default_rng(seed)
    means = np.empty(BOOTSTRAP_SAMPLES)
    for start in range(0, BOOTSTRAP_SAMPLES, 500):  # in chunks: 4000 × n indices at once would be large
        chunk = rng.integers(0, n, size=(min(500, BOOTSTRAP_SAMPLES - start), n))
        means[start : start + len(chunk)] = difference[chunk].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    agreement = float((predicted == reference_predicted).mean())
    return PairedAccuracy(100 * float(difference.mean()), (100 * float(low), 100 * float(high)), 100 * agreement, n)
