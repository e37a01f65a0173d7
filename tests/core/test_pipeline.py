"""Recipes run end to end: variants with lineage, timings and measured metrics; CLI `compress`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.cli import main
from core.compress.pipeline import compress, replay_recipe
from core.data import open_dataset
from core.errors import StudioError
from core.export.source import from_project
from core.project import Project
from core.recipe import FinetuneStep, PruneStep, QuantizeStep, Recipe, RecipeError, load_recipe, preset_names
from core.runtime import predictor_for
from core.zoo.loading import create_model
from core.zoo.registry import ModelSpec

RES = 96
SMALL = Recipe(
    "small test",
    (
        PruneStep(ratio=0.3, iterations=2),
        FinetuneStep(epochs=1, batch_size=16, labels=False, distill=True, bn_recalibration_images=32),
        QuantizeStep(calibration_images=16),
    ),
)


@pytest.fixture(scope="module")
def data(shared: Path, imagenette_dir: Path, val_dir: Path) -> dict:
    return {
        "calib": open_dataset(shared / "datasets" / "imagenet_calib1000", limit=32),
        "train": open_dataset(imagenette_dir / "train", limit=48),
        "evaluation": open_dataset(val_dir, limit=32),
    }


def test_a_recipe_becomes_a_measured_variant_with_lineage(tmp_path: Path, data: dict) -> None:
    model = create_model(ModelSpec("mobilenet_v3_small", resolution=RES), "pretrained")
    project = Project.create(tmp_path / "p")
    result = compress(model, SMALL, project, **data)
    metrics = result.metrics
    # The float graph before int8 is a variant of its own, the int8 variant's parent.
    assert result.float_graph is not None and result.float_graph.parent == result.parent.id
    assert result.variant.parent == result.float_graph.id
    assert from_project(project.root, result.variant.id).parent_problem is None, "re-quantizing exporters can run"
    parent = result.parent.metrics
    assert [s.step for s in metrics.steps] == ["prune", "finetune", "quantize"]
    assert metrics.macs and parent.macs and metrics.macs < 0.7 * parent.macs
    assert metrics.size_bytes and parent.size_bytes and metrics.size_bytes < 0.3 * parent.size_bytes
    assert metrics.accuracy and parent.accuracy and metrics.accuracy.n == parent.accuracy.n == 32
    assert metrics.latency_ms and metrics.latency_ms > 0
    reopened = Project.open(tmp_path / "p")
    stored = reopened.variant(result.variant.id)
    assert Recipe.from_dict(stored.recipe).steps == SMALL.steps[-1:], "each variant keeps the steps from its parent"
    assert replay_recipe(reopened, stored.id) == SMALL, "its lineage replays the whole recipe"
    reloaded = reopened.load(stored.id)
    x = np.random.default_rng(0).standard_normal((1, 3, RES, RES), dtype=np.float32)
    with predictor_for(result.model, "torch", 1) as a, predictor_for(reloaded, "torch", 1) as b:
        assert np.array_equal(a(x), b(x))


def test_missing_data_fails_before_any_work(tmp_path: Path) -> None:
    model = create_model(ModelSpec("mobilenet_v3_small", resolution=RES), "none")
    project = Project.create(tmp_path / "p")
    with pytest.raises(RecipeError, match="needs calibration images"):
        compress(model, SMALL, project)
    assert Project.open(tmp_path / "p").variants == [], "nothing stored"


def test_presets_ship_and_load() -> None:
    assert preset_names() == ["balanced", "fastest", "near-lossless-int8", "smallest"]
    assert load_recipe("Balanced").name == "Balanced"
    with pytest.raises(RecipeError, match="presets: balanced"):
        load_recipe("tiny")


def test_cli_compress_prints_one_json_object(tmp_path: Path, capsys, shared: Path, val_dir: Path) -> None:
    recipe = tmp_path / "int8.json"
    recipe.write_text(Recipe("int8", (QuantizeStep(calibration_images=16),)).to_json())
    argv = ["compress", "mobilenet_v3_small:res=96", "--recipe", str(recipe), "--calib",
            str(shared / "datasets" / "imagenet_calib1000"), "--eval", str(val_dir), "--eval-limit", "24",
            "--out", str(tmp_path / "proj"), "--threads", "1", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("variant", "top1", "top1_parent", "macs", "size_bytes", "latency_ms", "seconds"):
        assert key in out, key
    assert out["n"] == 24 and out["size_bytes"] < 0.35 * out["size_bytes_parent"]
    without_eval = [*argv[:3], "balanced", *argv[4:6], "--out", str(tmp_path / "other")]
    assert main(without_eval) == 2
    assert "needs labelled evaluation images to verify the target on (--eval)" in capsys.readouterr().err
    assert not (tmp_path / "other").exists()


def test_pipeline_rejects_models_it_cannot_compress(tmp_path: Path) -> None:
    from core.runtime import export_onnx
    from core.zoo.loading import load_model_file

    onnx_model = load_model_file(export_onnx(ModelSpec("mobilenet_v3_small", resolution=64).build(),
                                             tmp_path / "m.onnx", 64))
    with pytest.raises(StudioError) as excinfo:
        compress(onnx_model, Recipe("fp16", (QuantizeStep(mode="fp16"),)), Project.create(tmp_path / "p"))
    assert "cannot be compressed" in str(excinfo.value)
