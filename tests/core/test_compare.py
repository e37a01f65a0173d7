"""Comparing variants: rows from stored metrics, the Pareto front, recommendations, re-measuring."""

from __future__ import annotations

from pathlib import Path

from core.compare import pareto_front, recommend, variant_rows
from core.compress.pipeline import remeasure
from core.data import open_dataset
from core.project import Project, Variant
from core.zoo.loading import create_model
from core.zoo.registry import ModelSpec
from core.zoo.weights import WeightsInfo


def _variant(vid: str, parent: str | None, top1: float | None, latency: float | None, size: float,
             n: int = 100) -> Variant:  # fmt: skip
    metrics: dict = {"size_bytes": size * 1e6, "macs": 300e6, "params": 3.5e6}
    if top1 is not None:
        metrics["accuracy"] = {"top1": top1, "top5": 90.0, "n": n, "top1_ci95": [top1 - 5, top1 + 5]}
    if latency is not None:
        metrics["latency"] = {"median_ms": latency, "p90_ms": latency * 1.2, "cv": 0.05}
    return Variant(
        vid, vid, "model.pt", "state_dict", None, WeightsInfo("untrained", "untrained"), parent=parent, metrics=metrics
    )


def test_pareto_front_keeps_only_undominated_points_in_cost_order() -> None:
    points = [(30.0, 78.0), (10.0, 77.5), (12.0, 70.0), (10.0, 77.5), (40.0, 78.0), (5.0, 60.0)]
    assert pareto_front(points) == [5, 1, 3, 0]  # ties both stay; (12, 70) and (40, 78) are beaten


def test_rows_compare_with_the_parent_only_on_the_same_images() -> None:
    rows = variant_rows([
        _variant("fp32", None, 78.0, 30.0, 14.0),
        _variant("int8", "fp32", 77.0, 10.0, 3.9),
        _variant("other-images", "fp32", 70.0, 12.0, 3.9, n=50),
        _variant("untimed", "fp32", None, None, 2.0),
    ])  # fmt: skip
    by_id = {row.id: row for row in rows}
    assert by_id["int8"].retention == 77.0 / 78.0 and by_id["int8"].speedup == 3.0
    assert by_id["other-images"].retention is None  # 50 vs 100 images: no ratio is made up
    assert by_id["untimed"].latency_ms is None and by_id["untimed"].speedup is None
    assert by_id["fp32"].retention is None and by_id["int8"].top1_ci95 == (72.0, 82.0)


def test_recommendations_name_fastest_smallest_and_the_fastest_near_lossless() -> None:
    rows = variant_rows([
        _variant("fp32", None, 78.0, 30.0, 14.0),
        _variant("int8", "fp32", 77.4, 10.0, 3.9),
        _variant("pruned-int8", "int8", 60.0, 6.0, 1.5),
    ])  # fmt: skip
    picks = {r.title: r.row.id for r in recommend(rows)}
    assert picks == {"Fastest": "pruned-int8", "Smallest": "pruned-int8", "Best balance": "int8"}
    assert recommend(variant_rows([_variant("untimed", None, None, None, 1.0)]))[0].title == "Smallest"


def test_remeasure_stores_latency_per_resolution_memory_and_accuracy(tmp_path: Path, val_dir: Path) -> None:
    project = Project.create(tmp_path / "p")
    model = create_model(ModelSpec("mobilenet_v3_small", resolution=96), "none")
    variant = project.add_variant(model, "tiny")
    evaluation = open_dataset(val_dir, limit=8)
    updated = remeasure(project, variant.id, evaluation=evaluation, latency_runs=3, memory=True,
                        resolutions=(64, 96))  # fmt: skip
    metrics = Project.open(project.root).variant(variant.id).metrics
    assert metrics == updated.metrics
    assert metrics["latency"]["runs"] == 3 and metrics["latency"]["input_size"] == 96
    assert {size: m["input_size"] for size, m in metrics["latency_by_resolution"].items()} == {"64": 64, "96": 96}
    assert metrics["latency_by_resolution"]["64"]["fps"] > 0
    assert metrics["memory"]["peak_mb"] > metrics["memory"]["baseline_mb"] > 0
    assert metrics["accuracy"]["n"] == 8
