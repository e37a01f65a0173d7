"""Paired latency: two models timed alternately in one process, and the ratio of their medians with a 95 % CI.

On a shared machine an absolute millisecond figure moves with the load; a ratio of two models timed
in turn (ABAB…, who goes first alternating) sees the same load on both and holds. Several models are timed
the same way in rounds, each round in a rotated order, and each is compared with the first. The interval is a
bootstrap over the pairs; a run whose spread is wide is flagged as noisy.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from core.errors import StudioError
from core.jobs import Progress, silent
from core.metrics.records import read_flat
from core.model import LoadedModel
from core.runtime import Predictor, predictor_for
from core.runtimes import Runtime

NOISY_CV = 0.25  # coefficient of variation of either model's times
NOISY_CI = 0.15  # CI width relative to the ratio
# The bootstrap over one session's rounds misses what moves between sessions: two copies of one V3-Small, timed
# in three sessions here, gave ratios from 0.99 to 1.01, each with an interval of about ±1 %. So an interval is
# never narrower than ±RESOLUTION of its ratio: smaller differences are not resolved.
RESOLUTION = 0.02


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
    against: str = ""  # as a project stores it: the variant id it was timed against
    retried: bool = False  # timed again, alone with the reference and for longer, because it was noisy

    @property
    def noisy(self) -> bool:
        width = self.ratio_ci95[1] - self.ratio_ci95[0]
        return max(self.cv, self.reference_cv) > NOISY_CV or width > NOISY_CI * self.ratio

    def text(self) -> str:
        low, high = self.ratio_ci95
        noisy = ", noisy" if self.noisy else ""
        return f"{self.ratio:.2f}× [{low:.2f}, {high:.2f}] in {self.runtime}, {self.pairs} pairs{noisy}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio_ci95"] = [round(v, 4) for v in self.ratio_ci95]
        data["noisy"] = self.noisy
        if not self.against:
            del data["against"]
        if not self.retried:
            del data["retried"]
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in data.items()}

    @classmethod
    def read(cls, stored: Any) -> PairedLatency | None:
        return read_flat(cls, stored)


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):  # noqa: SIM115 - read a few lines only
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _runtime_version(runtime: str) -> str:
    """The runtime's name and version, as the run's context records it."""
    from importlib import metadata

    package = Runtime(runtime).package
    try:
        return f"{package} {metadata.version(package)}"
    except metadata.PackageNotFoundError:
        return package


def _cv(times: np.ndarray) -> float:
    mean = float(np.mean(times))
    return float(np.std(times)) / mean if mean else 0.0


def interleaved(
    predictors: Sequence[Predictor],
    inputs: Sequence[np.ndarray],
    *,
    runtime: str,
    threads: int,
    rounds: int = 30,
    warmup: int = 5,
    seed: int = 0,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> list[PairedLatency]:
    """Time ready `predictors` in rounds, each round in a rotated order (so drift and who-goes-first hit all
    alike), and compare each with the first: one PairedLatency per predictor after the first. `clock` reads
    seconds."""
    progress = progress or silent()
    count = len(predictors)
    if count < 2 or len(inputs) != count:
        raise StudioError("a paired latency needs a reference and at least one model to compare, with an input each")
    if rounds < 2:
        raise StudioError("a paired latency needs at least 2 pairs")
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    for i in range(warmup):
        for predict, batch in zip(predictors, inputs, strict=True):
            predict(batch)
        progress(0.1 * (i + 1) / max(1, warmup), "warming up")
    times = np.empty((count, rounds))
    for r in range(rounds):
        for offset in range(count):
            which = (r + offset) % count
            start = clock()
            predictors[which](inputs[which])
            times[which, r] = (clock() - start) * 1000
        progress(0.1 + 0.9 * (r + 1) / rounds, f"timed round {r + 1}/{rounds}")
    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    context = {"cpu": _cpu_model(), "runtime_version": _runtime_version(runtime), "load_before": load_before,
               "load_after": load_after}
    # One set of resampled rounds for every model: the ratios are paired, round by round.
    resampled = np.random.default_rng(seed).integers(0, rounds, size=(2000, rounds))
    reference = times[0]
    reference_medians = np.median(reference[resampled], axis=1)
    results = []
    for mine in times[1:]:
        ratio = float(np.median(mine) / np.median(reference))
        low, high = np.percentile(np.median(mine[resampled], axis=1) / reference_medians, [2.5, 97.5])
        low, high = min(float(low), ratio * (1 - RESOLUTION)), max(float(high), ratio * (1 + RESOLUTION))
        results.append(PairedLatency(
            ratio=ratio, ratio_ci95=(low, high),
            median_ms=float(np.median(mine)), reference_median_ms=float(np.median(reference)),
            p90_ms=float(np.percentile(mine, 90)), reference_p90_ms=float(np.percentile(reference, 90)),
            cv=_cv(mine), reference_cv=_cv(reference), pairs=rounds, runtime=runtime, threads=threads,
            context=context,
        ))
    return results


def random_inputs(models: Sequence[LoadedModel], seed: int) -> list[np.ndarray]:
    """One random float image per model, at its own input size: what latency is timed on."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((1, 3, m.card.input_size, m.card.input_size), dtype=np.float32) for m in models]


def interleaved_latency(
    models: Sequence[LoadedModel],
    *,
    runtime: str = "torch",
    threads: int = 1,
    rounds: int = 30,
    warmup: int = 5,
    seed: int = 0,
    progress: Progress | None = None,
) -> list[PairedLatency]:
    """Every model after the first timed against the first in one interleaved session (each on its own input
    size), in torch or ONNX Runtime."""
    progress = progress or silent()
    progress(0.0, f"preparing {runtime}")
    with ExitStack() as stack:
        predictors = [stack.enter_context(predictor_for(m, runtime, threads, spin=False)) for m in models]
        return interleaved(predictors, random_inputs(models, seed), runtime=runtime, threads=threads, rounds=rounds,
                           warmup=warmup, seed=seed, progress=progress)


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
    (result,) = interleaved_latency([reference, variant], runtime=runtime, threads=threads, rounds=pairs,
                                    warmup=warmup, seed=seed, progress=progress)
    return result
