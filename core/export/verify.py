"""Verification shared by every format: the artifact, reloaded in its own runtime, against the source.

Rule: an artifact is `verified` when its runtime produced outputs on the verification images and
its top-1 agrees with the source's on at least FLOAT_AGREEMENT % of them (float, pruned and fp16
sources and fp16 artifacts) or INT8_AGREEMENT % (anything int8). Max |Δ| and cosine are reported
for judgement, not thresholded: an int8 re-quantization legitimately moves logits. An artifact whose
runtime cannot predict here (Core ML on Linux) is never `verified`; its structure checks are reported.
Neither is one whose outputs, or whose source's, hold a NaN or an Inf: agreement between such numbers
means nothing (NaN's argmax is an accident of the runtime). An int8 artifact that a format re-quantized from
the source's float parent (TFLite, ExecuTorch, .pt2, Core ML) is a second int8 model of that parent: it also
passes when it is as close to the parent as the source is (`requantized_check`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.jobs import Progress
from core.metrics.finite import nonfinite_rows
from core.metrics.latency import time_predictor
from core.metrics.paired import paired_accuracy
from core.runtime import Predictor

FLOAT_AGREEMENT = 99.0
INT8_AGREEMENT = 97.0
# Points a re-quantized artifact may trail its source by, against the float parent (agreement and paired Δtop-1).
REQUANTIZED_SLACK = 1.0
BATCH = 16


@dataclass
class VerificationImages:
    """Preprocessed images (N×3×H×W float32) and their labels (None when unlabelled)."""

    images: np.ndarray
    labels: np.ndarray | None
    dataset: str

    def __len__(self) -> int:
        return len(self.images)


def load_images(dataset: Any, card: Any, progress: Progress) -> VerificationImages:
    from core.data.datasets import Preprocessing

    batches = list(dataset.batches(Preprocessing.for_card(card), batch_size=32, progress=progress))
    images = np.concatenate([b.numpy() for b, _ in batches])
    labels = np.concatenate([y.numpy() for _, y in batches])
    return VerificationImages(images, labels if dataset.labeled else None, str(dataset.root))


def one_at_a_time(predict: Predictor) -> Predictor:
    """A batch predictor from one that takes a single image (TFLite, ExecuTorch, Core ML run batch 1)."""
    return lambda batch: np.concatenate([predict(batch[i : i + 1]) for i in range(len(batch))])


def logits(predict: Predictor, images: np.ndarray, progress: Progress) -> np.ndarray:
    report = progress.steps(len(images), "running")
    out = []
    for start in range(0, len(images), BATCH):
        out.append(np.asarray(predict(images[start : start + BATCH]), dtype=np.float32))
        report(min(start + BATCH, len(images)))
    return np.concatenate(out)


def hits(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per image, whether the top-1 answer is right; an image whose scores are not finite is a miss."""
    return np.asarray((scores.argmax(1) == labels) & ~nonfinite_rows(scores))


def top1_percent(scores: np.ndarray, labels: np.ndarray) -> float:
    return round(100 * float(hits(scores, labels).mean()), 3)


def compare(reference: np.ndarray, candidate: np.ndarray) -> dict[str, float | None]:
    """Top-1 agreement (%), max |Δ| of logits, and mean per-image cosine similarity.

    Images with non-finite logits on either side disagree; max |Δ| and cosine are None rather than
    NaN or Inf then, so that reports stay strict JSON.
    """
    if candidate.shape != reference.shape:
        raise ValueError(f"artifact returned {candidate.shape}, the source {reference.shape}")
    agree = (reference.argmax(1) == candidate.argmax(1)) & ~nonfinite_rows(reference) & ~nonfinite_rows(candidate)
    with np.errstate(invalid="ignore", over="ignore"):  # NaN and Inf become None below
        dot = (reference * candidate).sum(1)
        norms = np.linalg.norm(reference, axis=1) * np.linalg.norm(candidate, axis=1)
        cosine = float((dot / np.maximum(norms, 1e-12)).mean())
        max_abs_diff = float(np.abs(reference - candidate).max())
    return {
        "agreement_top1": round(100 * float(agree.mean()), 3),
        "max_abs_diff": max_abs_diff if np.isfinite(max_abs_diff) else None,
        "cosine": round(cosine, 6) if np.isfinite(cosine) else None,
    }


def _nonfinite_reason(reference: np.ndarray, scores: np.ndarray) -> str | None:
    """Why outputs holding NaN or Inf cannot be verified; the source first, as the artifact inherits its numbers."""
    for whose, outputs in (("the source model's", reference), ("the artifact's", scores)):
        broken = int(nonfinite_rows(outputs).sum())
        if broken:
            return f"{whose} outputs are not finite (NaN/Inf) on {broken} of {len(outputs)} images"
    return None


def verify(
    predictor: Callable[[], Predictor],
    reference: np.ndarray,
    data: VerificationImages,
    threshold: float,
    latency_runs: int,
    progress: Progress,
    float_parent: np.ndarray | None = None,
    requantized: bool = False,
) -> dict[str, Any]:
    """Run the artifact on `data`, compare with the source's `reference` logits, time one image.

    For an int8 source, `float_parent` (its parent's logits) tells how much of the disagreement
    is the source's own quantization error rather than the artifact's. A `requantized` artifact is a second
    int8 model of that parent, whose agreement with the source sits near the int8 line by nature: it is also
    verified as what it is (see `requantized_check`).
    """
    predict = predictor()
    scores = logits(predict, data.images, progress.span(0.0, 0.8))
    result: dict[str, Any] = {"n": len(data), **compare(reference, scores), "threshold": threshold}
    if float_parent is not None:
        result["agreement_top1_float_parent"] = compare(float_parent, scores)["agreement_top1"]
        if requantized:
            result.update(requantized_check(scores, reference, float_parent, data.labels))
    if data.labels is not None:
        result["top1"] = top1_percent(scores, data.labels)
        # Paired with the source on the same images: the one figure to read beside the source's own top-1.
        paired = paired_accuracy(hits(scores, data.labels), hits(reference, data.labels), scores.argmax(1),
                                 reference.argmax(1))
        result["delta_top1_source"] = round(paired.delta_top1, 3)
        result["delta_top1_source_ci95"] = [round(v, 3) for v in paired.delta_top1_ci95]
    if latency_runs > 0:
        times = time_predictor(predict, data.images[:1], latency_runs, min(5, latency_runs), progress.span(0.8, 1.0))
        result["latency_ms"] = round(float(np.median(times)), 3)
    reason = _nonfinite_reason(reference, scores)
    if reason is not None:
        result["reason"] = reason
    close_to_source = result["agreement_top1"] >= threshold
    result["verified"] = reason is None and (close_to_source or bool(result.get("verified_as_requantized")))
    return result


def requantized_check(scores: np.ndarray, source: np.ndarray, float_parent: np.ndarray,
                      labels: np.ndarray | None) -> dict[str, Any]:
    """A re-quantized artifact against the float parent, beside the source's own figures: it passes when it
    agrees with the parent at most REQUANTIZED_SLACK points less than the source does and, with labels, its
    paired Δtop-1 against the parent is at most REQUANTIZED_SLACK points worse than the source's."""
    own = compare(float_parent, source)["agreement_top1"] or 0.0
    mine = compare(float_parent, scores)["agreement_top1"] or 0.0
    out: dict[str, Any] = {"source_agreement_top1_float_parent": own}
    passed = mine >= own - REQUANTIZED_SLACK
    if labels is not None:
        parent_hits = hits(float_parent, labels)
        paired = paired_accuracy(hits(scores, labels), parent_hits, scores.argmax(1), float_parent.argmax(1))
        source_delta = 100 * float(hits(source, labels).mean() - parent_hits.mean())
        out.update(delta_top1_float_parent=round(paired.delta_top1, 3),
                   delta_top1_float_parent_ci95=[round(v, 3) for v in paired.delta_top1_ci95],
                   source_delta_top1_float_parent=round(source_delta, 3))
        passed = passed and paired.delta_top1 >= source_delta - REQUANTIZED_SLACK
    out["verified_as_requantized"] = passed
    return out
