"""Resolution as a compression step: the input size flows through the card, MACs, evaluation, storage and export."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.compress.pipeline import compress
from core.compress.resolution import at_resolution
from core.data import Preprocessing, open_dataset
from core.export.job import ExportOptions
from core.export.registry import FORMATS
from core.export.run import export_model
from core.export.source import from_project
from core.metrics.complexity import analyze_complexity
from core.project import Project
from core.recipe import Recipe, ResolutionStep
from core.zoo.loading import create_model
from core.zoo.registry import ARCHITECTURES, ModelSpec


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_a_smaller_input_is_stored_and_reloads_at_its_size(arch: str, tmp_path: Path) -> None:
    parent = create_model(ModelSpec(arch, width=0.5, resolution=128), "none")
    resized = at_resolution(parent, ResolutionStep(input_size=96, crop_fraction=0.8))
    assert (resized.card.input_size, resized.card.resize_size) == (96, 120)
    macs = [analyze_complexity(m.module, m.card.input_size).macs for m in (parent, resized)]
    # Convolutions scale with the pixel count; the classifier's MACs (a large share in V3-Small) do not.
    assert (96 / 128) ** 2 - 0.01 < macs[1] / macs[0] < 0.65
    project = Project.create(tmp_path / "proj")
    variant = project.add_variant(resized, "96 px")  # written as a state_dict, reloaded with weights_only=True
    reloaded = Project.open(project.root).load(variant.id)
    assert (reloaded.card.input_size, reloaded.card.crop_fraction) == (96, 0.8)
    assert Preprocessing.for_card(reloaded.card) == Preprocessing(96, 120, parent.card.mean, parent.card.std)


def test_a_resized_variant_is_measured_and_exports_to_onnx_at_its_input_size(tmp_path: Path, val_dir: Path) -> None:
    parent = create_model(ModelSpec("mobilenet_v3_small", resolution=128), "pretrained")
    recipe = Recipe("small input", (ResolutionStep(input_size=96),))
    project = Project.create(tmp_path / "proj")
    evaluation = open_dataset(val_dir, limit=12)
    result = compress(parent, recipe, project, evaluation=evaluation)
    made, parent_macs = result.metrics.macs, result.parent.metrics.macs
    assert made and parent_macs and made < 0.65 * parent_macs
    assert result.model.card.input_size == 96
    report = export_model(from_project(project.root, result.variant.id), [FORMATS["onnx"]], tmp_path / "out",
                          options=ExportOptions(latency_runs=0), evaluation=evaluation)
    onnx = report.results[0]
    assert onnx.verified and report.source["input_size"] == 96, onnx.verification


def test_a_resized_float_model_exports_to_tflite_at_its_input_size(tmp_path: Path, val_dir: Path) -> None:
    from core.export.source import from_model

    parent = create_model(ModelSpec("mobilenet_v3_small", resolution=128), "pretrained")
    resized = at_resolution(parent, ResolutionStep(input_size=96))
    report = export_model(from_model(resized), [FORMATS["tflite"]], tmp_path / "out",
                          options=ExportOptions(latency_runs=0), evaluation=open_dataset(val_dir, limit=8))
    tflite = report.results[0]
    assert tflite.verified, tflite.verification
    assert tflite.details["input"]["shape"] == [1, 3, 96, 96]


def test_bn_re_estimation_at_the_new_size_needs_calibration_images() -> None:
    from core.recipe import RecipeError

    recipe = Recipe("r", (ResolutionStep(input_size=160, bn_recalibration_images=256),))
    with pytest.raises(RecipeError, match="calibration images"):
        recipe.check_data(set())
