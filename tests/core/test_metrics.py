"""Metrics: statistics, latency, peak memory, accuracy bookkeeping, size."""

from __future__ import annotations

import pytest

from core.metrics.latency import benchmark, summarize
from core.metrics.memory import measure_peak_memory
from core.metrics.size import state_dict_bytes
from core.metrics.stats import percentile, wilson_interval
from core.zoo.loading import create_model
from core.zoo.registry import ModelSpec


def test_wilson_interval_matches_textbook_values() -> None:
    low, high = wilson_interval(80, 100)
    assert low == pytest.approx(71.1, abs=0.1) and high == pytest.approx(86.7, abs=0.1)
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(10, 10)[1] == pytest.approx(100.0)
    assert wilson_interval(0, 0) == (0.0, 0.0)


def test_percentile_interpolates() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 90) == pytest.approx(9.1)
    with pytest.raises(ValueError):
        percentile([], 50)


def test_latency_summary_is_consistent() -> None:
    result = summarize([10.0, 12.0, 11.0, 30.0], runtime="torch", threads=1, batch=2, input_size=224, warmup=1)
    assert result.median_ms == 11.5 and result.min_ms == 10.0
    assert result.p90_ms == pytest.approx(24.6)
    assert result.fps == pytest.approx(2000 / 11.5)
    assert result.cv == pytest.approx(result.std_ms / result.mean_ms)


@pytest.mark.parametrize("runtime", ["torch", "onnxruntime"])
def test_benchmark_times_real_runs(runtime: str) -> None:
    model = create_model(ModelSpec("mobilenet_v3_small", resolution=96), "none")
    result = benchmark(model, runtime=runtime, threads=1, runs=8, warmup=2)
    assert result.runs == 8 and result.runtime == runtime and result.threads == 1
    assert 0 < result.min_ms <= result.median_ms <= result.p90_ms
    assert result.fps == pytest.approx(1000 / result.median_ms)


def test_peak_memory_is_measured_in_a_fresh_process() -> None:
    model = create_model(ModelSpec("mobilenet_v2"), "none")
    memory = measure_peak_memory(model, "torch", threads=1, runs=2)
    assert 0 < memory.baseline_mb < memory.loaded_mb <= memory.peak_mb
    # V2's fp32 weights are 14 MB; a forward pass at 224 px needs a few to tens of MB of activations.
    assert 1 < memory.inference_mb < 500
    assert memory.loaded_mb - memory.baseline_mb > 10


def test_state_dict_size_tracks_the_parameter_count() -> None:
    model = create_model(ModelSpec("mobilenet_v2"), "none")
    size = state_dict_bytes(model.module)
    assert size == pytest.approx(3_504_872 * 4, rel=0.05)
