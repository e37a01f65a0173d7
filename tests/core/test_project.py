"""Project store: variants with lineage, reopen, atomic writes, and refusal of bad folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from core.errors import ProjectError
from core.metrics.stored import VariantMetrics
from core.project import Project
from core.zoo.loading import create_model
from core.zoo.registry import ModelSpec
from tests.helpers import latency


@pytest.fixture
def small_model():
    return create_model(ModelSpec("mobilenet_v3_small", resolution=64, num_classes=10), "none")


def test_variants_keep_lineage_recipe_and_metrics_across_reopen(tmp_path: Path, small_model) -> None:
    project = Project.create(tmp_path / "proj", name="Demo")
    parent = project.add_variant(small_model, "base", metrics=VariantMetrics(macs=5_000_000))
    child = project.add_variant(small_model, "pruned", parent=parent.id, recipe={"steps": ["prune"]})
    project.update_metrics(child.id, latency=latency(3.2))
    project.rename(child.id, "pruned 30%")
    reopened = Project.open(tmp_path / "proj")
    assert reopened.name == "Demo" and [v.name for v in reopened.variants] == ["base", "pruned 30%"]
    stored = reopened.variant("pruned 30%")
    assert stored.parent == parent.id and stored.recipe == {"steps": ["prune"]}
    assert stored.metrics == VariantMetrics(latency=latency(3.2)) and reopened.variant("base").metrics.macs == 5_000_000
    assert stored.weights.kind == "untrained"


def test_deleting_respects_lineage(tmp_path: Path, small_model) -> None:
    project = Project.create(tmp_path / "proj")
    parent = project.add_variant(small_model, "base")
    child = project.add_variant(small_model, "child", parent=parent.id)
    with pytest.raises(ProjectError, match="derived variants"):
        project.delete(parent.id)
    project.delete(child.id)
    project.delete(parent.id)
    assert Project.open(tmp_path / "proj").variants == []
    assert list((tmp_path / "proj" / "variants").iterdir()) == []


def test_a_failed_write_leaves_the_project_as_it_was(tmp_path: Path, small_model, monkeypatch) -> None:
    project = Project.create(tmp_path / "proj")
    project.add_variant(small_model, "kept")

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(ProjectError, match="No space left on device"):
        project.add_variant(small_model, "lost")
    monkeypatch.undo()
    reopened = Project.open(tmp_path / "proj")
    assert [v.name for v in reopened.variants] == ["kept"]
    assert len(list((tmp_path / "proj" / "variants").iterdir())) == 1


def test_unwritable_and_occupied_locations_are_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(ProjectError, match="cannot create a project"):
        Project.create(blocker / "proj")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "thesis.txt").write_text("keep me")
    with pytest.raises(ProjectError, match="not empty"):
        Project.create(tmp_path / "busy")
    assert (tmp_path / "busy" / "thesis.txt").read_text() == "keep me"


def test_corrupt_foreign_and_future_projects_are_explained(tmp_path: Path, small_model) -> None:
    with pytest.raises(ProjectError, match="not a studio project"):
        Project.open(tmp_path)
    (tmp_path / "project.json").write_text("{ truncated")
    with pytest.raises(ProjectError, match="corrupt"):
        Project.open(tmp_path)
    (tmp_path / "project.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ProjectError, match="not a studio project file"):
        Project.open(tmp_path)
    (tmp_path / "project.json").write_text(json.dumps({"format": "mnstudio-project", "version": 99}))
    with pytest.raises(ProjectError, match="newer studio"):
        Project.open(tmp_path)


def test_an_unreadable_variant_is_reported_not_fatal(tmp_path: Path, small_model) -> None:
    project = Project.create(tmp_path / "proj")
    good = project.add_variant(small_model, "good")
    bad = project.add_variant(small_model, "bad")
    (project.variant_dir(bad) / "variant.json").write_text("garbage")
    reopened = Project.open(tmp_path / "proj")
    assert [v.id for v in reopened.variants] == [good.id]
    assert len(reopened.problems) == 1 and bad.id in reopened.problems[0]


def test_foreign_format_models_are_stored_as_files(tmp_path: Path) -> None:
    from core.runtime import export_onnx
    from core.zoo.loading import load_model_file

    module = ModelSpec("mobilenet_v3_small", resolution=64).build()
    onnx_model = load_model_file(export_onnx(module, tmp_path / "m.onnx", 64))
    project = Project.create(tmp_path / "proj")
    variant = project.add_variant(onnx_model, "from onnx")
    assert variant.format == "onnx" and variant.model_file == "model.onnx"
    assert Project.open(tmp_path / "proj").load(variant.id).card.format == "onnx"


def test_a_checkpoints_folder_linked_elsewhere_is_never_emptied(tmp_path: Path, small_model) -> None:
    project = Project.create(tmp_path / "proj")
    variant = project.add_variant(small_model, "v")
    elsewhere = tmp_path / "documents"
    (elsewhere / "taxes").mkdir(parents=True)
    (elsewhere / "taxes" / "2026.txt").write_text("keep me")
    (project.root / "checkpoints").symlink_to(elsewhere, target_is_directory=True)
    project.delete(variant.id)
    assert (elsewhere / "taxes" / "2026.txt").read_text() == "keep me"


def test_an_unreadable_variant_stays_listed_through_other_writes(tmp_path: Path, small_model) -> None:
    project = Project.create(tmp_path / "proj")
    broken = project.add_variant(small_model, "broken")
    path = project.variant_dir(broken) / "variant.json"
    good_json = path.read_text()
    path.write_text(json.dumps({**json.loads(good_json), "spec": {"arch": "nope"}}))  # a bad spec, not only bad JSON
    reopened = Project.open(tmp_path / "proj")
    assert reopened.variants == [] and "unreadable" in reopened.problems[0]
    reopened.add_variant(small_model, "other")
    path.write_text(good_json)  # repaired by hand: it comes back
    assert sorted(v.name for v in Project.open(tmp_path / "proj").variants) == ["broken", "other"]


def test_the_same_weights_at_another_resolution_are_another_parent(tmp_path: Path) -> None:
    from core.project import model_fingerprint

    weights = ModelSpec("mobilenet_v3_small").build().state_dict()
    at = {res: create_model(ModelSpec("mobilenet_v3_small", resolution=res), "none") for res in (160, 224)}
    for model in at.values():
        model.module.load_state_dict(weights)
    assert model_fingerprint(at[160]) != model_fingerprint(at[224])
