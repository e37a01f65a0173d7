"""Paired latency: two models timed alternately in one process, and the ratio of their medians with a 95 % CI.

On a shared machine an absolute millisecond figure moves with the load; a ratio of two models timed
in turn (ABAB…, who goes first alternating) sees the same load on both and holds. The interval is a
bootstrap over the pairs; a run whose spread is wide is flagged as noisy.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from core.errors import StudioError
from core.jobs import Progress, silent
from core.model import LoadedModel
from core.runtime import predictor_for

NOISY_CV = 0.25  # coefficient of variation of either model's times
NOISY_CI = 0.15  # CI width relative to the ratio


@dataclass(frozen=True)
class PairedLatency:
    ratio: float  # median(variant) / median(reference)
    ratio_ci95: tuple[float, float]
    median_ms: float
    reference_median_ms: float
    p90_ms: float
    reference_p90_ms: float
    cv: float
    reference_cv: float
    pairs: int
    runtime: str
    threads: int
    context: dict[str, Any]

    @property
    def noisy(self) -> bool:
        width = self.ratio_ci95[1] - self.ratio_ci95[0]
        return max(self.cv, self.reference_cv) > NOISY_CV or width > NOISY_CI * self.ratio

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio_ci95"] = [round(v, 4) for v in self.ratio_ci95]
        data["noisy"] = self.noisy
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in data.items()}


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):  # noqa: SIM115 - read a few lines only
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _runtime_version(runtime: str) -> str:
    if runtime == "onnxruntime":
        import onnxruntime

        return f"onnxruntime {onnxruntime.__version__}"
    import torch

    return f"torch {torch.__version__}"


def _cv(times: list[float]) -> float:
    mean = statistics.fmean(times)
    return statistics.pstdev(times) / mean if mean else 0.0


def paired_latency(
    variant: LoadedModel,
    reference: LoadedModel,
    *,
    runtime: str = "torch",
    threads: int = 1,
    pairs: int = 30,
    warmup: int = 5,
    seed: int = 0,
    progress: Progress | None = None,
) -> PairedLatency:
    """Time `variant` and `reference` alternately (each on its own input size) and compare their medians."""
    progress = progress or silent()
    if pairs < 2:
        raise StudioError("a paired latency needs at least 2 pairs")
    rng = np.random.default_rng(seed)
    inputs = [rng.standard_normal((1, 3, m.card.input_size, m.card.input_size), dtype=np.float32)
              for m in (variant, reference)]  # fmt: skip
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    progress(0.0, f"preparing {runtime}")
    with ExitStack() as stack:
        predictors = [stack.enter_context(predictor_for(m, runtime, threads, spin=False)) for m in (variant, reference)]
        for i in range(warmup):
            for predict, batch in zip(predictors, inputs, strict=True):
                predict(batch)
            progress(0.1 * (i + 1) / max(1, warmup), "warming up")
        times: list[list[float]] = [[], []]
        for i in range(pairs):
            order = (0, 1) if i % 2 == 0 else (1, 0)  # who goes first alternates: drift hits both alike
            for which in order:
                start = time.perf_counter()
                predictors[which](inputs[which])
                times[which].append((time.perf_counter() - start) * 1000)
            progress(0.1 + 0.9 * (i + 1) / pairs, f"timed pair {i + 1}/{pairs}")
    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    mine, theirs = np.array(times[0]), np.array(times[1])
    resampled = rng.integers(0, pairs, size=(2000, pairs))
    ratios = np.median(mine[resampled], axis=1) / np.median(theirs[resampled], axis=1)
    low, high = np.percentile(ratios, [2.5, 97.5])
    context = {"cpu": _cpu_model(), "runtime_version": _runtime_version(runtime), "load_before": load_before,
               "load_after": load_after}  # fmt: skip
    return PairedLatency(
        ratio=float(np.median(mine) / np.median(theirs)), ratio_ci95=(float(low), float(high)),
        median_ms=float(np.median(mine)), reference_median_ms=float(np.median(theirs)),
        p90_ms=float(np.percentile(mine, 90)), reference_p90_ms=float(np.percentile(theirs, 90)),
        cv=_cv(times[0]), reference_cv=_cv(times[1]), pairs=pairs, runtime=runtime, threads=threads, context=context,
    )  # fmt: skip
