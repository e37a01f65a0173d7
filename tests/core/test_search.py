"""The target search: bad targets fail before any work, the budget holds, cancel is prompt and leaves nothing
half-made, and what is stored is verified and replays without searching."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import pytest

from core.cli import main
from core.compress.pipeline import compress, replay_recipe
from core.compress.search import SCORE_IMAGES, check_feasible, objective_shortfall
from core.data import open_dataset
from core.errors import StudioError
from core.jobs import Cancelled, CancelToken, Progress
from core.metrics.paired_latency import PairedLatency
from core.project import Project, Variant
from core.recipe import Recipe, RecipeError, TargetStep
from core.zoo.loading import create_model
from core.zoo.registry import ModelSpec
from core.zoo.weights import WeightsInfo

RES = 128


@pytest.fixture(scope="module")
def data(calib_dir: Path, val_dir: Path, imagenette_dir: Path) -> dict:
    return {
        "calib": open_dataset(calib_dir, limit=SCORE_IMAGES + 64, seed=0),
        "evaluation": open_dataset(val_dir, limit=64, seed=0),
        "train": open_dataset(imagenette_dir / "train", limit=64, seed=0),
    }


@pytest.fixture(scope="module")
def parent():
    return create_model(ModelSpec("mobilenet_v3_small", resolution=RES), "pretrained")


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--target", "-1", "max_drop must be in"),
        ("--target", "nan", "max_drop must be in"),
        ("--runtime", "tflite", "runtime must be one of torch, onnxruntime"),
        ("--budget", "0", "budget_minutes must be more than 0"),
        ("--objective", "speed", "objective must be one of latency, size, macs"),
        ("--precision", "int4", "precisions must be one of float, int8"),
    ],
)
def test_a_bad_target_is_one_line_exit_2_before_any_work(
    option: str, value: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    arguments = {"--target": "1", option: value}
    out = tmp_path / "project"
    code = main(["compress", "mobilenet_v3_small", "--out", str(out), "--calib", str(tmp_path), "--eval",
                 str(tmp_path), *(part for pair in arguments.items() for part in pair)])  # fmt: skip
    error = capsys.readouterr().err.strip()
    assert code == 2 and len(error.splitlines()) == 1 and message in error, error
    assert not out.exists(), "nothing written"


def test_a_target_recipe_holds_only_its_target_and_round_trips() -> None:
    step = TargetStep(max_drop=0.5, objective="size", precisions=("int8",), budget_minutes=10, seed=3)
    recipe = Recipe("t", (step,))
    assert Recipe.from_json(recipe.to_json()) == recipe
    with pytest.raises(RecipeError, match="only step"):
        Recipe("t", (step, step))
    assert recipe.requirements() == {"calib", "eval"}


def test_a_budget_too_small_to_verify_one_candidate_is_refused_before_anything_is_stored(
    parent, data: dict, tmp_path: Path, calib_dir: Path, val_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    project = Project.create(tmp_path / "p")
    recipe = Recipe("t", (TargetStep(budget_minutes=0.05),))
    with pytest.raises(StudioError, match=r"a budget of 0\.05 min cannot search"):
        compress(parent, recipe, project, **data)
    assert Project.open(project.root).variants == []
    out = tmp_path / "cli"
    code = main(["compress", f"mobilenet_v3_small:res={RES}", "--target", "1", "--budget", "0.05", "--calib",
                 str(calib_dir), "--eval", str(val_dir), "--eval-limit", "64", "--out", str(out)])  # fmt: skip
    assert code == 2 and "cannot search" in capsys.readouterr().err and not out.exists()


def test_too_few_calibration_images_for_the_proxies_are_refused(parent, data: dict) -> None:
    with pytest.raises(StudioError, match=f"needs at least {SCORE_IMAGES + 32} calibration images"):
        check_feasible(parent, TargetStep(), data["calib"].subset(100), data["evaluation"], 1)


def test_the_search_keeps_its_budget_and_stores_only_verified_variants(parent, data: dict, tmp_path: Path) -> None:
    budget = 2.0
    project = Project.create(tmp_path / "p")
    seen: list[dict] = []
    # File size: the original quantized alone (verified first) meets it; V3-Small at 128 px has nothing that
    # meets 4 pt of torch latency within 2 minutes (its int8 is not faster in torch).
    step = TargetStep(max_drop=4.0, objective="size", runtime="torch", budget_minutes=budget, candidates=1)
    started = time.monotonic()
    result = compress(parent, Recipe("t", (step,)), project, **data, on_candidate=seen.append)
    elapsed = time.monotonic() - started
    assert elapsed <= 60 * budget * 1.15, f"{elapsed:.0f} s for a {budget:g} min budget"
    rows = result.metrics["candidates"]
    assert any(r["stage"] == "scan" for r in seen) and any(r["stage"] == "verified" for r in seen)
    chosen = [r for r in rows if r["verdict"] == "chosen"]
    assert len(chosen) == 1 and chosen[0]["variant"] == result.variant.id
    assert all(r["delta_top1"] >= -4.0 for r in rows if r["met_target"])
    assert all(r["variant"] is None for r in rows if not r["met_target"]), "rejected candidates are rows only"
    stored = Project.open(project.root)
    for variant in stored.variants:
        if variant.parent is None:
            continue  # the parent
        children = [v for v in stored.variants if v.parent == variant.id]
        assert "search" in variant.metrics or children, f"{variant.name} was stored without a verdict"
    replay = replay_recipe(stored, result.variant.id)
    assert not any(isinstance(s, TargetStep) for s in replay.steps), "the chosen variant replays without a search"
    assert result.metrics["search"]["verdict"] == "chosen"
    assert math.isfinite(result.metrics["paired_latency"]["torch"]["ratio"])


# Where a cancel lands: while scanning, while distilling a candidate, while verifying one (without training
# images the search goes straight from the scan to verifying).
@pytest.mark.parametrize(("moment", "trains"), [("scan", False), ("epoch", True), ("evaluating", False)])
def test_cancel_stops_the_search_within_two_seconds_and_leaves_nothing_half_made(
    moment: str, trains: bool, parent, data: dict, tmp_path: Path
) -> None:
    project = Project.create(tmp_path / "p")
    token = CancelToken()
    cancelled_at: list[float] = []
    lock = threading.Lock()

    def watch(fraction: float, message: str) -> None:
        # "evaluating" is also the parent's own measurement: cancel at a candidate's, after recovery began.
        with lock:
            started_recovery = fraction > 0.3
            if not cancelled_at and moment in message and (moment == "scan" or started_recovery):
                token.cancel()
                cancelled_at.append(time.monotonic())

    def on_candidate(row: dict) -> None:
        watch(0.0, "scan") if moment == "scan" else None

    step = TargetStep(max_drop=4.0, runtime="torch", budget_minutes=1.5, candidates=1, precisions=("float",))
    given = data if trains else {k: v for k, v in data.items() if k != "train"}
    with pytest.raises(Cancelled):
        compress(parent, Recipe("t", (step,)), project, **given, progress=Progress(watch, token),
                 on_candidate=on_candidate)  # fmt: skip
    assert cancelled_at, f"never reached {moment!r}"
    assert time.monotonic() - cancelled_at[0] <= 2.0
    stored = Project.open(project.root)
    assert [v for v in stored.variants if v.parent is not None and "search" not in v.metrics] == []


def _timed(ratio: float, low: float, high: float) -> PairedLatency:
    return PairedLatency(ratio, (low, high), ratio * 10, 10.0, ratio * 11, 11.0, 0.05, 0.05, 30, "onnxruntime", 1, {})


def _stored(vid: str, size: int, macs: int) -> Variant:
    return Variant(vid, vid, "model.pt", "state_dict", None, WeightsInfo("untrained", "untrained"),
                   metrics={"size_bytes": size, "macs": macs})  # fmt: skip


def test_a_candidate_that_does_not_improve_the_objective_is_never_met_whatever_its_accuracy() -> None:
    # V3-Small's int8 alone met a 1 pt target while running 1.9x slower in ONNX Runtime, and was chosen.
    parent, int8 = _stored("parent", 10_000_000, 60_000_000), _stored("int8", 2_700_000, 60_000_000)
    by_latency = TargetStep(objective="latency")
    assert "not measurably faster" in (objective_shortfall(by_latency, _timed(1.93, 1.85, 2.0), int8, parent) or "")
    assert "not measurably faster" in (objective_shortfall(by_latency, _timed(0.97, 0.95, 1.01), int8, parent) or "")
    assert objective_shortfall(by_latency, _timed(0.59, 0.57, 0.61), int8, parent) is None
    assert objective_shortfall(TargetStep(objective="size"), _timed(1.9, 1.8, 2.0), int8, parent) is None
    by_macs = objective_shortfall(TargetStep(objective="macs"), _timed(0.5, 0.4, 0.6), int8, parent)
    assert "no smaller than the original in macs" in (by_macs or "")
