"""Paired comparisons: latency timed in turn, accuracy on the same images, re-measuring a whole project, and the
`--against` options of eval and bench."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from core.cli import main
from core.compare import collapsed, recommend, variant_rows
from core.data import open_dataset
from core.metrics.accuracy import evaluate
from core.metrics.paired import paired_accuracy
from core.metrics.paired_latency import interleaved, paired_latency
from core.project import Project
from core.remeasure import remeasure_all
from core.runtimes import Runtime
from core.zoo.loading import create_model
from core.zoo.registry import ModelSpec
from tests.helpers import TINY


@pytest.fixture(scope="module")
def small():
    return create_model(ModelSpec("mobilenet_v3_small", resolution=128), "pretrained")


def _timed_by(clock: list[float], rng: np.random.Generator, milliseconds: float) -> Callable[[np.ndarray], None]:
    """A predictor that takes `milliseconds` of a fake clock, with 15 % lognormal noise."""

    def predict(_: np.ndarray) -> None:
        clock[0] += milliseconds / 1000 * rng.lognormal(0.0, 0.15)

    return predict


def test_models_with_the_same_times_get_a_ratio_whose_interval_holds_one_and_half_the_time_half() -> None:
    # The times come from a seeded fake clock, not this computer's: the statistics are checked, not the machine.
    clock, rng, image = [0.0], np.random.default_rng(3), np.zeros((1, 3, 8, 8), dtype=np.float32)
    same, half = interleaved([_timed_by(clock, rng, 10.0), _timed_by(clock, rng, 10.0), _timed_by(clock, rng, 5.0)],
                             [image] * 3, runtime="torch", threads=1, rounds=40, clock=lambda: clock[0])
    assert same.ratio_ci95[0] <= 1.0 <= same.ratio_ci95[1], same.text()
    assert 0.45 < half.ratio < 0.55 and half.ratio_ci95[1] < 1.0, half.text()


def test_two_copies_of_one_model_are_timed_in_turn_with_their_context(small) -> None:
    timing = paired_latency(copy.deepcopy(small), small, runtime="torch", threads=1, pairs=10)
    assert timing.pairs == 10 and timing.median_ms > 0 and timing.reference_median_ms > 0 and timing.context["cpu"]
    assert timing.ratio_ci95[0] <= timing.ratio <= timing.ratio_ci95[1]


def test_the_paired_interval_is_narrower_than_either_unpaired_interval_on_the_same_images(small, val_dir) -> None:
    images = open_dataset(val_dir, limit=200)
    smaller = create_model(ModelSpec("mobilenet_v3_small", resolution=112), "pretrained")
    mine, theirs = evaluate(smaller, images, threads=1), evaluate(small, images, threads=1)
    assert mine.images_id == theirs.images_id
    paired = paired_accuracy(mine.hits, theirs.hits, mine.predicted, theirs.predicted)
    width = paired.delta_top1_ci95[1] - paired.delta_top1_ci95[0]
    for unpaired in (mine.top1_ci95, theirs.top1_ci95):
        assert width < unpaired[1] - unpaired[0], (paired.text(), unpaired)
    assert paired.delta_top1 == pytest.approx(mine.top1 - theirs.top1)


COLLAPSE = 30.0  # points: V3-Small at 128 px scores about 45 % here, and shuffled classifier rows almost nothing


def _collapsed_copy(spec: ModelSpec):
    """The pretrained model with its classifier's rows shuffled: it runs as fast as ever and names wrong classes."""
    model = create_model(spec, "pretrained")
    assert model.module is not None
    last = model.module.classifier[-1]
    with torch.no_grad():
        order = torch.randperm(last.weight.shape[0], generator=torch.Generator().manual_seed(0))
        last.weight.copy_(last.weight[order])
        last.bias.copy_(last.bias[order])
    return model


def test_a_collapsed_variant_is_never_recommended_after_re_measuring_all(small, val_dir, tmp_path: Path) -> None:
    project = Project.create(tmp_path / "p")
    original = project.add_variant(small, "original")
    copied = project.add_variant(copy.deepcopy(small), "copy", parent=original.id)
    broken = project.add_variant(_collapsed_copy(ModelSpec("mobilenet_v3_small", resolution=64)), "collapsed at 64 px",
                                 parent=original.id)
    evaluation = open_dataset(val_dir, limit=100)
    done = remeasure_all(project, runtimes=("torch", "onnxruntime"), evaluation=evaluation, threads=1, rounds=10)
    assert set(done.timed) == {copied.id, broken.id} and set(done.scored) == {copied.id, broken.id}
    stored = Project.open(project.root).variant(broken.id).metrics
    assert set(stored.paired_latency) == {Runtime.TORCH, Runtime.ONNXRUNTIME}, "each runtime's timing is kept"
    assert stored.paired_latency[Runtime.TORCH].against == original.id
    rows = {r.id: r for r in variant_rows(Project.open(project.root).variants)}
    assert rows[broken.id].latency_ratio < rows[copied.id].latency_ratio, "the collapsed variant is the fastest"
    assert rows[copied.id].delta_top1 == 0.0 and rows[broken.id].delta_top1 < -COLLAPSE
    advice = recommend(list(rows.values()), max_drop=1.0)
    assert broken.id not in advice.titles().values()
    assert collapsed(rows[broken.id], 1.0) and any(row.id == broken.id for row, _ in advice.excluded)


def test_eval_and_bench_against_the_parent_print_paired_figures(capsys, small, val_dir, tmp_path: Path) -> None:
    project = Project.create(tmp_path / "p")
    original = project.add_variant(small, "original")
    smaller = create_model(ModelSpec("mobilenet_v3_small", resolution=96), "pretrained")
    child = project.add_variant(smaller, "96 px", parent=original.id)
    reference = f"{project.root}:{child.id}"
    assert main(["eval", reference, "--against", "parent", "--data", str(val_dir), "--limit", "60", "--threads", "1",
                 "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert scored["n"] == 60 and scored["against"] == "original"
    low, high = scored["delta_top1_ci95"]
    assert low <= scored["delta_top1"] <= high and 0 <= scored["agreement"] <= 100
    assert main(["bench", reference, "--against", "original", "--runs", "10", "--warmup", "1", "--threads", "1",
                 "--json"]) == 0
    timed = json.loads(capsys.readouterr().out)
    assert timed["ratio_ci95"][0] <= timed["ratio"] <= timed["ratio_ci95"][1]
    assert timed["median_ms"] > 0 and timed["reference_median_ms"] > 0 and timed["runtime"] == "torch"
    assert main(["bench", "mobilenet_v3_small:res=96", "--against", "parent", "--json"]) == 2
    assert "needs a project variant" in capsys.readouterr().err


def test_re_measure_all_times_exported_files_in_litert_and_reuses_them(calib_dir, tmp_path: Path) -> None:
    project = Project.create(tmp_path / "p")
    original = project.add_variant(create_model(TINY, "none"), "original")
    smaller = project.add_variant(create_model(ModelSpec("mobilenet_v3_small", resolution=64), "none"), "64 px",
                                  parent=original.id)
    calib = open_dataset(calib_dir, limit=16)
    remeasure_all(project, runtimes=("litert",), calib=calib, threads=1, rounds=10)
    files = {v.id: sorted((project.variant_dir(v) / "artifacts").glob("*.tflite")) for v in (original, smaller)}
    assert all(len(found) == 1 for found in files.values()), files
    made = {vid: found[0].stat().st_mtime_ns for vid, found in files.items()}
    timed = Project.open(project.root).variant(smaller.id).metrics.paired_latency[Runtime.LITERT]
    assert timed.against == original.id and timed.threads == 1
    assert "ai-edge-litert" in timed.context["runtime_version"]
    assert timed.ratio < 1.0, "64 px runs faster than 96 px in LiteRT"
    remeasure_all(project, runtimes=("litert",), calib=calib, threads=1, rounds=10)
    assert {vid: found[0].stat().st_mtime_ns for vid, found in files.items()} == made, "the files are reused"
