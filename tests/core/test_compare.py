"""Comparing variants: rows from stored metrics, the Pareto front, recommendations, re-measuring."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from core.compare import collapsed, pareto_front, recommend, variant_rows
from core.compress.pipeline import remeasure
from core.data import open_dataset
from core.metrics.accuracy_text import delta_text, top1_text
from core.metrics.paired import PairedAccuracy
from core.project import Project
from core.runtimes import Runtime
from core.zoo.loading import create_model
from core.zoo.registry import ModelSpec
from tests.helpers import answers, scored_variant


def test_pareto_front_keeps_only_undominated_points_in_cost_order() -> None:
    points = [(30.0, 78.0), (10.0, 77.5), (12.0, 70.0), (10.0, 77.5), (40.0, 78.0), (5.0, 60.0)]
    assert pareto_front(points) == [5, 1, 3, 0]  # ties both stay; (12, 70) and (40, 78) are beaten


def test_rows_pair_with_the_original_only_on_the_same_images_and_only_timed_in_turn() -> None:
    original = scored_variant("fp32", None, *answers({0, 1, 2, 3}))
    same = scored_variant("int8", "fp32", *answers({0, 1, 2, 3, 4}), ratio=(0.4, 0.38, 0.43))
    other = scored_variant("other-images", "fp32", *answers({0}), images="val-b")
    chained = scored_variant("pruned-int8", "int8", *answers({0, 1, 2, 3, 4, 5}))
    rows = {r.id: r for r in variant_rows([original, same, other, chained])}
    assert rows["int8"].delta_top1 == -2.5 and rows["int8"].paired_n == 40 and rows["int8"].agreement == 97.5
    low, high = rows["int8"].delta_top1_ci95 or (0, 0)
    assert low < -2.5 < high <= 0, "one lost image, none gained: the interval never reaches above zero"
    assert rows["int8"].latency_ratio == 0.4 and rows["int8"].latency_ratio_ci95 == (0.38, 0.43)
    assert rows["other-images"].delta_top1 is None, "scored on other images: no difference is made up"
    assert rows["pruned-int8"].against == "fp32" and rows["pruned-int8"].delta_top1 == -5.0
    assert rows["pruned-int8"].latency_ratio is None, "timed against its parent at most, never with the original"
    assert rows["fp32"].is_original and rows["fp32"].delta_text() == "original"
    assert rows["int8"].delta_text().startswith("−2.5 pt [") and rows["int8"].delta_text().endswith(", 40 images")


def test_accuracy_reads_as_percent_plus_minus_half_its_interval_and_images_everywhere() -> None:
    assert top1_text(80.4, (76.9, 83.9), 500) == "80.4 % (±3.5, 500 images)"
    assert top1_text(80.4, None, 1) == "80.4 % (1 image)" and top1_text(80.4, None, None) == "80.4 %"
    rows = {r.id: r for r in variant_rows([scored_variant("fp32", None, *answers(set())),
                                           scored_variant("int8", "fp32", *answers({0, 1}))])}
    assert rows["int8"].top1_text() == "95.0 % (±5.0, 40 images)"
    int8 = rows["int8"]
    paired = PairedAccuracy(int8.delta_top1 or 0, int8.delta_top1_ci95 or (0, 0), int8.agreement or 0, 40)
    assert paired.text() == int8.delta_text() == delta_text(-5.0, int8.delta_top1_ci95 or (0, 0), 40), (
        "the command line, a search's reasons and the studio word a paired difference alike")
    assert delta_text(-0.3, (-0.9, 0.2), 1300) == "−0.3 pt [−0.9, +0.2], 1300 images"


def test_a_top1_names_its_images_and_a_runtime_other_than_pytorch() -> None:
    torch_scored, ort_scored = (scored_variant(vid, None, *answers({0, 1})) for vid in ("a", "b"))
    for scored, runtime in ((torch_scored, Runtime.TORCH), (ort_scored, Runtime.ONNXRUNTIME)):
        assert scored.metrics.accuracy is not None
        scored.metrics = scored.metrics.updated(accuracy=replace(scored.metrics.accuracy, runtime=runtime,
                                                                 dataset="/data/imagenet_val1300"))
    rows = {r.id: r for r in variant_rows([torch_scored, ort_scored])}
    assert rows["a"].top1_text() == "95.0 % (±5.0, 40 images of imagenet_val1300)"
    assert rows["b"].top1_text() == "95.0 % (±5.0, 40 images of imagenet_val1300 in ONNX Runtime)"


def test_recommendations_keep_to_the_target_name_their_evidence_and_say_why_others_are_left_out() -> None:
    rows = variant_rows([
        scored_variant("fp32", None, *answers(set()), size=14.0),
        scored_variant("int8", "fp32", *answers({0}), ratio=(0.40, 0.38, 0.43)),
        scored_variant("collapsed", "fp32", *answers(set(range(30))), ratio=(0.20, 0.19, 0.22), size=1.5),
        scored_variant("unpaired", "fp32", *answers(set()), images="val-b", ratio=(0.1, 0.09, 0.11), size=1.0),
    ])
    advice = recommend(rows, max_drop=3.0)
    # int8 lost 2.5 pt on 40 images: its estimate meets 3 pt, its interval does not rule out more; only the
    # original is confirmed within the target.
    assert advice.titles() == {"Fastest": "int8", "Smallest": "int8", "Best balance": "fp32"}
    fastest = advice.picks[0]
    assert "0.40× [0.38, 0.43]" in fastest.why and "in torch" in fastest.why and "40 images" in fastest.why
    assert fastest.weak, "40 images are thin evidence"
    assert "not confirmed" in fastest.why and "within" not in fastest.why
    left_out = {row.id: why for row, why in advice.excluded}
    assert set(left_out) == {"collapsed", "unpaired"}
    assert "below −3 pt" in left_out["collapsed"] and "not measured on the original's images" in left_out["unpaired"]
    assert collapsed(next(r for r in rows if r.id == "collapsed"), 3.0) is not None
    strict = recommend(rows, max_drop=1.0)
    assert strict.titles() == {"Fastest": "fp32", "Smallest": "fp32", "Best balance": "fp32"}, (
        "within 1 pt only the original remains: it is recommended, and int8 is left out with its figure")
    assert any(row.id == "int8" and "misses the 1 pt target" in why for row, why in strict.excluded)


def test_remeasure_stores_latency_per_resolution_memory_and_accuracy(tmp_path: Path, val_dir: Path) -> None:
    project = Project.create(tmp_path / "p")
    model = create_model(ModelSpec("mobilenet_v3_small", resolution=96), "none")
    variant = project.add_variant(model, "tiny")
    evaluation = open_dataset(val_dir, limit=8)
    updated = remeasure(project, variant.id, evaluation=evaluation, latency_runs=3, memory=True,
                        resolutions=(64, 96))
    metrics = Project.open(project.root).variant(variant.id).metrics
    assert metrics == updated.metrics
    assert metrics.latency is not None and metrics.latency.runs == 3 and metrics.latency.input_size == 96
    assert {size: m.input_size for size, m in metrics.latency_by_resolution.items()} == {64: 64, 96: 96}
    assert metrics.latency_by_resolution[64].fps > 0
    assert metrics.memory is not None and metrics.memory.peak_mb > metrics.memory.baseline_mb > 0
    assert metrics.accuracy is not None and metrics.accuracy.n == 8
