"""A variant's stored metrics are read in one place, into typed values; what is missing or malformed reads as
None, never as a made-up figure, and what a project stores says its layout's version."""

from __future__ import annotations

from core.metrics.stored import METRICS_VERSION, VariantMetrics
from core.project import Project
from core.recipe import Verdict
from core.runtimes import Runtime
from core.zoo.loading import create_model
from tests.helpers import TINY


def test_stored_figures_read_as_typed_values() -> None:
    read = VariantMetrics.read({
        "size_bytes": 2_540_000, "latency": {"median_ms": 4.2}, "memory": {"peak_mb": 61.0},
        "accuracy": {"top1": 98.4, "n": 500, "top1_ci95": [97.3, 99.5], "dataset": "/photos/val",
                     "runtime": "onnxruntime", "images_id": "ab12", "per_image": {"hits": "10", "predicted": [3, 7]}},
        "paired_latency": {"litert": {"ratio": 0.54, "ratio_ci95": [0.53, 0.56], "against": "root"}},
        "latency_by_resolution": {"224": {"fps": 31.0}, "160": {"fps": 55.5}},
        "search": {"verdict": "chosen"},
    })
    assert read.version == 1 and read.size_bytes == 2_540_000 and read.latency_ms == 4.2 and read.memory_mb == 61.0
    assert read.accuracy is not None and read.accuracy.runtime is Runtime.ONNXRUNTIME and read.accuracy.per_image
    assert read.accuracy.source == "val in ONNX Runtime"
    assert read.paired_latency[Runtime.LITERT].ratio_ci95 == (0.53, 0.56)
    assert read.fps_by_resolution == ((160, 55.5), (224, 31.0)) and read.search_verdict is Verdict.CHOSEN


def test_missing_or_malformed_figures_read_as_none_not_as_made_up_ones() -> None:
    read = VariantMetrics.read({
        "size_bytes": "big", "latency": [], "accuracy": {"top1": None, "n": 40},
        "paired_latency": {"litert": {"ratio": 0.5}, "quantum": {"ratio": 0.1, "ratio_ci95": [0.1, 0.1]}},
        "latency_by_resolution": {"huge": {"fps": 1.0}}, "search": {"verdict": "maybe"},
    })
    assert read.size_bytes is None and read.latency_ms is None and read.accuracy is None
    assert dict(read.paired_latency) == {}, "a ratio without its interval, or an unknown runtime, is not a timing"
    assert read.fps_by_resolution == () and read.search_verdict is None


def test_a_stored_variants_metrics_say_their_layout_version(tmp_path) -> None:
    project = Project.create(tmp_path / "p")
    variant = project.add_variant(create_model(TINY, "none"), "tiny", metrics={"size_bytes": 1.0})
    reopened = Project.open(project.root).variant(variant.id)
    assert reopened.metrics["version"] == METRICS_VERSION and VariantMetrics.read(reopened.metrics).size_bytes == 1.0
