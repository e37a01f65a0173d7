"""A variant's measured figures as a typed, versioned tree: one reader (`VariantMetrics.read`, of variant.json's
"metrics") and one writer (`VariantMetrics.to_dict`). The pipeline, the target search and re-measuring build these
values; the project writes them. A figure that is missing or malformed reads as None, never a made-up one, so a
project written by another studio version still opens.

Version 1 is the layout every studio version so far has written; `version` is stored so that a later layout can
be told apart and read by its own branch here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from core.metrics.accuracy import AccuracyResult
from core.metrics.latency import LatencyResult
from core.metrics.memory import MemoryResult
from core.metrics.paired import PairedAccuracy
from core.metrics.paired_latency import PairedLatency
from core.metrics.records import SearchRecord, StepTime, mapping, number, read_flat, whole
from core.recipe_target import Verdict
from core.runtimes import Runtime

METRICS_VERSION = 1


_SIZE = re.compile(r"[0-9]{1,5}")  # an input side in pixels, as latency_by_resolution's keys spell it


@dataclass(frozen=True)
class StoredAccuracy:
    """Top-1 on labelled images as a project keeps it, with what pairs it: which images, in which order, and each
    image's answer."""

    top1: float
    top5: float | None = None
    n: int | None = None
    top1_ci95: tuple[float, float] | None = None
    top5_ci95: tuple[float, float] | None = None
    runtime: Runtime = Runtime.TORCH
    dataset: str = ""  # the folder the images came from
    seconds: float | None = None
    skipped: int = 0  # unreadable images left out
    nonfinite_outputs: int = 0  # images whose logits held a NaN or an Inf (counted as misses)
    nonfinite_parameters: tuple[str, ...] = ()  # the first few, where the model's own weights hold them
    images_id: str = ""  # a digest of the images' paths, in order: two accuracies pair only when theirs are equal
    hits: str = ""  # per image, "1" a hit and "0" a miss ("" when not stored)
    predicted: tuple[int, ...] = ()  # per image, the class predicted

    @classmethod
    def of(cls, result: AccuracyResult) -> StoredAccuracy:
        """What a project keeps of a measured accuracy: its figures as the result reports them, and each image's
        answer."""
        read = cls.read(result.to_dict())
        assert read is not None
        return replace(read, hits="".join("1" if hit else "0" for hit in result.hits),
                       predicted=tuple(int(p) for p in result.predicted))

    @property
    def nonfinite(self) -> bool:
        return bool(self.nonfinite_outputs or self.nonfinite_parameters)

    @property
    def source(self) -> str:
        """"imagenet_val1300", or "imagenet_val1300 in ONNX Runtime": the images by their folder's name, and the
        runtime when it is not PyTorch."""
        name = Path(self.dataset).name if self.dataset else ""
        return name + ("" if self.runtime is Runtime.TORCH or not name else f" in {self.runtime.label}")

    @property
    def per_image(self) -> bool:
        return bool(self.images_id) and len(self.hits) == len(self.predicted) > 0

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"top1": self.top1, "top5": self.top5, "n": self.n,
                "top1_ci95": None if self.top1_ci95 is None else list(self.top1_ci95),
                "top5_ci95": None if self.top5_ci95 is None else list(self.top5_ci95),
                "runtime": self.runtime.value, "dataset": self.dataset, "seconds": self.seconds,
                "skipped": self.skipped, "nonfinite_outputs": self.nonfinite_outputs,
                "nonfinite_parameters": list(self.nonfinite_parameters), "images_id": self.images_id}
        if self.hits:
            data["per_image"] = {"predicted": list(self.predicted), "hits": self.hits}
        return data

    @classmethod
    def read(cls, stored: Any) -> StoredAccuracy | None:
        read = read_flat(cls, {k: v for k, v in mapping(stored).items() if k not in ("hits", "predicted")})
        per_image = mapping(mapping(stored).get("per_image"))
        hits, predicted = per_image.get("hits"), per_image.get("predicted")
        if read is None or not isinstance(hits, str) or not isinstance(predicted, list):
            return read
        classes = [whole(p) if not isinstance(p, float) else None for p in predicted]
        if set(hits) - {"0", "1"} or None in classes:  # each image's answer, or none at all
            return read
        return replace(read, hits=hits, predicted=tuple(c for c in classes if c is not None))


@dataclass(frozen=True)
class VariantMetrics:
    version: int = METRICS_VERSION
    size_bytes: int | None = None  # the stored weights
    macs: int | None = None  # counted on the float graph
    params: int | None = None
    channels: Mapping[str, int] = field(default_factory=dict)  # output channels per layer
    latency: LatencyResult | None = None  # one image, this computer, PyTorch
    latency_by_resolution: Mapping[int, LatencyResult] = field(default_factory=dict)
    memory: MemoryResult | None = None  # peak while running, in a fresh process
    accuracy: StoredAccuracy | None = None
    paired_accuracy: PairedAccuracy | None = None  # against the variant it was scored with
    paired_latency: Mapping[Runtime, PairedLatency] = field(default_factory=dict)  # per runtime, timed in turn
    steps: tuple[StepTime, ...] = ()  # the recipe steps that made it
    warnings: tuple[str, ...] = ()
    seconds: float | None = None  # the whole run that made it
    search: SearchRecord | None = None  # what a target search said of it
    unknown: Mapping[str, Any] = field(default_factory=dict)  # keys another studio version wrote, kept as they were

    @property
    def latency_ms(self) -> float | None:  # median
        return None if self.latency is None else self.latency.median_ms

    @property
    def memory_mb(self) -> float | None:
        return None if self.memory is None else self.memory.peak_mb

    @property
    def fps_by_resolution(self) -> tuple[tuple[int, float], ...]:
        """(pixels per side, frames per second), smallest first."""
        return tuple(sorted((size, timed.fps) for size, timed in self.latency_by_resolution.items()))

    @property
    def search_verdict(self) -> Verdict | None:
        return None if self.search is None else self.search.verdict

    def measured_figures(self) -> dict[str, Any]:
        """What core.compress.store measures of any model, as changes for `updated`."""
        return {"size_bytes": self.size_bytes, "macs": self.macs, "params": self.params, "channels": self.channels,
                "latency": self.latency, "accuracy": self.accuracy}

    def as_stored(self) -> VariantMetrics:
        """These metrics as a project reads them back (figures rounded as stored)."""
        return VariantMetrics.read(self.to_dict())

    def updated(self, **changes: Any) -> VariantMetrics:
        """These metrics with `changes` over them; a paired latency is kept per runtime (one runtime's re-timing
        leaves the others)."""
        if "paired_latency" in changes:
            changes["paired_latency"] = {**self.paired_latency, **changes["paired_latency"]}
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"version": self.version, "size_bytes": self.size_bytes, "macs": self.macs,
                                "params": self.params, "channels": dict(self.channels) or None,
                                "latency": None if self.latency is None else self.latency.to_dict(),
                                "latency_by_resolution": {str(size): timed.to_dict() for size, timed in
                                                          self.latency_by_resolution.items()} or None,
                                "memory": None if self.memory is None else self.memory.to_dict(),
                                "accuracy": None if self.accuracy is None else self.accuracy.to_dict(),
                                "paired_accuracy": None if self.paired_accuracy is None else
                                self.paired_accuracy.to_dict(),
                                "paired_latency": {runtime.value: timed.to_dict() for runtime, timed in
                                                   self.paired_latency.items()} or None,
                                "steps": [step.to_dict() for step in self.steps] or None,
                                "warnings": list(self.warnings) or None, "seconds": self.seconds,
                                "search": None if self.search is None else self.search.to_dict()}
        return {**self.unknown, **{key: value for key, value in data.items() if value is not None}}

    @classmethod
    def read(cls, stored: Any) -> VariantMetrics:
        """The metrics a project stored for a variant (any layout so far: version 1). Keys this version does not
        know are kept as they were, to be written back unchanged."""
        data = mapping(stored)
        version = data.get("version")
        by_size = {int(size): LatencyResult.read(timed)
                   for size, timed in mapping(data.get("latency_by_resolution")).items()
                   if isinstance(size, str) and _SIZE.fullmatch(size)}
        timed = {Runtime(name): PairedLatency.read(timing) for name, timing in
                 mapping(data.get("paired_latency")).items() if name in {runtime.value for runtime in Runtime}}
        steps, warnings = data.get("steps"), data.get("warnings")
        channels = {name: count for name, count in mapping(data.get("channels")).items()
                    if isinstance(name, str) and isinstance(count, int) and whole(count) is not None}
        return cls(
            version=version if isinstance(version, int) and not isinstance(version, bool) else 1,
            size_bytes=whole(data.get("size_bytes")), macs=whole(data.get("macs")), params=whole(data.get("params")),
            channels=channels, latency=LatencyResult.read(data.get("latency")),
            latency_by_resolution={size: read for size, read in by_size.items() if read is not None},
            memory=MemoryResult.read(data.get("memory")), accuracy=StoredAccuracy.read(data.get("accuracy")),
            paired_accuracy=PairedAccuracy.read(data.get("paired_accuracy")),
            paired_latency={runtime: read for runtime, read in timed.items() if read is not None},
            steps=tuple(read for read in map(StepTime.read, steps if isinstance(steps, list) else ()) if read),
            warnings=tuple(w for w in warnings if isinstance(w, str)) if isinstance(warnings, list) else (),
            seconds=number(data.get("seconds")), search=SearchRecord.read(data.get("search")),
            unknown={key: value for key, value in data.items() if key not in _FIELDS},
        )



_FIELDS = frozenset(item.name for item in fields(VariantMetrics)) - {"unknown"}  # the keys this version writes
