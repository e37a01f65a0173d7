"""Latency: warm-up, then N timed runs; median, p90, min, spread and FPS."""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from core.errors import StudioError
from core.jobs import Progress, silent
from core.metrics.records import read_flat
from core.metrics.stats import percentile
from core.model import LoadedModel
from core.runtime import Predictor, default_threads, predictor_for


@dataclass
class LatencyResult:
    runtime: str
    threads: int
    batch: int
    input_size: int
    runs: int
    warmup: int
    median_ms: float
    p90_ms: float
    min_ms: float
    mean_ms: float
    std_ms: float
    cv: float  # std / mean: how noisy the machine was
    fps: float  # images per second at the median

    def to_dict(self) -> dict[str, Any]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}

    @classmethod
    def read(cls, stored: Any) -> LatencyResult | None:
        return read_flat(cls, stored)


def time_predictor(predict: Predictor, batch: np.ndarray, runs: int, warmup: int, progress: Progress) -> list[float]:
    """Milliseconds of `runs` calls after `warmup` untimed ones."""
    for i in range(warmup):
        predict(batch)
        progress(0.1 * (i + 1) / max(warmup, 1), "warming up")
    report = progress.span(0.1, 1.0).steps(runs, "timed runs")
    times = []
    for i in range(runs):
        start = time.perf_counter()
        predict(batch)
        times.append((time.perf_counter() - start) * 1000)
        report(i + 1)
    return times


def summarize(times_ms: list[float], **context: Any) -> LatencyResult:
    ordered = sorted(times_ms)
    mean = statistics.fmean(ordered)
    std = statistics.pstdev(ordered)
    median = statistics.median(ordered)
    batch = context["batch"]
    return LatencyResult(
        median_ms=median,
        p90_ms=percentile(ordered, 90),
        min_ms=ordered[0],
        mean_ms=mean,
        std_ms=std,
        cv=std / mean if mean else 0.0,
        fps=1000 * batch / median if median else 0.0,
        runs=len(ordered),
        **context,
    )


def benchmark(
    model: LoadedModel,
    *,
    runtime: str = "torch",
    threads: int | None = None,
    runs: int = 50,
    warmup: int = 10,
    batch: int = 1,
    input_size: int | None = None,
    progress: Progress | None = None,
) -> LatencyResult:
    """Time `model` on a fixed random batch in `runtime` (cancellable between runs).

    `input_size` other than the card's runs the same network on other images (MobileNets pool
    globally, so any size ≥ 32 works): how deployment at another resolution would perform.
    """
    progress = progress or silent()
    if runs < 1 or warmup < 0 or batch < 1:
        raise StudioError("runs and batch must be at least 1 and warm-up at least 0")
    threads = threads or default_threads()
    size = input_size or model.card.input_size
    inputs = np.random.default_rng(0).standard_normal((batch, 3, size, size), dtype=np.float32)
    progress(0.0, f"preparing {runtime}")
    with predictor_for(model, runtime, threads) as predict:
        times = time_predictor(predict, inputs, runs, warmup, progress)
    return summarize(times, runtime=runtime, threads=threads, batch=batch, input_size=size, warmup=warmup)
