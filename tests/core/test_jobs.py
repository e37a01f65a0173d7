"""Progress and cancellation: the progress call is the cancellation checkpoint."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from core.data import open_dataset
from core.jobs import Cancelled, CancelToken, Progress
from core.metrics.accuracy import evaluate
from core.metrics.latency import benchmark
from core.zoo.loading import create_model
from core.zoo.registry import ModelSpec


def test_spans_map_child_progress_into_the_parent_range() -> None:
    seen: list[tuple[float, str]] = []
    parent = Progress(lambda f, m: seen.append((round(f, 3), m)))
    child = parent.span(0.5, 1.0).span(0.0, 0.5)
    child(0.0, "a")
    child(1.0, "b")
    child(2.0, "clamped")
    assert seen == [(0.5, "a"), (0.75, "b"), (0.75, "clamped")]


def test_a_cancelled_token_raises_at_the_next_checkpoint() -> None:
    token = CancelToken()
    progress = Progress(token=token)
    progress(0.1, "fine")
    token.cancel()
    with pytest.raises(Cancelled):
        progress(0.2, "stop")
    with pytest.raises(Cancelled):
        progress.span(0, 1).check()


def _cancel_after_first_report(token: CancelToken) -> tuple[Progress, list[float]]:
    stopped_at: list[float] = []

    def report(fraction: float, message: str) -> None:
        if fraction > 0 and not token.cancelled:
            stopped_at.append(time.perf_counter())
            threading.Timer(0.05, token.cancel).start()

    return Progress(report, token), stopped_at


def test_evaluation_stops_within_two_seconds_of_cancel(val_dir: Path) -> None:
    dataset = open_dataset(val_dir)
    token = CancelToken()
    progress, cancelled_at = _cancel_after_first_report(token)
    model = create_model(ModelSpec("mobilenet_v3_small"), "none")
    with pytest.raises(Cancelled):
        evaluate(model, dataset, threads=1, batch_size=8, progress=progress)
    assert time.perf_counter() - cancelled_at[0] < 2.0
    assert not [t for t in threading.enumerate() if t.name.startswith("decode")]


def test_benchmark_stops_within_two_seconds_of_cancel() -> None:
    token = CancelToken()
    progress, cancelled_at = _cancel_after_first_report(token)
    model = create_model(ModelSpec("mobilenet_v2"), "none")
    with pytest.raises(Cancelled):
        benchmark(model, runs=10_000, warmup=1, threads=1, progress=progress)
    assert time.perf_counter() - cancelled_at[0] < 2.0


@pytest.mark.parametrize("job", ["calibration with equalization", "sensitivity"])
def test_compression_jobs_stop_within_two_seconds_of_cancel(job: str, val_dir: Path) -> None:
    from core.compress.quantize import quantize
    from core.compress.sensitivity import analyze_sensitivity
    from core.recipe import QuantizeStep

    dataset = open_dataset(val_dir)
    token = CancelToken()
    progress, cancelled_at = _cancel_after_first_report(token)
    model = create_model(ModelSpec("mobilenet_v2"), "none")
    with pytest.raises(Cancelled):
        if job == "sensitivity":
            analyze_sensitivity(model, dataset, images=256, progress=progress)
        else:
            quantize(model, QuantizeStep(reduce_range=True, calibration_images=1000), calib=dataset, progress=progress)
    assert time.perf_counter() - cancelled_at[0] < 2.0
