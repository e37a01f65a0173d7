"""A variant's stored metrics, read into typed values in one place: the reader of variant.json's "metrics" (which
the pipeline, the target search and re-measuring write). A figure that is missing or malformed is None, never a
made-up one, so a project written by another studio version still opens.

Version 1 is the layout every studio version so far has written; `version` is stored from now on so that a later
layout can be told apart and read by its own branch here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.recipe_target import Verdict
from core.runtimes import Runtime

METRICS_VERSION = 1


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _interval(value: Any) -> tuple[float, float] | None:
    if isinstance(value, list | tuple) and len(value) == 2 and all(_number(v) is not None for v in value):
        return float(value[0]), float(value[1])
    return None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True)
class StoredAccuracy:
    """Top-1 on labelled images, with what pairs it: which images, in which order, and each image's answer."""

    top1: float
    top5: float | None
    n: int | None
    top1_ci95: tuple[float, float] | None
    images_id: str  # a digest of the images' paths, in order: two accuracies pair only when theirs are equal
    dataset: str  # the folder the images came from
    runtime: Runtime
    hits: str  # per image, "1" a hit and "0" a miss ("" when not stored)
    predicted: tuple[int, ...]  # per image, the class predicted
    nonfinite: bool  # some outputs or parameters were NaN/Inf

    @property
    def source(self) -> str:
        """"imagenet_val1300", or "imagenet_val1300 in ONNX Runtime": the images by their folder's name, and the
        runtime when it is not PyTorch."""
        name = Path(self.dataset).name if self.dataset else ""
        return name + ("" if self.runtime is Runtime.TORCH or not name else f" in {self.runtime.label}")

    @property
    def per_image(self) -> bool:
        return bool(self.images_id) and len(self.hits) == len(self.predicted) > 0

    @classmethod
    def read(cls, stored: Any) -> StoredAccuracy | None:
        data = _mapping(stored)
        top1 = _number(data.get("top1"))
        if top1 is None:
            return None
        per_image = _mapping(data.get("per_image"))
        hits, predicted = per_image.get("hits"), per_image.get("predicted")
        runtime = data.get("runtime")
        n = data.get("n")
        return cls(
            top1=top1, top5=_number(data.get("top5")), n=n if isinstance(n, int) else None,
            top1_ci95=_interval(data.get("top1_ci95")), images_id=str(data.get("images_id") or ""),
            dataset=str(data.get("dataset") or ""),
            runtime=Runtime(runtime) if runtime in set(Runtime) else Runtime.TORCH,
            hits=hits if isinstance(hits, str) else "",
            predicted=tuple(int(p) for p in predicted) if isinstance(predicted, list) else (),
            nonfinite=bool(data.get("nonfinite_outputs") or data.get("nonfinite_parameters")),
        )


@dataclass(frozen=True)
class StoredPairedAccuracy:
    """Δtop-1 against `against`, measured by the run that scored both on the same images."""

    delta_top1: float
    delta_top1_ci95: tuple[float, float]
    agreement: float
    n: int
    against: str

    @classmethod
    def read(cls, stored: Any) -> StoredPairedAccuracy | None:
        data = _mapping(stored)
        delta, ci95, agreement, n = (_number(data.get("delta_top1")), _interval(data.get("delta_top1_ci95")),
                                     _number(data.get("agreement")), data.get("n"))
        if delta is None or ci95 is None or agreement is None or not isinstance(n, int):
            return None
        return cls(delta, ci95, agreement, n, str(data.get("against") or ""))


@dataclass(frozen=True)
class StoredTiming:
    """A latency ratio against `against`, timed in turn with it in one session."""

    ratio: float
    ratio_ci95: tuple[float, float]
    noisy: bool
    against: str

    @classmethod
    def read(cls, stored: Any) -> StoredTiming | None:
        data = _mapping(stored)
        ratio, ci95 = _number(data.get("ratio")), _interval(data.get("ratio_ci95"))
        if ratio is None or ci95 is None:
            return None
        return cls(ratio, ci95, bool(data.get("noisy")), str(data.get("against") or ""))


@dataclass(frozen=True)
class VariantMetrics:
    version: int = METRICS_VERSION
    size_bytes: float | None = None
    macs: float | None = None
    params: float | None = None
    latency_ms: float | None = None  # median, one image, this computer, PyTorch
    latency_p90_ms: float | None = None
    latency_cv: float | None = None
    memory_mb: float | None = None  # peak while running
    accuracy: StoredAccuracy | None = None
    paired_accuracy: StoredPairedAccuracy | None = None
    paired_latency: Mapping[Runtime, StoredTiming] = field(default_factory=dict)
    fps_by_resolution: tuple[tuple[int, float], ...] = ()  # (pixels per side, frames per second), smallest first
    search_verdict: Verdict | None = None  # what a target search said of it

    @classmethod
    def read(cls, stored: Mapping[str, Any]) -> VariantMetrics:
        """The metrics a project stored for a variant (any layout so far: version 1)."""
        latency, memory = _mapping(stored.get("latency")), _mapping(stored.get("memory"))
        paired_latency = _mapping(stored.get("paired_latency"))
        timings = {Runtime(name): StoredTiming.read(timed) for name, timed in paired_latency.items()
                   if name in set(Runtime)}
        fps = []
        for size, timed in _mapping(stored.get("latency_by_resolution")).items():
            value = _number(_mapping(timed).get("fps"))
            if str(size).isdigit() and value is not None:
                fps.append((int(size), value))
        verdict = _mapping(stored.get("search")).get("verdict")
        return cls(
            version=int(stored.get("version") or 1), size_bytes=_number(stored.get("size_bytes")),
            macs=_number(stored.get("macs")), params=_number(stored.get("params")),
            latency_ms=_number(latency.get("median_ms")), latency_p90_ms=_number(latency.get("p90_ms")),
            latency_cv=_number(latency.get("cv")), memory_mb=_number(memory.get("peak_mb")),
            accuracy=StoredAccuracy.read(stored.get("accuracy")),
            paired_accuracy=StoredPairedAccuracy.read(stored.get("paired_accuracy")),
            paired_latency={runtime: timing for runtime, timing in timings.items() if timing is not None},
            fps_by_resolution=tuple(sorted(fps)),
            search_verdict=Verdict(verdict) if verdict in set(Verdict) else None,
        )
